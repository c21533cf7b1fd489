//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// Q2_K, TQ2_0, TQ1_0 and Q8_K take the VNNI order (q2k.go, lowbit.go) where the CPU has AVX-512 F, BW, VL and VNNI.
func init() {
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI) {
		return
	}
	q2KTiles512 = []kp512TileFn{nil, q2KTile512x1, q2KTile512x2, q2KTile512x3, q2KTile512x4,
		q2KTile512x5, q2KTile512x6, q2KTile512x7, q2KTile512x8}
	q2KUnpackVec, q2KUnpack = q2KUnpack512, q2KUnpack8Asm
	q2KDot8Vec = q2KDot8AVX512
	tq20.unpackVec, tq20.dot8Vec = tq20Unpack512, tq20Dot8AVX512
	q8K.unpackVec, q8K.dot8Vec = q8KUnpack512, q8KDot8AVX512
	tq10.unpackVec, tq10.dot8Vec = tq10Unpack512, tq10Dot8AVX512
}
