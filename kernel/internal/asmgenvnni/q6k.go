package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The tiles of Q6_K's block format (kernel/vnniq6.go): 16 weight rows unpacked into the
// q6KPBlock format (8 at a, 8 at b: Q6_K by q6KPUnpackAVX, Q3_K by q3KPUnpackAVX, IQ2_XS
// by iq2XSUnpackAVX2) by C activation rows laid out by kernel's kp512PrepX (44 bytes a row
// and block of 32: 32 int8 values, dx as float32, the two half sums' starts as int32),
// the ymm AVX-VNNI version of asmgenkp512's kp512Q6KTile with the same arguments and
// results bit for bit.
const (
	// vq6Block is the size of one block of 32 of 8 rows in the q6KPBlock format, vq6XRow
	// of one activation row's block in kp512PrepX's layout.
	vq6Block = 384
	vq6XRow  = 44
	// vq6MaxC is the most activation rows a tile takes: 4C int32 sums, the two weight
	// vectors and the broadcast activation bytes fit the 16 ymm registers for C ≤ 3.
	vq6MaxC = 3
)

// vq6Y returns ymm register i (i < 16).
func vq6Y(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// genQ6K generates the AVX-VNNI kernels for Q6_K block format weights: vnniQ6KTile1..3.
func genQ6K() {
	for c := 1; c <= vq6MaxC; c++ {
		vq6Tile(c)
	}
}

// vq6Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of
// 16 weight rows in the q6KPBlock format (rows 0..7 at a, 8..15 at b) and C activation
// rows laid out by kp512PrepX (x) over nb blocks of 32 to out[c*os/4 + r] (os in bytes),
// block after block:
//
//	acc = float32(sc_lo·S_lo + sc_hi·S_hi)·(d·dx) + acc
//
// where each half sum S starts at the -32·Σx (-64·Σx for IQ2_XS) of kp512PrepX and takes
// 4 VPDPBUSD, 4 bytes of the activation row broadcast by VPBROADCASTD (VEX has no
// broadcast operand), and sc·S is VPMULLD's (exact in int32). The float accumulators stay
// in out (each block one fused multiply-add from memory and a store: 4C int32 sums take
// the registers), so the float steps are kp512Q6KTile's and those of the one-row kernels.
//
// Registers: the sums of row c, group g (a, b), half h in vq6Y(4c+2g+h); the weight vectors
// of a and b in Y12, Y13; the broadcast activation bytes in Y14 and Y15 by turns. After a
// block's products Y12–Y14 take a group's two scale vectors and d, and each c's high sum
// register the product d·dx.
func vq6Tile(C int) {
	name := fmt.Sprintf("vnniQ6KTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 rows in the q6KPBlock format (8 at a, 8 at b) and %d activation rows laid out by kp512PrepX over nb blocks of 32 to out[c*os/4+r], with the arithmetic of kp512Q6KTile (AVX2, AVX-VNNI).", name, C))
	a, b, x, nb, out, os := RSI, RDI, RBX, RCX, RDX, RAX
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	sum := func(c, g, h int) VecPhysical { return vq6Y(4*c + 2*g + h) }
	w := [2]VecPhysical{Y12, Y13}
	scLo, scHi, d := Y12, Y13, Y14
	acc := func(c, g int) Mem {
		m := Mem{Base: out, Disp: 32 * g}
		if c > 0 {
			m.Index, m.Scale = os, uint8(c)
		}
		return m
	}
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	// The sums start at kp512PrepX's -32·Σx of their 16 values (the same for a and b).
	for c := 0; c < C; c++ {
		for h := 0; h < 2; h++ {
			VPBROADCASTD(Mem{Base: x, Disp: vq6XRow*c + 36 + 4*h}, sum(c, 0, h))
			VMOVDQA(sum(c, 0, h), sum(c, 1, h))
		}
	}
	for t := 0; t < 8; t++ {
		VMOVDQU(Mem{Base: a, Disp: 32 * t}, w[0])
		VMOVDQU(Mem{Base: b, Disp: 32 * t}, w[1])
		for c := 0; c < C; c++ {
			xv := []VecPhysical{Y14, Y15}[(t*C+c)%2]
			VPBROADCASTD(Mem{Base: x, Disp: vq6XRow*c + 4*t}, xv)
			for g := 0; g < 2; g++ {
				avoext.VPDPBUSDVEX(xv, w[g], sum(c, g, t/4))
			}
		}
	}
	for g, p := range []GPPhysical{a, b} {
		// The scales, int16 twice in each lane: the high copy, sign-extended.
		VMOVDQU(Mem{Base: p, Disp: 256}, scLo)
		VPSRAD(U8(16), scLo, scLo)
		VMOVDQU(Mem{Base: p, Disp: 288}, scHi)
		VPSRAD(U8(16), scHi, scHi)
		VMOVUPS(Mem{Base: p, Disp: 352}, d)
		for c := 0; c < C; c++ {
			lo, hi := sum(c, g, 0), sum(c, g, 1)
			VPMULLD(scLo, lo, lo)
			VPMULLD(scHi, hi, hi)
			VPADDD(hi, lo, lo)
			VCVTDQ2PS(lo, lo)
			VBROADCASTSS(Mem{Base: x, Disp: vq6XRow*c + 32}, hi)
			VMULPS(d, hi, hi) // d·dx
			VFMADD213PS(acc(c, g), hi, lo)
			VMOVUPS(lo, acc(c, g))
		}
	}
	ADDQ(U32(vq6Block), a)
	ADDQ(U32(vq6Block), b)
	ADDQ(U32(vq6XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	VZEROUPPER()
	RET()
}
