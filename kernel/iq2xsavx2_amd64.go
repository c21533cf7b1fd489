//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The IQ2_XS AVX2 path's kernels (iq2xsavx2.go) need AVX2, FMA, F16C and BMI1/BMI2 (the
// unpacker takes the grid indices out with BZHI and BEXTR), as dotIQ2XSAVX does.
func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C && cpu.X86.HasBMI1 && cpu.X86.HasBMI2 {
		iq2XSUnpackAVX2Vec, iq2XSPVec8 = iq2XSUnpackAVX2, dotIQ2XSP_vec8
		iq2XSPTiles = [iq2XSPC + 1]q6KPTileFn{1: dotIQ2XSP_8x1, 2: dotIQ2XSP_8x2, 3: dotIQ2XSP_8x3, 4: dotIQ2XSP_8x4}
	}
}
