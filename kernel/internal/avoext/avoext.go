// Package avoext emits, for the kernel generators, instructions that avo v0.5.0 does not
// know but Go's assembler does.
package avoext

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
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
