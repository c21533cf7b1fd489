// Package avoext emits, for the kernel generators, instructions that avo v0.5.0 does not
// know but Go's assembler does, and instruction sequences several generators share.
package avoext

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// VPDPBUSD emits VPDPBUSD s, u, acc: acc += Σ4 u8(u)·s8(s) in each int32 lane
// (AVX512_VNNI). s is a register or memory.
func VPDPBUSD(s, u, acc operand.Op) { vnni(nil, s, u, acc) }

// VPDPBUSDBcst is VPDPBUSD with s four bytes of memory repeated in every lane.
func VPDPBUSDBcst(s, u, acc operand.Op) { vnni([]string{"BCST"}, s, u, acc) }

func vnni(suffixes []string, s, u, acc operand.Op) {
	build.Instruction(&ir.Instruction{
		Opcode:   "VPDPBUSD",
		Suffixes: suffixes,
		Operands: []operand.Op{s, u, acc},
		Inputs:   []operand.Op{s, u, acc},
		Outputs:  []operand.Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	})
}

// Q8Scale emits the scalar middle of a Q8_0 quantizer block: the largest of the four
// lanes of h (the block's |x| maxima, NaNs already left out) is amax; d = amax/127 is
// stored at dst rounded to float16 (nearest even) and back; the returned register holds
// 1/d, or 0 where d is 0 or 1/d overflows. c127, one and inf are memory holding 127, 1
// and +Inf as float32.
func Q8Scale(h reg.VecVirtual, c127, one, inf, dst operand.Mem) reg.VecVirtual {
	h2 := build.XMM()
	build.VMOVHLPS(h, h2, h2)
	build.VMAXPS(h2, h, h)
	build.VMOVSHDUP(h, h2)
	build.VMAXSS(h2, h, h) // amax
	dd := build.XMM()
	build.VDIVSS(c127, h, dd) // amax/127
	id := build.XMM()
	build.VMOVSS(one, id)
	build.VDIVSS(dd, id, id) // 1/dd
	mask := build.XMM()
	build.VCMPSS(operand.U8(1), inf, id, mask) // id < +inf (false for dd = 0 and for overflow)
	build.VANDPS(mask, id, id)
	hf := build.XMM()
	build.VCVTPS2PH(operand.U8(0), dd, hf) // round to float16, nearest even
	build.VCVTPH2PS(hf, hf)
	build.VMOVSS(hf, dst)
	return id
}
