//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The BF16 panel kernels (bf16p_amd64.s) need AVX2 and FMA.
func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		bf16pTiles = [maxBF16PC + 1]func(w *byte, x *float32, xs int, k int, out *float32, os int){
			1: dotBF16P_16x1, 2: dotBF16P_16x2, 3: dotBF16P_16x3, 4: dotBF16P_16x4, 5: dotBF16P_16x5, 6: dotBF16P_16x6,
		}
		bf16pVec = dotBF16P_vec
	}
}
