//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The fused kernels of kquant_amd64.s need AVX2, FMA and F16C, as those of kernel_amd64.s.
func init() {
	if !(cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C) {
		return
	}
	dotQ5KVec = dotQ5KAVX
	dotIQ4XSVec = dotIQ4XSAVX
	dotQ3KVec = dotQ3KAVX
	dotQ2KVec = dotQ2KAVX
	q2KTiles = [5]superTileFn{2: dotQ2K_1x2, 3: dotQ2K_1x3, 4: dotQ2K_1x4}
	// The AVX-512 Q2_K row kernel gives the AVX2 one's bits, so it pairs with the AVX2 tiles.
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
		dotQ2KVec = dotQ2KAVX512
		q2K512On = true
	}
	q5KTiles = [5]superTileFn{2: dotQ5K_1x2, 3: dotQ5K_1x3, 4: dotQ5K_1x4}
	iq4XSTiles = [5]superTileFn{2: dotIQ4XS_1x2, 3: dotIQ4XS_1x3, 4: dotIQ4XS_1x4}
	q3KTiles = [5]superTileFn{2: dotQ3K_1x2, 3: dotQ3K_1x3, 4: dotQ3K_1x4}
	// The grid i-quants gather their grid entries (VPGATHERDD, VPGATHERDQ: AVX2).
	dotIQ3XXSVec, dotIQ3SVec, dotIQ2XXSVec, dotIQ2SVec = dotIQ3XXSAVX, dotIQ3SAVX, dotIQ2XXSAVX, dotIQ2SAVX
	iq3XXSTiles = [5]superTileFn{2: dotIQ3XXS_1x2, 3: dotIQ3XXS_1x3, 4: dotIQ3XXS_1x4}
	iq3STiles = [5]superTileFn{2: dotIQ3S_1x2, 3: dotIQ3S_1x3, 4: dotIQ3S_1x4}
	iq2XXSTiles = [5]superTileFn{2: dotIQ2XXS_1x2, 3: dotIQ2XXS_1x3, 4: dotIQ2XXS_1x4}
	iq2STiles = [5]superTileFn{2: dotIQ2S_1x2, 3: dotIQ2S_1x3, 4: dotIQ2S_1x4}
	dotIQ1SVec, dotTQ20Vec, dotTQ10Vec, dotQ8KVec = dotIQ1SAVX, dotTQ20AVX, dotTQ10AVX, dotQ8KAVX
	tq10Tiles = [5]superTileFn{2: dotTQ10_1x2, 3: dotTQ10_1x3, 4: dotTQ10_1x4}
	iq1STiles = [5]superTileFn{2: dotIQ1S_1x2, 3: dotIQ1S_1x3, 4: dotIQ1S_1x4}
	tq20Tiles = [5]superTileFn{2: dotTQ20_1x2, 3: dotTQ20_1x3, 4: dotTQ20_1x4}
	q8KTiles = [5]superTileFn{2: dotQ8K_1x2, 3: dotQ8K_1x3, 4: dotQ8K_1x4}
	dotIQ4NLVec, dotQ50Vec, dotQ41Vec, dotQ51Vec = dotIQ4NLAVX, dotQ50AVX, dotQ41AVX, dotQ51AVX
	iq4NLTiles = [5]superTileFn{2: dotIQ4NL_1x2, 3: dotIQ4NL_1x3, 4: dotIQ4NL_1x4}
	q50Tiles = [5]superTileFn{2: dotQ50_1x2, 3: dotQ50_1x3, 4: dotQ50_1x4}
	q41Tiles = [5]superTileFn{2: dotQ41_1x2, 3: dotQ41_1x3, 4: dotQ41_1x4}
	q51Tiles = [5]superTileFn{2: dotQ51_1x2, 3: dotQ51_1x3, 4: dotQ51_1x4}
	// The IQ2_XS row kernels take the grid indices out with BMI1/BMI2 (BEXTR, BZHI),
	// which every AVX2 CPU has; without them IQ2_XS keeps the unpacked rows.
	if !(cpu.X86.HasBMI1 && cpu.X86.HasBMI2) {
		return
	}
	dotIQ2XSVec = dotIQ2XSAVX
	// IQ1_M's scale bytes are formed by PDEP (BMI2).
	dotIQ1MVec = dotIQ1MAVX
	iq1MTiles = [5]superTileFn{2: dotIQ1M_1x2, 3: dotIQ1M_1x3, 4: dotIQ1M_1x4}
	iq2XSTiles = [5]superTileFn{2: dotIQ2XS_1x2, 3: dotIQ2XS_1x3, 4: dotIQ2XS_1x4}
	// The AVX-512 IQ2_XS row kernel gives the AVX2 one's bits, so it pairs with the AVX2 tiles
	// (neither serves MatMul where the AVX2 path of iq2xsavx2.go is on: it comes first).
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL {
		dotIQ2XSVec = dotIQ2XSAVX512
		iq2XS512On = true
		// With VNNI too, IQ2_XS takes the VNNI order (iq2xs.go): this one-row kernel
		// and the kp512 Q6_K tiles for several rows.
		if cpu.X86.HasAVX512VNNI {
			dotIQ2XS32Vec, dotIQ2XS32x2Vec = dotIQ2XS32AVX512, dotIQ2XS32x2AVX512
			iq2XSUnpackVec, iq2XSUnpack = iq2XSUnpackAVX512, iq2XSUnpack8Asm
			if cpu.X86.HasAVX512VBMI {
				iq2XSUnpackVBMIVec, iq2XSUnpack = iq2XSUnpackVBMI, iq2XSUnpack8VBMI
			}
		}
	}
}
