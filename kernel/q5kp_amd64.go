//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The packed Q5_K and IQ4_XS kernels of kp_amd64.s (q5kp.go, iq4xsp.go) need AVX2, FMA
// and F16C.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	q5KPVec = dotQ5KP_vec8
	q5KPUnpack = q5KPUnpackAVX
	q5KPTiles = [4]q4KPTileFn{1: dotQ5KP_8x1, 2: dotQ5KP_8x2, 3: dotQ5KP_8x3}
	iq4XSPVec = dotIQ4XSP_vec8
	iq4XSPUnpack = iq4XSPUnpackAVX
	iq4XSPTiles = [4]iq4XSPTileFn{1: dotIQ4XSP_8x1, 2: dotIQ4XSP_8x2, 3: dotIQ4XSP_8x3}
}
