//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The BF16 pair panel kernels (bf16z_amd64.s) need AVX-512 F; dotBF16D (measured, not
// used) AVX512_BF16 too.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasAVX512F) {
		return
	}
	bf16zTiles = [3][maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int){
		1: {1: dotBF16Z_16x1, 2: dotBF16Z_16x2, 3: dotBF16Z_16x3, 4: dotBF16Z_16x4, 5: dotBF16Z_16x5, 6: dotBF16Z_16x6,
			7: dotBF16Z_16x7, 8: dotBF16Z_16x8, 9: dotBF16Z_16x9, 10: dotBF16Z_16x10, 11: dotBF16Z_16x11, 12: dotBF16Z_16x12},
		2: {1: dotBF16Z_32x1, 2: dotBF16Z_32x2, 3: dotBF16Z_32x3, 4: dotBF16Z_32x4, 5: dotBF16Z_32x5, 6: dotBF16Z_32x6,
			7: dotBF16Z_32x7, 8: dotBF16Z_32x8, 9: dotBF16Z_32x9, 10: dotBF16Z_32x10, 11: dotBF16Z_32x11, 12: dotBF16Z_32x12},
	}
	bf16zVec = dotBF16Z_64x1
	bf16zFirst, bf16zLast = bf16zTiles[2], bf16zTiles[2]
	bf16zFirst[9], bf16zFirst[10], bf16zFirst[11], bf16zFirst[12] = dotBF16Z_32x9pf2, dotBF16Z_32x10pf2, dotBF16Z_32x11pf2, dotBF16Z_32x12pf2
	bf16zLast[9], bf16zLast[10], bf16zLast[11], bf16zLast[12] = dotBF16Z_32x9pf, dotBF16Z_32x10pf, dotBF16Z_32x11pf, dotBF16Z_32x12pf
}
