package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// IQ2_XS on AVX2-only CPUs in the order of the VNNI path (kernel's iq2xs.go,
// dotIQ2XS32Generic): 8 weight rows' pieces are decoded into the q6KPBlock format by
// iq2XSUnpackAVX2 (u = w + 64, the half scales 2s+1, d/8) and multiplied by the
// dotIQ2XSP tiles, which sum each block of 32 exactly and fuse one multiply-add a block.

// iq2D15, iq2D1 (dwords 15 and 1) and iq2B64 (bytes 64) are iq2XSUnpackAVX2's constants.
var iq2D15, iq2D1, iq2B64 Mem

// iq2XSPConsts defines iq2D15, iq2D1 and iq2B64.
func iq2XSPConsts() {
	for i, v := range []uint32{15, 1, 0x40404040} {
		g := GLOBL([]string{"kq_iq2d15", "kq_iq2d1", "kq_iq2b64"}[i], RODATA|NOPTR)
		for e := 0; e < 8; e++ {
			DATA(4*e, U32(v))
		}
		*[]*Mem{&iq2D15, &iq2D1, &iq2B64}[i] = g
	}
}

// iq2XSP generates the AVX2 unpacker and the tiles of C = 1..iq2XSPC activation rows.
func iq2XSP() {
	iq2XSPConsts()
	iq2XSUnpackAVX2()
	iq2XSPVec8()
	for c := 1; c <= iq2XSPC; c++ {
		iq2XSPTile(c)
	}
}

// iq2XSPC is the most activation rows a dotIQ2XSP tile takes (kernel's iq2XSPC).
const iq2XSPC = 4

// iq2XSUnpackAVX2: func(dst, w *byte, off *int64, nsb int, grid *uint64)
// kernel's iq2XSUnpack8 with AVX2 (and BMI1/2): nsb super-blocks of 8 IQ2_XS rows (row r
// at w + off[r]) into dst in the q6KPBlock format (384 bytes a block of 32: values 4t..4t+3
// of row r at 32t + 4r as u = w + 64, the half scales 2s+1 as int16 twice at 256 + 4r
// and 288 + 4r, both at 320 + 4r, d/8 as float32 at 352 + 4r). Per super-block, a loop
// over the rows (one row a pass, the sign constants in registers) decodes each sub-block's
// 32 values as dotIQ2XSAVX decodes them (grid entries by BZHI/BEXTR and scalar loads, the
// sign bytes spread by VPSHUFB), u = 64 + g·sign by VPSIGNB and VPADDB, stored row-major
// at dst + 384·ib + 32r; then each block's 8
// rows are transposed in place by 32-bit elements (VPUNPCKL/HDQ, VPUNPCKL/HQDQ,
// VPERM2I128). The 8 rows' scale bytes are transposed by byte unpacks so that each block
// gives the 8 rows' scale byte in 8 dwords (VPMOVZXBD). Each row's bytes 4 super-blocks on
// are prefetched (the piece the caller decodes next).
func iq2XSUnpackAVX2() {
	TEXT("iq2XSUnpackAVX2", NOSPLIT, "func(dst, w *byte, off *int64, nsb int, grid *uint64)")
	Doc("iq2XSUnpackAVX2 decodes nsb super-blocks of 8 IQ2_XS rows (row r at w+off[r]) into dst in the q6KPBlock format, as iq2XSUnpack8 does (grid: tensor.IQ2XSGrid).")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	bmi := iq2BMI()
	par := YMM()
	VMOVDQU(iq2Parity, par)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	// Phase one: each row's 8 sub-blocks, row-major, one row a pass (ri = 8r), with the
	// sign constants in registers (loads are what this pass waits on).
	cs := iq2SignConsts(true)
	ri := GP64()
	XORQ(ri, ri)
	Label("row")
	p := GP64()
	MOVQ(Mem{Base: offp, Index: ri, Scale: 1}, p)
	ADDQ(w, p)
	PREFETCHT0(Mem{Base: p}.Offset(4 * 74))
	PREFETCHT0(Mem{Base: p}.Offset(4*74 + 64))
	var sgn, dup VecVirtual
	for ib := 0; ib < 8; ib++ {
		if ib%4 == 0 {
			q, u := YMM(), YMM()
			sgn = YMM()
			VMOVDQU(Mem{Base: p}.Offset(2+8*ib), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
		}
		g := iq2GridSeq(p, grid, bmi, 2+8*ib)
		if ib%2 == 0 {
			dup = YMM()
			VPERMQ(U8(0x44+0xaa*(ib%4/2)), sgn, dup)
		}
		sg := YMM()
		VPSHUFB(cs[ib%2], dup, sg)
		VPAND(cs[2], sg, sg)
		VPADDB(cs[3], sg, sg)
		VPSIGNB(sg, g, g)
		VPADDB(iq2B64, g, g)
		VMOVDQU(g, Mem{Base: dst, Index: ri, Scale: 4}.Offset(384*ib))
	}
	ADDQ(U8(8), ri)
	CMPQ(ri, U8(64))
	JNE(LabelRef("row"))
	// Phase two: each block's 8×8 dwords transposed in place.
	for ib := 0; ib < 8; ib++ {
		o := Mem{Base: dst}.Offset(384 * ib)
		var t [8]VecVirtual
		for r := 0; r < 8; r += 2 {
			a := YMM()
			VMOVDQU(o.Offset(32*r), a)
			t[r], t[r+1] = YMM(), YMM()
			VPUNPCKLDQ(o.Offset(32*(r+1)), a, t[r])
			VPUNPCKHDQ(o.Offset(32*(r+1)), a, t[r+1])
		}
		var u [8]VecVirtual
		for h := 0; h < 2; h++ { // rows 4h..4h+3
			a, b, c, d := t[4*h], t[4*h+2], t[4*h+1], t[4*h+3]
			u[4*h], u[4*h+1], u[4*h+2], u[4*h+3] = YMM(), YMM(), YMM(), YMM()
			VPUNPCKLQDQ(b, a, u[4*h])   // dwords 0 | 4
			VPUNPCKHQDQ(b, a, u[4*h+1]) // 1 | 5
			VPUNPCKLQDQ(d, c, u[4*h+2]) // 2 | 6
			VPUNPCKHQDQ(d, c, u[4*h+3]) // 3 | 7
		}
		for z := 0; z < 4; z++ {
			v := YMM()
			VPERM2I128(U8(0x20), u[4+z], u[z], v)
			VMOVDQU(v, o.Offset(32*z))
			VPERM2I128(U8(0x31), u[4+z], u[z], v)
			VMOVDQU(v, o.Offset(32*(z+4)))
		}
	}
	// The scales: the 8 rows' scale bytes transposed to one qword a block pair.
	var xs [8]VecVirtual
	xd := XMM()
	for r := 0; r < 8; r++ {
		p := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), p)
		ADDQ(w, p)
		xs[r] = XMM()
		VMOVQ(Mem{Base: p}.Offset(66), xs[r])
		if r == 0 {
			VPXOR(xd, xd, xd)
		}
		VPINSRW(U8(r), Mem{Base: p}, xd, xd)
	}
	var pw [4]VecVirtual
	for i := 0; i < 4; i++ {
		pw[i] = XMM()
		VPUNPCKLBW(xs[2*i+1], xs[2*i], pw[i]) // word b: rows 2i, 2i+1
	}
	var qd [4]VecVirtual
	for h := 0; h < 2; h++ {
		qd[2*h], qd[2*h+1] = XMM(), XMM()
		VPUNPCKLWD(pw[2*h+1], pw[2*h], qd[2*h])   // dword b (b < 4): rows 4h..4h+3
		VPUNPCKHWD(pw[2*h+1], pw[2*h], qd[2*h+1]) // b = 4..7
	}
	var sq [4]VecVirtual // qword b%2 of sq[b/2]: the 8 rows' scales[b]
	for h := 0; h < 2; h++ {
		sq[2*h], sq[2*h+1] = XMM(), XMM()
		VPUNPCKLDQ(qd[2+h], qd[h], sq[2*h])
		VPUNPCKHDQ(qd[2+h], qd[h], sq[2*h+1])
	}
	d := YMM()
	VCVTPH2PS(xd, d)
	VMULPS(eighth, d, d)
	for ib := 0; ib < 8; ib++ {
		o := Mem{Base: dst}.Offset(384 * ib)
		src := sq[ib/2]
		if ib%2 == 1 {
			t := XMM()
			VPSRLDQ(U8(8), src, t)
			src = t
		}
		v, lo, hi, t := YMM(), YMM(), YMM(), YMM()
		VPMOVZXBD(src, v)
		VPAND(iq2D15, v, lo)
		VPADDD(lo, lo, lo)
		VPOR(iq2D1, lo, lo) // 2·s_lo + 1
		VPSRLD(U8(4), v, hi)
		VPADDD(hi, hi, hi)
		VPOR(iq2D1, hi, hi) // 2·s_hi + 1
		VPSLLD(U8(16), hi, t)
		VPOR(lo, t, v)
		VMOVDQU(v, o.Offset(320))
		VPOR(hi, t, t)
		VMOVDQU(t, o.Offset(288))
		VPSLLD(U8(16), lo, t)
		VPOR(lo, t, t)
		VMOVDQU(t, o.Offset(256))
		VMOVUPS(d, o.Offset(352))
	}
	ADDQ(U32(74), w)
	ADDQ(U32(8*384), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// iq2XSPTile: func(w *byte, xq *int8, xqs int, xd *float32, xds int, xc *int32, nb int, out *float32, os int)
// 8 IQ2_XS rows decoded by iq2XSUnpackAVX2 (nb blocks of 32, q6KPBlock format: u = w + 64)
// against C rows quantized by QuantizeQ8 (strides in bytes; xc: per block the sums of
// values 0..15 and 16..31 as two int16, kernel's q6KSums, with the stride of xd), adding
// to out[c*os/4 + r] block after block. Per block and row (int32 lane) the exact
//
//	T = Σ_t (2s+1)·Σ_4 u·x  -  64·((2s_lo+1)·Σx_lo + (2s_hi+1)·Σx_hi)  =  Σ (2s+1)·w·x
//
// (each VPMADDUBSW pair of u·x, at most 2·107·127 = 27178, goes to VPMADDWD by its half's
// scale on its own: two added could pass 32767, which the Q6_K tiles' values stay below),
// then acc = float32(T)·(dx·d/8) + acc, one fused multiply-add: the arithmetic of
// dotIQ2XS32Generic, so a row's result does not depend on C or on the number of rows.
func iq2XSPTile(C int) {
	name := fmt.Sprintf("dotIQ2XSP_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xqs int, xd *float32, xds int, xc *int32, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 IQ2_XS rows decoded by iq2XSUnpackAVX2 and int8-quantized rows to out[c*os/4+r], block after block, in the order of dotIQ2XS32Generic.", name, C))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xqs := Load(Param("xqs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
	xc := Load(Param("xc"), GP64())
	xqs3, xds3 := GP64(), GP64()
	LEAQ(Mem{Base: xqs, Index: xqs, Scale: 2}, xqs3)
	LEAQ(Mem{Base: xds, Index: xds, Scale: 2}, xds3)
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	os3 := GP64()
	LEAQ(Mem{Base: os, Index: os, Scale: 2}, os3)
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VMOVUPS(avoext.RowAt(o, os, os3, c), acc[c])
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	lo, hi := YMM(), YMM()
	VMOVDQU(Mem{Base: w}.Offset(256), lo)
	VMOVDQU(Mem{Base: w}.Offset(288), hi)
	s := make([]VecVirtual, C)
	for z := 0; z < 8; z++ {
		v := YMM()
		VMOVDQU(Mem{Base: w}.Offset(32*z), v)
		for c := 0; c < C; c++ {
			p := YMM()
			VPBROADCASTD(avoext.RowAt(xq, xqs, xqs3, c).Offset(4*z), p)
			VPMADDUBSW(p, v, p)
			VPMADDWD([]VecVirtual{lo, hi}[z/4], p, p)
			if z == 0 {
				s[c] = p
			} else {
				VPADDD(p, s[c], s[c])
			}
		}
	}
	for c := 0; c < C; c++ {
		t := YMM()
		VPBROADCASTD(avoext.RowAt(xc, xds, xds3, c), t)
		VPMADDWD(Mem{Base: w}.Offset(320), t, t)
		VPSLLD(U8(6), t, t) // 64·(sc_lo·Σx_lo + sc_hi·Σx_hi)
		VPSUBD(t, s[c], s[c])
		VCVTDQ2PS(s[c], s[c])
		f := YMM()
		VBROADCASTSS(avoext.RowAt(xd, xds, xds3, c), f)
		VMULPS(Mem{Base: w}.Offset(352), f, f)
		VFMADD231PS(f, s[c], acc[c])
	}
	ADDQ(U32(384), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(4), xc)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], avoext.RowAt(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}

// iq2XSPVec8: func(w *byte, off *int64, xq *int8, xd *float32, nsb int, grid *uint64, out *float32, pf int)
// 8 IQ2_XS rows (row r at w + off[r], nsb super-blocks) against one row quantized by
// QuantizeQ8, in the order of the dotIQ2XSP tiles (the same bits), without a decoded
// buffer. Per super-block, a loop over the rows (one row a pass, the sign constants in
// registers) decodes each sub-block as dotIQ2XSAVX does (g the grid magnitudes, x signed
// by VPSIGNB) into 8 int32 lanes (VPMADDUBSW, then VPMADDWD by the half scales from
// kq_iq2scales: lane l holds (2s+1)·Σ of values 4l..4l+3), reduces the row's 8 block
// vectors to one whose lane b is the exact T_b (three VPHADDD per 4 blocks, two VPERM2I128
// and a VPADDD) and stores it to a 256-byte frame; the 8 rows' vectors are transposed by
// 32-bit elements (lane r: row r), and for b = 0..7 acc = float32(T_b)·(dx_b·d/8) + acc,
// the 8 rows' chains in the 8 lanes. out[0..8) gets the 8 sums. Each row's bytes pf past
// those it decodes are prefetched (the caller's next 8 rows). nsb and xd live in their
// argument slots, to leave the general registers to the decoding.
func iq2XSPVec8() {
	TEXT("dotIQ2XSP_vec8", 0, "func(w *byte, off *int64, xq *int8, xd *float32, nsb int, grid *uint64, out *float32, pf int)")
	Doc("dotIQ2XSP_vec8 writes to out[0..8) the dot products of 8 rows of nsb IQ2_XS super-blocks (row r at w+off[r]) with a row quantized by QuantizeQ8, as the dotIQ2XSP tiles compute them (grid: tensor.IQ2XSGrid), prefetching each row's bytes pf on.")
	scr := AllocLocal(8 * 32)
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	xq := Load(Param("xq"), GP64())
	grid := Load(Param("grid"), GP64())
	bmi := iq2BMI()
	acc, par := YMM(), YMM()
	VXORPS(acc, acc, acc)
	VMOVDQU(iq2Parity, par)
	nsb := Load(Param("nsb"), GP64())
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	// nsb and xd are kept in their argument slots, to leave registers to the decoding.
	Label("loop")
	tbl, ri := GP64(), GP64()
	LEAQ(iq2ScaleTable, tbl)
	// The sign constants in registers for the rows' pass (reloaded each super-block, so
	// that they leave the registers to the transposition below).
	cs := iq2SignConsts(true)
	// One row a pass (ri = 8r): a small loop (unrolled over the 8 rows it was no faster).
	XORQ(ri, ri)
	Label("row")
	p := GP64()
	MOVQ(Mem{Base: offp, Index: ri, Scale: 1}, p)
	ADDQ(w, p)
	pf := Load(Param("pf"), GP64())
	PREFETCHT0(Mem{Base: p, Index: pf, Scale: 1})
	PREFETCHT0(Mem{Base: p, Index: pf, Scale: 1}.Offset(64))
	var sgn, dup, keep, h01 VecVirtual
	var H [2]VecVirtual
	for ib := 0; ib < 8; ib++ {
		if ib%4 == 0 {
			q, u := YMM(), YMM()
			sgn = YMM()
			VMOVDQU(Mem{Base: p}.Offset(2+8*ib), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
		}
		g := iq2GridSeq(p, grid, bmi, 2+8*ib)
		if ib%2 == 0 {
			dup = YMM()
			VPERMQ(U8(0x44+0xaa*(ib%4/2)), sgn, dup)
		}
		sg := YMM()
		VPSHUFB(cs[ib%2], dup, sg)
		VPAND(cs[2], sg, sg)
		VPADDB(cs[3], sg, sg)
		x := YMM()
		VMOVDQU(Mem{Base: xq}.Offset(32*ib), x)
		VPSIGNB(sg, x, x)
		VPMADDUBSW(x, g, x)
		si := GP64()
		MOVBQZX(Mem{Base: p}.Offset(66+ib), si)
		SHLQ(U8(5), si)
		VPMADDWD(Mem{Base: tbl, Index: si, Scale: 1}, x, x)
		// The row's tree over blocks: H[ib/4] lane j = lanes 4(j/4)..+3 of block 4(ib/4)+j%4.
		switch ib % 4 {
		case 0, 2:
			keep = x
		case 1:
			VPHADDD(x, keep, keep)
			h01 = keep
		case 3:
			VPHADDD(x, keep, keep)
			VPHADDD(keep, h01, h01)
			H[ib/4] = h01
		}
	}
	// Lane b: the row's T_b.
	t, u := YMM(), YMM()
	VPERM2I128(U8(0x20), H[1], H[0], t)
	VPERM2I128(U8(0x31), H[1], H[0], u)
	VPADDD(u, t, t)
	VMOVDQU(t, scr.Idx(ri, 4))
	ADDQ(U8(8), ri)
	CMPQ(ri, U8(64))
	JNE(LabelRef("row"))
	// The rows' d/8, lane r.
	xd16 := XMM()
	VPXOR(xd16, xd16, xd16)
	for r := 0; r < 8; r++ {
		p := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), p)
		ADDQ(w, p)
		VPINSRW(U8(r), Mem{Base: p}, xd16, xd16)
	}
	d8 := YMM()
	VCVTPH2PS(xd16, d8)
	VMULPS(eighth, d8, d8)
	xd := Load(Param("xd"), GP64())
	var tt [8]VecVirtual
	for r := 0; r < 8; r += 2 {
		a := YMM()
		VMOVDQU(scr.Offset(32*r), a)
		tt[r], tt[r+1] = YMM(), YMM()
		VPUNPCKLDQ(scr.Offset(32*(r+1)), a, tt[r])
		VPUNPCKHDQ(scr.Offset(32*(r+1)), a, tt[r+1])
	}
	var uu [8]VecVirtual
	for h := 0; h < 2; h++ { // rows 4h..4h+3
		a, b, c, d := tt[4*h], tt[4*h+2], tt[4*h+1], tt[4*h+3]
		uu[4*h], uu[4*h+1], uu[4*h+2], uu[4*h+3] = YMM(), YMM(), YMM(), YMM()
		VPUNPCKLQDQ(b, a, uu[4*h])   // blocks 0 | 4
		VPUNPCKHQDQ(b, a, uu[4*h+1]) // 1 | 5
		VPUNPCKLQDQ(d, c, uu[4*h+2]) // 2 | 6
		VPUNPCKHQDQ(d, c, uu[4*h+3]) // 3 | 7
	}
	for ib := 0; ib < 8; ib++ {
		t := YMM()
		VPERM2I128(U8([]uint8{0x20, 0x31}[ib/4]), uu[4+ib%4], uu[ib%4], t)
		VCVTDQ2PS(t, t)
		f := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*ib), f)
		VMULPS(d8, f, f)
		VFMADD231PS(f, t, acc)
	}
	ADDQ(U32(74), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	Store(xd, Param("xd"))
	n := Load(Param("nsb"), GP64())
	DECQ(n)
	Store(n, Param("nsb"))
	JNZ(LabelRef("loop"))
	Label("done")
	out := Load(Param("out"), GP64())
	VMOVUPS(acc, Mem{Base: out})
	VZEROUPPER()
	RET()
}
