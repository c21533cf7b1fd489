package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// maxDC is the most activation rows of a VDPBF16PS tile (accumulators Z4..Z15).
const maxDC = 12

// zmm are the ZMM registers by number, for the instructions emitted as bytes (whose
// registers avo cannot allocate).
var zmm = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15}

// emit writes raw instruction bytes with a comment naming the instruction.
func emit(comment string, bs []byte) {
	Comment(comment)
	for _, b := range bs {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}

// dpTile: func(w *byte, ps int, x *uint32, xs int, k int, out *float32, os int)
// adds the 16×C dot products of a pair panel (w; ps unused) and C activation rows split
// in three bfloat16 parts (row c at x + c·xs bytes: for element pair q, the 12 bytes of
// three pairs hi, mid, lo, each with element 2q in its low half) over k elements (k even)
// to out[c*os/4+r]. Per pair and row: acc += VDPBF16PS(w, lo), then mid, then hi, into
// one accumulator per output.
func dpTile(C int) {
	name := fmt.Sprintf("dotBF16D_16x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, ps int, x *uint32, xs int, k int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 16×%d dot products of a pair panel of 16 bfloat16 weight rows and %d activation rows split in three bfloat16 parts (hi, mid, lo pairs, 12 bytes per element pair, stride xs bytes) over k elements (even) to out[c*os/4+r], with three VDPBF16PS (lo, mid, hi) per element pair into one accumulator per output.", name, C, C))
	w := Load(Param("w"), GP64())
	x := Load(Param("x"), GP64())
	xs := Load(Param("xs"), GP64())
	k := Load(Param("k"), GP64())
	xb := []Register{x}
	for i := 3; i < C; i += 3 {
		b := GP64()
		LEAQ(Mem{Base: xb[len(xb)-1], Index: xs, Scale: 2}, b)
		ADDQ(xs, b)
		xb = append(xb, b)
	}
	addr := func(c int) Mem {
		base := xb[c/3]
		switch c % 3 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: xs, Scale: 1}
		}
		return Mem{Base: base, Index: xs, Scale: 2}
	}
	for c := 0; c < C; c++ {
		VPXORD(zmm[4+c], zmm[4+c], zmm[4+c])
	}
	SHRQ(U8(1), k)
	JZ(LabelRef("done"))
	Label("loop")
	VMOVDQU32(Mem{Base: w}, Z0)
	for c := 0; c < C; c++ {
		for part, off := range []int{8, 4, 0} { // lo, mid, hi
			b := 1 + part
			VPBROADCASTD(addr(c).Offset(off), zmm[b])
			emit(fmt.Sprintf("VDPBF16PS Z%d, Z0, Z%d", b, 4+c), vdpbf16ps(4+c, 0, b))
		}
	}
	ADDQ(U8(64), w)
	for _, b := range xb {
		ADDQ(U8(12), b)
	}
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	for c := 0; c < C; c++ {
		m := Mem{Base: o}
		VADDPS(m, zmm[4+c], zmm[4+c])
		VMOVUPS(zmm[4+c], m)
		if c+1 < C {
			ADDQ(os, o)
		}
	}
	VZEROUPPER()
	RET()
}
