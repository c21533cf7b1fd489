package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// IQ4_XS weights laid out by Pool.Pack in groups of 8 rows (kernel's packIQ4XSGroup),
// iq4SB bytes per super-block of a group: the rows' d (float16) at 0, scales_l (byte b of
// row r at 16+8b+r), scales_h (at 48+8b+r), then at 64+128j+32z, in row r's int32 lane,
// the table indices of values 4z..4z+3 of block j (low nibbles) and of 16+4z..16+4z+3
// (high nibbles).
//
// kp512IQ4XSUnpack2 unpacks two such groups (a and b) at a time into iq4Block bytes per
// block of 32, already joined for the zmm tiles: at 64z, values 4z..4z+3 of the 16 rows
// (row r in int32 lane r; rows 0..7 from a, 8..15 from b) as unsigned bytes u = w+128
// (w = kvalues_iq4nl, -127..113, so u is 1..241), then at 512 the 16 rows' d·(ls-32) as
// float32, computed as dotIQ4XSP_vec8 computes it.
const (
	iq4SB    = 1088
	iq4Block = 576
	// maxIQ4C is the most activation rows an IQ4_XS tile takes (registers: 2C+5 of the
	// 32 zmm).
	maxIQ4C = 12
)

// iq4UTable is kvalues_iq4nl + 128, four times (one copy per 128-bit lane for VPSHUFB).
var iq4UTable Mem

func iq4Consts() {
	if iq4UTable.Symbol.Name != "" {
		return
	}
	iq4 := []int{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	iq4UTable = GLOBL("kp512_iq4u", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(uint8(iq4[i%16]+128)))
	}
}

// bcst32 sets every int32 lane of z to v (through R9).
func bcst32(v uint32, z Op) {
	MOVL(U32(v), R9L)
	VPBROADCASTD(R9L, z)
}

// iq4Unpack2: func(dst, a, b *byte, nsb int) unpacks nsb super-blocks of the packed IQ4_XS
// groups at a and b (b may be a) into dst, iq4Block bytes per block of 32.
func iq4Unpack2() {
	iq4Consts()
	TEXT("kp512IQ4XSUnpack2", NOSPLIT, "func(dst, a, b *byte, nsb int)")
	Doc("kp512IQ4XSUnpack2 unpacks nsb super-blocks of two packed groups of 8 IQ4_XS rows (a: rows 0..7, b: 8..15) for the kp512 IQ4_XS tiles: per block of 32, the 16 rows' values plus 128 (64 bytes per 4 values), then d·(ls-32) as 16 float32 (576 bytes).")
	dst, a, b, nsb := RDX, RSI, RDI, RCX
	Load(Param("dst"), dst)
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("nsb"), nsb)
	tab, m4, c15, c3, c32 := Z31, Z30, Z29, Z28, Z27
	VMOVDQU64(iq4UTable, tab)
	bcst32(0x0f0f0f0f, m4)
	bcst32(15, c15)
	bcst32(3, c3)
	bcst32(32, c32)
	TESTQ(nsb, nsb)
	JZ(LabelRef("iq4u2_done"))
	Label("iq4u2_loop")
	// d of the 16 rows.
	dh, d := Y8, Z9
	VMOVDQU(Mem{Base: a}, dh.AsX())
	VINSERTI128(U8(1), Mem{Base: b}, dh, dh)
	VCVTPH2PS(dh, d)
	for j := 0; j < 8; j++ {
		for z := 0; z < 4; z++ {
			v, lo := Z(2*(z%2)), Z(2*(z%2)+1)
			off := 64 + 128*j + 32*z
			VMOVDQU32(Mem{Base: a, Disp: off}, v.AsY())
			VINSERTI64X4(U8(1), Mem{Base: b, Disp: off}, v, v)
			VPANDD(m4, v, lo)
			VPSRLW(U8(4), v, v)
			VPANDD(m4, v, v)
			VPSHUFB(lo, tab, lo)
			VPSHUFB(v, tab, v)
			VMOVDQU32(lo, Mem{Base: dst, Disp: iq4Block*j + 64*z})
			VMOVDQU32(v, Mem{Base: dst, Disp: iq4Block*j + 64*(z+4)})
		}
		// ls = scales_l nibble | scales_h 2 bits << 4, as iq4xsScales (asmgenkp).
		lb, hb, ls, hi := X4, X5, Z6, Z7
		VMOVQ(Mem{Base: a, Disp: 16 + 8*(j/2)}, lb)
		VPINSRQ(U8(1), Mem{Base: b, Disp: 16 + 8*(j/2)}, lb, lb)
		VPMOVZXBD(lb, ls)
		if j%2 == 1 {
			VPSRLD(U8(4), ls, ls)
		}
		VPANDD(c15, ls, ls)
		VMOVQ(Mem{Base: a, Disp: 48 + 8*(j/4)}, hb)
		VPINSRQ(U8(1), Mem{Base: b, Disp: 48 + 8*(j/4)}, hb, hb)
		VPMOVZXBD(hb, hi)
		if s := 2 * (j % 4); s > 0 {
			VPSRLD(U8(s), hi, hi)
		}
		VPANDD(c3, hi, hi)
		VPSLLD(U8(4), hi, hi)
		VPORD(hi, ls, ls)
		VPSUBD(c32, ls, ls)
		VCVTDQ2PS(ls, ls)
		VMULPS(d, ls, ls)
		VMOVUPS(ls, Mem{Base: dst, Disp: iq4Block*j + 512})
	}
	ADDQ(U32(iq4SB), a)
	ADDQ(U32(iq4SB), b)
	ADDQ(U32(8*iq4Block), dst)
	DECQ(nsb)
	JNZ(LabelRef("iq4u2_loop"))
	Label("iq4u2_done")
	VZEROUPPER()
	RET()
}

// iq4Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of
// 16 IQ4_XS weight rows unpacked by kp512IQ4XSUnpack2 at a (b is not read) and C
// activation rows laid out by kp512PrepX (x; its float32 after dx is -128·Σx of the
// block, an integer) over nb blocks of 32 to out[c*os/4 + r] (os in bytes).
//
// VPDPBUSD multiplies unsigned bytes by signed ones: the weights come as u = w+128, and
// each block's int32 sum starts at -128·Σx, so that it ends as the exact Σ w·x (|Σ u·x|
// ≤ 32·241·127 stays far inside int32, and VPDPBUSD does not saturate). Then, as
// dotIQ4XSP_vec8, acc = float32(Σ w·x)·(d·(ls-32)·dx) + acc, fused, block after block.
func iq4Tile(C int) {
	name := fmt.Sprintf("kp512IQ4XSTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 IQ4_XS rows unpacked by kp512IQ4XSUnpack2 (at a; b is not read) and %d activation rows laid out by kp512PrepX (-128·Σx after dx) over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotIQ4XSP_vec8.", name, C))
	a, _, x, nb, out, os := tileRegs()
	sum := func(c int) VecPhysical { return Z(c) }
	fac := func(c int) VecPhysical { return Z(C + c) }
	wv := func(t int) VecPhysical { return Z(2*C + t%2) }
	dl := Z(2*C + 2)
	tmp := func(c int) VecPhysical { return Z(2*C + 3 + c%2) }
	moveAcc(out, os, fac, C, false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	for c := 0; c < C; c++ {
		VCVTPS2DQ_BCST(Mem{Base: x, Disp: q4XRow*c + 36}, sum(c)) // -128·Σx, exact
	}
	for t := 0; t < 8; t++ {
		VMOVDQU32(Mem{Base: a, Disp: 64 * t}, wv(t))
		for c := 0; c < C; c++ {
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: q4XRow*c + 4*t}, wv(t), sum(c))
		}
	}
	VMOVUPS(Mem{Base: a, Disp: 512}, dl)
	for c := 0; c < C; c++ {
		VCVTDQ2PS(sum(c), sum(c))
		VMULPS_BCST(Mem{Base: x, Disp: q4XRow*c + 32}, dl, tmp(c)) // d·(ls-32)·dx
		VFMADD231PS(tmp(c), sum(c), fac(c))
	}
	ADDQ(U32(iq4Block), a)
	ADDQ(U32(q4XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	moveAcc(out, os, fac, C, true)
	VZEROUPPER()
	RET()
}

// prefetchIQ4Vec is how far ahead in a group kp512IQ4XSVec8 prefetches (as
// dotIQ4XSP_vec8: two super-blocks).
const prefetchIQ4Vec = 2 * iq4SB

// iq4Vec: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32) adds
// the dot products of one packed IQ4_XS group of 8 rows (nsb super-blocks, not unpacked)
// and one activation row quantized by QuantizeQ8 (xq, xd; xs: -128·Σx of each block, an
// integer as float32) to out[0..8), block after block, with dotIQ4XSP_vec8's arithmetic.
// Each row is an int32 lane of a ymm vector: the indices become u = w+128 by VPSHUFB and
// go through VPDPBUSD (EVEX, AVX512VL) with 4 activation bytes broadcast, the sum started
// at -128·Σx, 8 VPDPBUSD a block where dotIQ4XSP_vec8 spends 8×(VPABSB, VPBROADCASTD,
// VPSIGNB, VPMADDUBSW, VPMADDWD, VPADDD).
func iq4Vec() {
	iq4Consts()
	TEXT("kp512IQ4XSVec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32)")
	Doc("kp512IQ4XSVec8 adds the dot products of a packed group of 8 IQ4_XS rows (nsb super-blocks) and one int8-quantized row (xs: -128·Σx per block) to out[0..8), block after block, with the arithmetic of dotIQ4XSP_vec8.")
	w, xq, xd, xs, nsb, o := RSI, RDI, RBX, R10, RCX, RDX
	Load(Param("w"), w)
	Load(Param("xq"), xq)
	Load(Param("xd"), xd)
	Load(Param("xs"), xs)
	Load(Param("nsb"), nsb)
	Load(Param("out"), o)
	tab, m4, c15, c3, c32, acc, d := Y15, Y14, Y13, Y12, Y11, Y10, Y9
	VMOVDQU(iq4UTable, tab)
	bcst32(0x0f0f0f0f, m4)
	bcst32(15, c15)
	bcst32(3, c3)
	bcst32(32, c32)
	VMOVUPS(Mem{Base: o}, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("iq4v_done"))
	Label("iq4v_loop")
	VCVTPH2PS(Mem{Base: w}, d)
	for j := 0; j < 8; j++ {
		for l := (17 * j) / 8; l < (17*(j+1))/8; l++ {
			PREFETCHT0(Mem{Base: w, Disp: prefetchIQ4Vec + 64*l})
		}
		// Two chains: values 0..15 from -128·Σx (exact), 16..31 from zero.
		sum, sum2 := Y0, Y8
		VCVTPS2DQ_BCST(Mem{Base: xs, Disp: 4 * j}, sum)
		VPXOR(sum2, sum2, sum2)
		for z := 0; z < 4; z++ {
			v, lo := Y(1+2*(z%2)), Y(2+2*(z%2))
			VMOVDQU(Mem{Base: w, Disp: 64 + 128*j + 32*z}, v)
			VPAND(m4, v, lo)
			VPSRLW(U8(4), v, v)
			VPAND(m4, v, v)
			VPSHUFB(lo, tab, lo)
			VPSHUFB(v, tab, v)
			avoext.VPDPBUSDBcst(Mem{Base: xq, Disp: 32*j + 4*z}, lo, sum)
			avoext.VPDPBUSDBcst(Mem{Base: xq, Disp: 32*j + 16 + 4*z}, v, sum2)
		}
		ls, hi, s := Y5, Y6, Y7
		VPMOVZXBD(Mem{Base: w, Disp: 16 + 8*(j/2)}, ls)
		if j%2 == 1 {
			VPSRLD(U8(4), ls, ls)
		}
		VPAND(c15, ls, ls)
		VPMOVZXBD(Mem{Base: w, Disp: 48 + 8*(j/4)}, hi)
		if sh := 2 * (j % 4); sh > 0 {
			VPSRLD(U8(sh), hi, hi)
		}
		VPAND(c3, hi, hi)
		VPSLLD(U8(4), hi, hi)
		VPOR(hi, ls, ls)
		VPSUBD(c32, ls, ls)
		VCVTDQ2PS(ls, ls)
		VMULPS(d, ls, ls) // d·(ls-32)
		VBROADCASTSS(Mem{Base: xd, Disp: 4 * j}, s)
		VMULPS(ls, s, s) // ·dx
		VPADDD(sum2, sum, sum)
		VCVTDQ2PS(sum, sum)
		VFMADD231PS(s, sum, acc)
	}
	ADDQ(U32(iq4SB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xs)
	DECQ(nsb)
	JNZ(LabelRef("iq4v_loop"))
	Label("iq4v_done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// Y returns ymm register i.
func Y(i int) Register { return Z(i).AsY() }
