package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// IQ4_XS groups of 8 rows unpacked by kernel's iq4XSPUnpackAVX: iq4Block bytes per block
// of 32, the 8 rows' signed values w (kvalues_iq4nl, -127..113; the 32 bytes at 32z hold
// values 4z..4z+3, one row an int32 lane), then d·(ls-32) as 8 float32.
const (
	iq4Block = 288
	// maxIQ4C is the most activation rows an IQ4_XS tile takes (registers: 2C+6 of the
	// 32 zmm).
	maxIQ4C = 12
)

// iq4Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of
// 16 IQ4_XS weight rows (8 unpacked by iq4XSPUnpackAVX at a, 8 at b) and C activation rows
// laid out by kp512PrepX (x; its float32 after dx is -128·Σx of the block, an integer)
// over nb blocks of 32 to out[c*os/4 + r] (os in bytes).
//
// VPDPBUSD multiplies unsigned bytes by signed ones, so the tile flips each weight byte's
// top bit (u = w+128, 1..241) and starts each block's int32 sum at -128·Σx: the sum ends
// as the exact Σ w·x (|Σ u·x| ≤ 32·241·127 stays far inside int32, and VPDPBUSD does not
// saturate). Then, as dotIQ4XSP_vec8, acc = float32(Σ w·x)·(d·(ls-32)·dx) + acc, fused,
// block after block.
func iq4Tile(C int) {
	name := fmt.Sprintf("kp512IQ4XSTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 IQ4_XS rows unpacked by iq4XSPUnpackAVX (8 at a, 8 at b) and %d activation rows laid out by kp512PrepX (-128·Σx after dx) over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotIQ4XSP_vec8.", name, C))
	a, b, x, nb, out, os := tileRegs()
	sum := func(c int) VecPhysical { return Z(c) }
	fac := func(c int) VecPhysical { return Z(C + c) }
	wv := func(t int) VecPhysical { return Z(2*C + t%2) }
	dl := Z(2*C + 2)
	tmp := func(c int) VecPhysical { return Z(2*C + 3 + c%2) }
	flip := Z(2*C + 5)
	MOVL(U32(0x80808080), R9L)
	VPBROADCASTD(R9L, flip)
	moveAcc(out, os, fac, C, false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	for c := 0; c < C; c++ {
		VCVTPS2DQ_BCST(Mem{Base: x, Disp: q4XRow*c + 36}, sum(c)) // -128·Σx, exact
	}
	for t := 0; t < 8; t++ {
		join(a, b, 32*t, wv(t))
		VPXORD(flip, wv(t), wv(t)) // w+128
		for c := 0; c < C; c++ {
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: q4XRow*c + 4*t}, wv(t), sum(c))
		}
	}
	join(a, b, 256, dl)
	for c := 0; c < C; c++ {
		VCVTDQ2PS(sum(c), sum(c))
		VMULPS_BCST(Mem{Base: x, Disp: q4XRow*c + 32}, dl, tmp(c)) // d·(ls-32)·dx
		VFMADD231PS(tmp(c), sum(c), fac(c))
	}
	ADDQ(U32(iq4Block), a)
	ADDQ(U32(iq4Block), b)
	ADDQ(U32(q4XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	moveAcc(out, os, fac, C, true)
	VZEROUPPER()
	RET()
}
