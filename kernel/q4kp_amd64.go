//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The packed Q4_K and Q6_K kernels of kernel_amd64.s (q4kp.go, q6kp.go) need AVX2, FMA
// and F16C.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	q4KPVec = dotQ4KP_vec8
	q4KPUnpack = q4KPUnpackAVX
	q4KPTiles = [4]q4KPTileFn{1: dotQ4KP_8x1, 2: dotQ4KP_8x2, 3: dotQ4KP_8x3}
	q6KPVec = dotQ6KP_vec8
	q6KPUnpack = q6KPUnpackAVX
	q6KPSTiles = [5]q6KPTileFn{1: dotQ6KPS_8x1, 2: dotQ6KPS_8x2, 3: dotQ6KPS_8x3, 4: dotQ6KPS_8x4}
}
