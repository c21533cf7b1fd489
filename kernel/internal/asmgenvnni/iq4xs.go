package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Packed IQ4_XS weights (kernel's packIQ4XSGroup: groups of 8 rows, vq4SB bytes per
// super-block of a group): the rows' d (float16) at 0, scales_l (byte b of row r at
// 16+8b+r), scales_h (at 48+8b+r), then at 64+128j+32z, in row r's int32 lane, the table
// indices of values 4z..4z+3 of block j (low nibbles) and of 16+4z..16+4z+3 (high
// nibbles).
//
// vnniIQ4XSUnpack2 writes the format of the AVX-512 VNNI IQ4_XS tiles (kernel's
// kp512IQ4XSUnpack2, kp512IQ4XSBlock = vq4Block bytes a block of 32): at 64z values
// 4z..4z+3 of 16 rows as u = w+128 (rows 0..7 from group a in the first 32 bytes, 8..15
// from group b in the next 32), then at 512 the 16 rows' d·(ls-32) as float32. The ymm
// tiles read each 32 bytes as one vector of 8 rows.
const (
	vq4SB    = 1088
	vq4Block = 576
	// vq4XRow is the bytes of one activation row's block laid out by kernel's kp512PrepX
	// (32 int8 values, dx, -128·Σx as float32).
	vq4XRow = 40
	// vq4MaxC is the most activation rows a tile takes: 4C+3 of the 16 ymm registers.
	vq4MaxC = 3
)

// vq4UTable is kvalues_iq4nl + 128, twice (one copy per 128-bit lane for VPSHUFB).
var vq4UTable Mem

func vq4Consts() {
	if vq4UTable.Symbol.Name != "" {
		return
	}
	iq4 := []int{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	vq4UTable = GLOBL("vq4_u", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(uint8(iq4[i%16]+128)))
	}
}

// vy returns ymm register i (0..15).
func vy(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// vq4Bcst32 sets every int32 lane of y to v (through R9).
func vq4Bcst32(v uint32, y VecPhysical) {
	MOVL(U32(v), R9L)
	VMOVD(R9L, y.AsX())
	VPBROADCASTD(y.AsX(), y)
}

// vq4Scales computes d·(ls-32) of block j of the 8 rows of the packed super-block at g
// into ls (as iq4xsScales in asmgenkp: ls = scales_l nibble | scales_h 2 bits << 4, then
// float32(ls-32)·d rounded once), hi a scratch register.
func vq4Scales(g Register, j int, d, c15, c3, c32, ls, hi VecPhysical) {
	VPMOVZXBD(Mem{Base: g, Disp: 16 + 8*(j/2)}, ls)
	if j%2 == 1 {
		VPSRLD(U8(4), ls, ls)
	}
	VPAND(c15, ls, ls)
	VPMOVZXBD(Mem{Base: g, Disp: 48 + 8*(j/4)}, hi)
	if s := 2 * (j % 4); s > 0 {
		VPSRLD(U8(s), hi, hi)
	}
	VPAND(c3, hi, hi)
	VPSLLD(U8(4), hi, hi)
	VPOR(hi, ls, ls)
	VPSUBD(c32, ls, ls)
	VCVTDQ2PS(ls, ls)
	VMULPS(d, ls, ls)
}

// genIQ4XS generates the AVX-VNNI kernels for packed IQ4_XS weights.
func genIQ4XS() {
	vq4Unpack2()
	for c := 1; c <= vq4MaxC; c++ {
		vq4Tile(c)
	}
	vq4Vec()
}

// vq4Unpack2: func(dst, a, b *byte, nsb int) unpacks nsb super-blocks of the packed IQ4_XS
// groups at a and b (b may be a) into dst, vq4Block bytes per block of 32, with AVX2 only.
func vq4Unpack2() {
	vq4Consts()
	TEXT("vnniIQ4XSUnpack2", NOSPLIT, "func(dst, a, b *byte, nsb int)")
	Doc("vnniIQ4XSUnpack2 is kp512IQ4XSUnpack2 on AVX2: it unpacks nsb super-blocks of two packed groups of 8 IQ4_XS rows (a: rows 0..7, b: 8..15): per block of 32, the 16 rows' values plus 128 (64 bytes per 4 values: 32 of group a, 32 of group b), then d·(ls-32) as 16 float32 (576 bytes).")
	dst, a, b, nsb := RDX, RSI, RDI, RCX
	Load(Param("dst"), dst)
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("nsb"), nsb)
	tab, m4, c15, c3, c32, d := Y15, Y14, Y13, Y12, Y11, Y10
	VMOVDQU(vq4UTable, tab)
	vq4Bcst32(0x0f0f0f0f, m4)
	vq4Bcst32(15, c15)
	vq4Bcst32(3, c3)
	vq4Bcst32(32, c32)
	TESTQ(nsb, nsb)
	JZ(LabelRef("vq4u2_done"))
	Label("vq4u2_loop")
	for h, g := range []Register{a, b} {
		VCVTPH2PS(Mem{Base: g}, d)
		for j := 0; j < 8; j++ {
			for z := 0; z < 4; z++ {
				v, lo := vy(2*(z%2)), vy(2*(z%2)+1)
				VMOVDQU(Mem{Base: g, Disp: 64 + 128*j + 32*z}, v)
				VPAND(m4, v, lo)
				VPSRLW(U8(4), v, v)
				VPAND(m4, v, v)
				VPSHUFB(lo, tab, lo)
				VPSHUFB(v, tab, v)
				VMOVDQU(lo, Mem{Base: dst, Disp: vq4Block*j + 64*z + 32*h})
				VMOVDQU(v, Mem{Base: dst, Disp: vq4Block*j + 64*(z+4) + 32*h})
			}
			ls := vy(4 + 2*(j%2))
			vq4Scales(g, j, d, c15, c3, c32, ls, vy(5+2*(j%2)))
			VMOVUPS(ls, Mem{Base: dst, Disp: vq4Block*j + 512 + 32*h})
		}
	}
	ADDQ(U32(vq4SB), a)
	ADDQ(U32(vq4SB), b)
	ADDQ(U32(8*vq4Block), dst)
	DECQ(nsb)
	JNZ(LabelRef("vq4u2_loop"))
	Label("vq4u2_done")
	VZEROUPPER()
	RET()
}

// vq4Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of
// 16 IQ4_XS weight rows unpacked by vnniIQ4XSUnpack2 at a (b is not read; rows 0..7 in
// the first 32 bytes of each 64, one ymm vector, rows 8..15 in the next) and C activation
// rows laid out by kp512PrepX (x; its float32 after dx is -128·Σx of the block, an
// integer) over nb blocks of 32 to out[c*os/4 + r] (os in bytes).
//
// Per block, activation row and 8 weight rows, the int32 sum starts at -128·Σx and takes
// 8 VEX VPDPBUSD of the weights u = w+128 with 4 activation bytes broadcast (VPBROADCASTD:
// VEX has no broadcast operand; each broadcast feeds both halves), so that it ends as the
// exact Σ w·x; then, as dotIQ4XSP_vec8, acc = float32(Σ w·x)·(d·(ls-32)·dx) + acc, fused.
// Registers: 2C sums, 2C accumulators, two weight vectors and the broadcast, 4C+3 of the 16.
func vq4Tile(C int) {
	name := fmt.Sprintf("vnniIQ4XSTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 IQ4_XS rows unpacked by vnniIQ4XSUnpack2 (at a; b is not read) and %d activation rows laid out by kp512PrepX (-128·Σx after dx) over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotIQ4XSP_vec8.", name, C))
	a, x, nb, out, os := RSI, RBX, RCX, RDX, RAX
	Load(Param("a"), a)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	p := R8
	sum := func(c, h int) VecPhysical { return vy(2*c + h) }
	acc := func(c, h int) VecPhysical { return vy(2*C + 2*c + h) }
	wv := func(h int) VecPhysical { return vy(4*C + h) }
	bc := vy(4*C + 2)
	moveAcc := func(store bool) {
		MOVQ(out, p)
		for c := 0; c < C; c++ {
			for h := 0; h < 2; h++ {
				if store {
					VMOVUPS(acc(c, h), Mem{Base: p, Disp: 32 * h})
				} else {
					VMOVUPS(Mem{Base: p, Disp: 32 * h}, acc(c, h))
				}
			}
			if c+1 < C {
				ADDQ(os, p)
			}
		}
	}
	moveAcc(false)
	TESTQ(nb, nb)
	JZ(LabelRef(name + "_end"))
	Label(name + "_loop")
	for c := 0; c < C; c++ {
		VBROADCASTSS(Mem{Base: x, Disp: vq4XRow*c + 36}, sum(c, 0))
		VCVTPS2DQ(sum(c, 0), sum(c, 0)) // -128·Σx, exact
		VMOVDQA(sum(c, 0), sum(c, 1))
	}
	for t := 0; t < 8; t++ {
		VMOVDQU(Mem{Base: a, Disp: 64 * t}, wv(0))
		VMOVDQU(Mem{Base: a, Disp: 64*t + 32}, wv(1))
		for c := 0; c < C; c++ {
			VPBROADCASTD(Mem{Base: x, Disp: vq4XRow*c + 4*t}, bc)
			avoext.VPDPBUSDVEX(bc, wv(0), sum(c, 0))
			avoext.VPDPBUSDVEX(bc, wv(1), sum(c, 1))
		}
	}
	for c := 0; c < C; c++ {
		for h := 0; h < 2; h++ {
			VCVTDQ2PS(sum(c, h), sum(c, h))
			VBROADCASTSS(Mem{Base: x, Disp: vq4XRow*c + 32}, bc)
			VMULPS(Mem{Base: a, Disp: 512 + 32*h}, bc, bc) // d·(ls-32)·dx
			VFMADD231PS(bc, sum(c, h), acc(c, h))
		}
	}
	ADDQ(U32(vq4Block), a)
	ADDQ(U32(vq4XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_end")
	moveAcc(true)
	VZEROUPPER()
	RET()
}

// vq4PrefetchVec is how far ahead in a group vnniIQ4XSVec8 prefetches (as
// dotIQ4XSP_vec8: two super-blocks).
const vq4PrefetchVec = 2 * vq4SB

// vq4Vec: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32) adds
// the dot products of one packed IQ4_XS group of 8 rows (nsb super-blocks, not unpacked)
// and one activation row quantized by QuantizeQ8 (xq, xd; xs: -128·Σx of each block, an
// integer as float32) to out[0..8), block after block, with dotIQ4XSP_vec8's arithmetic:
// kp512IQ4XSVec8 (asmgenkp512) in VEX. Each row is an int32 lane: the indices become
// u = w+128 by VPSHUFB and go through VEX VPDPBUSD with 4 activation bytes broadcast by
// VPBROADCASTD, the sum of values 0..15 started at -128·Σx, that of 16..31 at zero.
func vq4Vec() {
	vq4Consts()
	TEXT("vnniIQ4XSVec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32)")
	Doc("vnniIQ4XSVec8 adds the dot products of a packed group of 8 IQ4_XS rows (nsb super-blocks) and one int8-quantized row (xs: -128·Σx per block) to out[0..8), block after block, with the arithmetic of dotIQ4XSP_vec8, by AVX-VNNI.")
	w, xq, xd, xs, nsb, o := RSI, RDI, RBX, R10, RCX, RDX
	Load(Param("w"), w)
	Load(Param("xq"), xq)
	Load(Param("xd"), xd)
	Load(Param("xs"), xs)
	Load(Param("nsb"), nsb)
	Load(Param("out"), o)
	tab, m4, c15, c3, c32, acc, d := Y15, Y14, Y13, Y12, Y11, Y10, Y9
	VMOVDQU(vq4UTable, tab)
	vq4Bcst32(0x0f0f0f0f, m4)
	vq4Bcst32(15, c15)
	vq4Bcst32(3, c3)
	vq4Bcst32(32, c32)
	VMOVUPS(Mem{Base: o}, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("vq4v_done"))
	Label("vq4v_loop")
	VCVTPH2PS(Mem{Base: w}, d)
	for j := 0; j < 8; j++ {
		for l := (17 * j) / 8; l < (17*(j+1))/8; l++ {
			PREFETCHT0(Mem{Base: w, Disp: vq4PrefetchVec + 64*l})
		}
		// Two chains: values 0..15 from -128·Σx (exact), 16..31 from zero.
		sum, sum2 := Y0, Y8
		VBROADCASTSS(Mem{Base: xs, Disp: 4 * j}, sum)
		VCVTPS2DQ(sum, sum)
		VPXOR(sum2, sum2, sum2)
		for z := 0; z < 4; z++ {
			v, lo := vy(1+2*(z%2)), vy(2+2*(z%2))
			b1, b2 := vy(5+z%2), Y7
			VMOVDQU(Mem{Base: w, Disp: 64 + 128*j + 32*z}, v)
			VPAND(m4, v, lo)
			VPSRLW(U8(4), v, v)
			VPAND(m4, v, v)
			VPSHUFB(lo, tab, lo)
			VPSHUFB(v, tab, v)
			VPBROADCASTD(Mem{Base: xq, Disp: 32*j + 4*z}, b1)
			avoext.VPDPBUSDVEX(b1, lo, sum)
			VPBROADCASTD(Mem{Base: xq, Disp: 32*j + 16 + 4*z}, b2)
			avoext.VPDPBUSDVEX(b2, v, sum2)
		}
		ls, hi, s := Y5, Y6, Y7
		vq4Scales(w, j, d, c15, c3, c32, ls, hi) // d·(ls-32)
		VBROADCASTSS(Mem{Base: xd, Disp: 4 * j}, s)
		VMULPS(ls, s, s) // ·dx
		VPADDD(sum2, sum, sum)
		VCVTDQ2PS(sum, sum)
		VFMADD231PS(s, sum, acc)
	}
	ADDQ(U32(vq4SB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xs)
	DECQ(nsb)
	JNZ(LabelRef("vq4v_loop"))
	Label("vq4v_done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}
