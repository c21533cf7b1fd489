//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The AVX2/FMA kernels of kernel_amd64.s need AVX2, FMA and F16C (for f16 weights).
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	useAsm = true
	dotVec = dotAVX
	axpyVec = axpyAVX
	dotRowsVec = dotRowsAVX
	axpyRowsVec = axpyRowsAVX
	quantizeQ8Vec = quantizeQ8AVX
	siluMulVec = siluMulAVX
	expSumVec = expSumAVX
	dotQ6KVec = dotQ6KAVX
	q4iVec = dotQ4I_vec8
	q4iPackVec = q4IPackAVX
	q4iTiles = [3]q4iTileFn{1: dotQ4I_8x1, 2: dotQ4I_8x2}
	q4pVec = dotQ4P_vec16
	q4pUnpack = q4PUnpackAVX
	q8gVec = dotQ8G_vec16
	q8gTiles = [5]q8gTileFn{1: dotQ8G_8x1, 2: dotQ8G_8x2, 3: dotQ8G_8x3, 4: dotQ8G_8x4}
	q8PackVec = q8PackAVX
	q8pTiles = [4][4]quantTileFn{
		1: {1: dotQ8P_1x1, 2: dotQ8P_1x2, 3: dotQ8P_1x3},
		2: {1: dotQ8P_2x1, 2: dotQ8P_2x2, 3: dotQ8P_2x3},
		3: {1: dotQ8P_3x1, 2: dotQ8P_3x2, 3: dotQ8P_3x3},
	}
	dotQ4KVec = dotQ4KAVX
	q4KTiles = [5]superTileFn{2: dotQ4K_1x2, 3: dotQ4K_1x3, 4: dotQ4K_1x4}
	q6KTiles = [5]superTileFn{2: dotQ6K_1x2, 3: dotQ6K_1x3, 4: dotQ6K_1x4}
	floatTiles = [3][5][5]floatTileFn{
		{
			1: {1: dotF32_1x1, 2: dotF32_1x2, 3: dotF32_1x3, 4: dotF32_1x4},
			2: {1: dotF32_2x1, 2: dotF32_2x2, 3: dotF32_2x3, 4: dotF32_2x4},
			3: {1: dotF32_3x1, 2: dotF32_3x2, 3: dotF32_3x3, 4: dotF32_3x4},
			4: {1: dotF32_4x1},
		},
		{
			1: {1: dotBF16_1x1, 2: dotBF16_1x2, 3: dotBF16_1x3, 4: dotBF16_1x4},
			2: {1: dotBF16_2x1, 2: dotBF16_2x2, 3: dotBF16_2x3, 4: dotBF16_2x4},
			3: {1: dotBF16_3x1, 2: dotBF16_3x2, 3: dotBF16_3x3, 4: dotBF16_3x4},
			4: {1: dotBF16_4x1},
		},
		{
			1: {1: dotF16_1x1, 2: dotF16_1x2, 3: dotF16_1x3, 4: dotF16_1x4},
			2: {1: dotF16_2x1, 2: dotF16_2x2, 3: dotF16_2x3, 4: dotF16_2x4},
			3: {1: dotF16_3x1, 2: dotF16_3x2, 3: dotF16_3x3, 4: dotF16_3x4},
			4: {1: dotF16_4x1},
		},
	}
	quantTiles = [5]quantTileFn{1: dotQ8_0_1x1, 2: dotQ8_0_2x1, 3: dotQ8_0_3x1, 4: dotQ8_0_4x1}
}
