//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The packed Q3_K kernels of kp_amd64.s (q3kp.go) need AVX2, FMA and F16C.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	q3KPVec = dotQ3KP_vec8
	q3KPUnpack = q3KPUnpackAVX
}
