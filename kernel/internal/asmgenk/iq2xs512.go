package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// iq2XSUnpack512: func(dst, w *byte, off *int64, nsb int, grid *uint64)
// kernel's iq2XSUnpack8 with AVX-512 (F, BW, VL): nsb super-blocks of 8 IQ2_XS rows (row r
// at w + off[r]) into dst in the q6KPBlock format (u = w + 64 for VPDPBUSD, 384 bytes a
// block of 32: values of row r's dword t at 32t + 4r, the half scales 2s+1 as int16 twice
// at 256 + 4r and 288 + 4r, both at 320 + 4r, d/8 at 352 + 4r). Per super-block the 8 rows'
// scale bytes and d come in as one qword each (one zmm), are turned into the 8 blocks'
// scale and d vectors for all rows at once; per two sub-blocks each row's 64 values are
// decoded as in iq2XS512 (grid entries, sign mask) into one zmm, u = 64 ± g (VPADDB, then
// VPSUBB under the mask), and the 8 rows' zmm are transposed by 32-bit elements
// (VPUNPCKLDQ/HDQ, VPUNPCKLQDQ/HQDQ, two rounds of VSHUFI32X4) into the 8 vectors of 8
// rows × 2 dwords that the two blocks store.
func iq2XSUnpack512() {
	TEXT("iq2XSUnpackAVX512", NOSPLIT, "func(dst, w *byte, off *int64, nsb int, grid *uint64)")
	Doc("iq2XSUnpackAVX512 decodes nsb super-blocks of 8 IQ2_XS rows (row r at w+off[r]) into dst in the q6KPBlock format, as iq2XSUnpack8 does (grid: tensor.IQ2XSGrid).")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	c64, c0f, c1e, c01, cff, c10001, par := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), YMM()
	bcstB := func(v uint32, z VecVirtual) {
		t := GP32()
		MOVL(U32(v), t)
		VPBROADCASTD(t, z)
	}
	bcstB(0x40404040, c64)
	bcstB(0x0f0f0f0f, c0f)
	bcstB(0x1e1e1e1e, c1e)
	bcstB(0x01010101, c01)
	bcstB(0xff, cff)
	bcstB(0x10001, c10001)
	VMOVDQU(iq2Parity, par)
	bmi := iq2BMI()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	iq2XSScalesD(w, offp, dst, c0f, c1e, c01, cff, c10001)
	for a := 0; a < 8; a += 2 {
		var R [8]VecVirtual
		for r := 0; r < 8; r++ {
			p := GP64()
			MOVQ(Mem{Base: offp}.Offset(8*r), p)
			ADDQ(w, p)
			if a == 0 {
				// The row's next piece (kp512KB super-blocks on; iq2XSRows' order).
				PREFETCHT0(Mem{Base: p}.Offset(4 * 74))
				PREFETCHT0(Mem{Base: p}.Offset(4*74 + 64))
			}
			// The sign bytes of the pair's 8 entries, as in iq2XS512, as a 64-bit mask.
			q, u, sgn := XMM(), XMM(), XMM()
			VMOVDQU(Mem{Base: p}.Offset(2+8*a), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par.AsX(), u)
			VPOR(u, sgn, sgn)
			sb := XMM()
			VPMOVWB(sgn, sb)
			m, k := GP64(), K()
			VMOVQ(sb, m)
			KMOVQ(m, k)
			gy := [2]VecVirtual{iq2GridSeq(p, grid, bmi, 2+8*a), iq2GridSeq(p, grid, bmi, 2+8*(a+1))}
			g := ZMM()
			VINSERTI64X4(U8(1), gy[1], gy[0].AsZ(), g)
			R[r] = ZMM()
			VPADDB(g, c64, R[r])
			VPSUBB(g, c64, k, R[r]) // 64 - g where the weight is negative
		}
		iq2XSTranspose8(R, dst, a)
	}
	ADDQ(U32(74), w)
	ADDQ(U32(8*384), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// iq2DxIdx is the VPERMPS index of iq2XS32x2512: lane j takes dx_(j/4 + 4·(j%4/2)).
var iq2DxIdx Mem

// iq2XS32Row decodes the IQ2_XS super-block at w against the activations at xq as
// iq2XS512 does and returns, for each pair of sub-blocks a, a+1 (= 2k, 2k+1), the 16 int32
// lanes P[k] (lanes 8q..8q+7 sub-block 2k+q; each (2s+1)·Σ of 4 w·x). The grid indices
// are taken out one at a time (iq2GridSeq), to leave general registers to a second row.
func iq2XS32Row(w, xq, grid Register, bmi []Register, par, zero VecVirtual, perm [4]VecVirtual) [4]VecVirtual {
	var ks [2]Register
	var P [4]VecVirtual
	// The 16 half scales 2s+1 as words (low nibbles of scales[0..7], then the high ones);
	// VPERMW by perm[k] spreads them as the kq_iq2scales table would for sub-blocks 2k, 2k+1.
	sb16, hi := YMM(), XMM()
	VPMOVZXBW(Mem{Base: w}.Offset(66), sb16.AsX())
	VPSRLW(U8(4), sb16.AsX(), hi)
	VPANDD(iq2W15.Offset(0), sb16.AsX(), sb16.AsX())
	VINSERTI128(U8(1), hi, sb16, sb16)
	VPADDW(sb16, sb16, sb16)
	VPORD(iq2W1.Offset(0), sb16, sb16)
	for a := 0; a < 8; a += 2 {
		if a%4 == 0 {
			q, u, sgn := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(2+8*a), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
			sb := XMM()
			VPMOVWB(sgn, sb)
			r0 := GP64()
			ks[0], ks[1] = K(), K()
			VMOVQ(sb, r0)
			KMOVQ(r0, ks[0])
			VPEXTRQ(U8(1), sb, r0)
			KMOVQ(r0, ks[1])
		}
		gy := [2]VecVirtual{iq2GridSeq(w, grid, bmi, 2+8*a), iq2GridSeq(w, grid, bmi, 2+8*(a+1))}
		g := ZMM()
		VINSERTI64X4(U8(1), gy[1], gy[0].AsZ(), g)
		sc := ZMM()
		VPERMW(sb16.AsZ(), perm[a/2], sc)
		x := ZMM()
		VMOVDQU64(Mem{Base: xq}.Offset(32*a), x)
		VPSUBB(x, zero, ks[a%4/2], x) // x negated where the weight is
		VPMADDUBSW(x, g, x)
		VPMADDWD(sc, x, x)
		P[a/2] = x
	}
	return P
}

// iq2W15, iq2W1 (words 15 and 1) and iq2ScPerm (four VPERMW indices: for sub-blocks 2k,
// 2k+1, word j takes half (j%16)/8 of sub-block 2k + j/16) build iq2XS32Row's scales.
var iq2W15, iq2W1, iq2ScPerm Mem

// iq2XS32Consts defines iq2W15, iq2W1 and iq2ScPerm.
func iq2XS32Consts() {
	iq2W15 = GLOBL("kq_iq2w15", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(2*i, U16(15))
	}
	iq2W1 = GLOBL("kq_iq2w1", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(2*i, U16(1))
	}
	iq2ScPerm = GLOBL("kq_iq2scperm", RODATA|NOPTR)
	for k := 0; k < 4; k++ {
		for j := 0; j < 32; j++ {
			DATA(64*k+2*j, U16(uint16(8*(j%16/8)+2*k+j/16)))
		}
	}
}

// iq2XS32Perm loads the four VPERMW indices of iq2XS32Row.
func iq2XS32Perm() [4]VecVirtual {
	var p [4]VecVirtual
	for k := range p {
		p[k] = ZMM()
		VMOVDQU64(iq2ScPerm.Offset(64*k), p[k])
	}
	return p
}

// iq2GridSeq is iq2Grid (with bmi) taking each index out just before its load.
func iq2GridSeq(w, grid Register, bmi []Register, o int) VecVirtual {
	q := GP64()
	MOVQ(Mem{Base: w}.Offset(o), q)
	var gx [2]VecVirtual
	for hh := 0; hh < 2; hh++ {
		gx[hh] = XMM()
		for e := 0; e < 2; e++ {
			l, idx := 2*hh+e, GP64()
			if l == 0 {
				BZHIQ(bmi[0], q, idx)
			} else {
				BEXTRQ(bmi[l], q, idx)
			}
			if e == 0 {
				VMOVQ(Mem{Base: grid, Index: idx, Scale: 8}, gx[hh])
			} else {
				VPINSRQ(U8(1), Mem{Base: grid, Index: idx, Scale: 8}, gx[hh], gx[hh])
			}
		}
	}
	g := YMM()
	VINSERTI128(U8(1), gx[1], gx[0].AsY(), g)
	return g
}

// iq2XS32Fold folds a row's four P vectors (iq2XS32Row) to one whose 128-bit chunk i is
// [a, a', b, b'] with T_i = a + a' and T_4+i = b + b' (exact int32 sums).
func iq2XS32Fold(P [4]VecVirtual) VecVirtual {
	var Zs [2]VecVirtual
	for h := 0; h < 2; h++ {
		x, y := ZMM(), ZMM()
		VSHUFI64X2(U8(0x88), P[2*h+1], P[2*h], x)
		VSHUFI64X2(U8(0xdd), P[2*h+1], P[2*h], y)
		VPADDD(y, x, x)
		Zs[h] = x
	}
	w1, w2 := ZMM(), ZMM()
	VPUNPCKLQDQ(Zs[1], Zs[0], w1)
	VPUNPCKHQDQ(Zs[1], Zs[0], w2)
	VPADDD(w2, w1, w1)
	return w1
}

// iq2XS32x2512: func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uint64, out *float32)
// dotIQ2XS32AVX512 for two weight rows (at w and w+ws) against one activation row, writing
// out[0] and out[1]: each row summed in dotIQ2XS32AVX512's order (the same bits), the two
// rows' chains of fused multiply-adds in lanes 0 and 1 of one register. Per super-block the
// rows' folded sums are interleaved into chunk i = [T_i, T_i', T_4+i, T_4+i'] (' the second
// row), the products (d/8)·dx_b laid out alike (VPERMPS of dx, times [d/8, d'/8, d/8, d'/8]),
// and the chain runs b = 0..3 in lanes 0, 1 of the chunks, then (the accumulator copied up
// by VMOVLHPS) b = 4..7 in lanes 2, 3, copied back down by VMOVHLPS.
func iq2XS32x2512() {
	TEXT("dotIQ2XS32x2AVX512", NOSPLIT, "func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uint64, out *float32)")
	Doc("dotIQ2XS32x2AVX512 writes to out[0] and out[1] the dot products of two rows of nsb IQ2_XS super-blocks (at w and w+ws) with a row quantized by QuantizeQ8, each as dotIQ2XS32AVX512 computes it (grid: tensor.IQ2XSGrid).")
	w0 := Load(Param("w"), GP64())
	w1 := Load(Param("ws"), GP64())
	ADDQ(w0, w1)
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	perm := iq2XS32Perm()
	acc, zero, par, dxi := XMM(), ZMM(), YMM(), ZMM()
	VXORPS(acc, acc, acc)
	VPXORD(zero, zero, zero)
	VMOVDQU(iq2Parity, par)
	VMOVDQU64(iq2DxIdx, dxi)
	bmi := iq2BMI()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for _, w := range []Register{w0, w1} {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch))
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	}
	W0 := iq2XS32Fold(iq2XS32Row(w0, xq, grid, bmi, par, zero, perm))
	W1 := iq2XS32Fold(iq2XS32Row(w1, xq, grid, bmi, par, zero, perm))
	x, y, t := ZMM(), ZMM(), ZMM()
	VPUNPCKLDQ(W1, W0, x) // [a, a1, a', a1']
	VPUNPCKHDQ(W1, W0, y) // [b, b1, b', b1']
	VPUNPCKLQDQ(y, x, t)  // [a, a1, b, b1]
	VPUNPCKHQDQ(y, x, x)  // [a', a1', b', b1']
	VPADDD(x, t, t)
	VCVTDQ2PS(t, t)
	d, dz := XMM(), ZMM()
	VPBROADCASTW(Mem{Base: w0}, d)
	VPINSRW(U8(1), Mem{Base: w1}, d, d)
	VCVTPH2PS(d, d)
	VMULPS(eighth.Offset(0), d, d) // [d/8, d'/8, ...]
	VMOVLHPS(d, d, d)
	VSHUFF32X4(U8(0), d.AsZ(), d.AsZ(), dz)
	f := ZMM()
	VMOVUPS(Mem{Base: xd}, f.AsY())
	VPERMPS(f, dxi, f)
	VMULPS(dz, f, f)
	var tc, fc [4]Op
	tc[0], fc[0] = t.AsX(), f.AsX()
	for i := 1; i < 4; i++ {
		a, b := XMM(), XMM()
		VEXTRACTF32X4(U8(i), t, a)
		VEXTRACTF32X4(U8(i), f, b)
		tc[i], fc[i] = a, b
	}
	for b := 0; b < 8; b++ {
		if b == 4 {
			VMOVLHPS(acc, acc, acc)
		}
		VFMADD231PS(fc[b%4], tc[b%4], acc)
	}
	VMOVHLPS(acc, acc, acc)
	ADDQ(U32(74), w0)
	ADDQ(U32(74), w1)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	out := Load(Param("out"), GP64())
	VMOVLPS(acc, Mem{Base: out})
	VZEROUPPER()
	RET()
}

// iq2XSUnpackVBMI512: func(dst, w *byte, off *int64, nsb int, codes *uint16, pf int)
// iq2XSUnpackAVX512 without scalar grid loads (AVX-512 F, BW, VL, VBMI): codes is
// kernel's iq2XSCodes, the 512 grid entries as 16-bit words of 8 two-bit codes (8, 25, 43
// → 0, 1, 2). Per super-block, phase one takes each row's 32 qs words as one zmm: the
// codes are looked up 32 at a time from the table (8 pairs of zmm, VPERMT2W on the low 6
// index bits, then a tree of 7 VPBLENDMW on bits 6, 7, 8); each 8 codes are widened to
// qwords (VPMOVZXWQ), spread to bytes (VPMULTISHIFTQB by 0, 2, ..., 14, AND 3) and mapped
// to u = 64 + g or, under the entry's sign mask (the 8 sign bytes of the group as one
// 64-bit mask, as iq2XSUnpackAVX512 builds them), 64 - g by two VPSHUFB; the row's 4 zmm
// (two sub-blocks each) go to a 2 KiB stack scratch. Phase two transposes each pair of
// sub-blocks of the 8 rows as iq2XSUnpackAVX512 does (iq2XSTranspose8). The scales and d
// are built as there. Each row's bytes pf past the super-block being decoded are
// prefetched (two lines), for the piece the caller decodes next.
func iq2XSUnpackVBMI512() {
	TEXT("iq2XSUnpackVBMI", 0, "func(dst, w *byte, off *int64, nsb int, codes *uint16, pf int)")
	Doc("iq2XSUnpackVBMI decodes nsb super-blocks of 8 IQ2_XS rows (row r at w+off[r]) into dst in the q6KPBlock format, as iq2XSUnpack8 does (codes: kernel's iq2XSCodes), prefetching each row's bytes at pf past the super-block it decodes.")
	scr := AllocLocal(8 * 256)
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	codes := Load(Param("codes"), GP64())
	pf := Load(Param("pf"), GP64())
	bcst := func(v uint32, z VecVirtual) {
		t := GP32()
		MOVL(U32(v), t)
		VPBROADCASTD(t, z)
	}
	bcstQ := func(v uint64, z VecVirtual) {
		t := GP64()
		MOVQ(U64(v), t)
		VPBROADCASTQ(t, z)
	}
	c0f, c1e, c01, cff, c10001, c03 := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
	b6, b7, b8, ctl, lutP, lutN, par := ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM(), ZMM()
	bcst(0x0f0f0f0f, c0f)
	bcst(0x1e1e1e1e, c1e)
	bcst(0x01010101, c01)
	bcst(0xff, cff)
	bcst(0x10001, c10001)
	bcst(0x03030303, c03)
	bcst(0x00400040, b6)
	bcst(0x00800080, b7)
	bcst(0x01000100, b8)
	bcstQ(0x0e0c0a0806040200, ctl)
	bcst(64+8|(64+25)<<8|(64+43)<<16, lutP)
	bcst(64-8|(64-25)<<8|(64-43)<<16, lutN)
	VBROADCASTI32X4(iq2Parity, par)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	iq2XSScalesD(w, offp, dst, c0f, c1e, c01, cff, c10001)
	for r := 0; r < 8; r++ {
		p := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), p)
		// The bytes pf on: the next piece of these rows, or the next rows' first.
		pp := GP64()
		LEAQ(Mem{Base: p, Index: pf, Scale: 1}, pp)
		PREFETCHT0(Mem{Base: w, Index: pp, Scale: 1})
		PREFETCHT0(Mem{Base: w, Index: pp, Scale: 1}.Offset(64))
		q := ZMM()
		VMOVDQU64(Mem{Base: w, Index: p, Scale: 1}.Offset(2), q)
		// The 32 sign bytes (7 bits and their parity), as in iq2XSUnpackAVX512.
		u, sgn := ZMM(), ZMM()
		VPSRLW(U8(9), q, sgn)
		VPSRLW(U8(13), q, u)
		VPXORD(sgn, u, u)
		VPSHUFB(u, par, u)
		VPORD(u, sgn, sgn)
		sb := YMM()
		VPMOVWB(sgn, sb)
		var ks [4]Op
		hx := XMM()
		VEXTRACTI128(U8(1), sb, hx)
		for g := 0; g < 4; g++ {
			m, k := GP64(), K()
			src := sb.AsX()
			if g >= 2 {
				src = hx
			}
			if g%2 == 0 {
				VMOVQ(src, m)
			} else {
				VPEXTRQ(U8(1), src, m)
			}
			KMOVQ(m, k)
			ks[g] = k
		}
		// The codes: pair p of the table for index bits 6..8 = p, VPERMT2W on bits 0..5.
		var S [8]VecVirtual
		for pp := 0; pp < 8; pp++ {
			S[pp] = ZMM()
			VMOVDQU64(Mem{Base: codes}.Offset(128*pp), S[pp])
			VPERMT2W(Mem{Base: codes}.Offset(128*pp+64), q, S[pp])
		}
		for lv, bz := range []VecVirtual{b6, b7, b8} {
			k := K()
			VPTESTMW(bz, q, k)
			step := 1 << lv
			for i := 0; i+step < 8; i += 2 * step {
				VPBLENDMW(S[i+step], S[i], k, S[i])
			}
		}
		c := S[0]
		for g := 0; g < 4; g++ {
			var cx Op = c.AsX()
			if g > 0 {
				e := XMM()
				VEXTRACTI32X4(U8(g), c, e)
				cx = e
			}
			x := ZMM()
			VPMOVZXWQ(cx, x)
			VPMULTISHIFTQB(x, ctl, x)
			VPANDD(c03, x, x)
			o := ZMM()
			VPSHUFB(x, lutP, o)
			VPSHUFB(x, lutN, ks[g], o)
			VMOVDQU64(o, scr.Offset(256*r+64*g))
		}
	}
	for a := 0; a < 8; a += 2 {
		var R [8]VecVirtual
		for r := 0; r < 8; r++ {
			R[r] = ZMM()
			VMOVDQU64(scr.Offset(256*r+32*a), R[r])
		}
		iq2XSTranspose8(R, dst, a)
	}
	ADDQ(U32(74), w)
	ADDQ(U32(8*384), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// iq2XSTranspose8 stores the 8 rows' values of sub-blocks a, a+1 (R[r]: row r's 64
// values) into blocks a, a+1 at dst in the q6KPBlock layout: transposed by 32-bit
// elements (VPUNPCKLDQ/HDQ, VPUNPCKLQDQ/HQDQ, two rounds of VSHUFI32X4).
func iq2XSTranspose8(R [8]VecVirtual, dst Register, a int) {
	// Transpose by dwords: B[q][t'] lane L holds rows 4q..4q+3 of dword t' of lane L.
	var A [4][2]VecVirtual
	for pp := 0; pp < 4; pp++ {
		A[pp][0], A[pp][1] = ZMM(), ZMM()
		VPUNPCKLDQ(R[2*pp+1], R[2*pp], A[pp][0])
		VPUNPCKHDQ(R[2*pp+1], R[2*pp], A[pp][1])
	}
	var B [2][4]VecVirtual
	for q := 0; q < 2; q++ {
		for hh := 0; hh < 2; hh++ {
			B[q][2*hh], B[q][2*hh+1] = ZMM(), ZMM()
			VPUNPCKLQDQ(A[2*q+1][hh], A[2*q][hh], B[q][2*hh])
			VPUNPCKHQDQ(A[2*q+1][hh], A[2*q][hh], B[q][2*hh+1])
		}
	}
	for blk := 0; blk < 2; blk++ {
		var U [4]VecVirtual
		imm := uint8(2*blk | (2*blk+1)<<2 | (2*blk)<<4 | (2*blk+1)<<6)
		for tq := 0; tq < 4; tq++ {
			U[tq] = ZMM()
			VSHUFI32X4(U8(imm), B[1][tq], B[0][tq], U[tq])
		}
		for tp := 0; tp < 4; tp++ {
			t0, t1, half := (2*tp)%4, (2*tp+1)%4, tp/2
			o := ZMM()
			VSHUFI32X4(U8(uint8(half|(2+half)<<2|half<<4|(2+half)<<6)), U[t1], U[t0], o)
			VMOVDQU64(o, Mem{Base: dst}.Offset(384*(a+blk)+64*tp))
		}
	}
}

// iq2RowsQ loads the qwords at w+off[r]+o of 8 rows (off: 8 int64 at offp) into one zmm,
// row r in qword r.
func iq2RowsQ(w, offp Register, o int) VecVirtual {
	var xs [4]VecVirtual
	for h := 0; h < 4; h++ {
		xs[h] = XMM()
		p0, p1 := GP64(), GP64()
		MOVQ(Mem{Base: offp}.Offset(16*h), p0)
		MOVQ(Mem{Base: offp}.Offset(16*h+8), p1)
		VMOVQ(Mem{Base: w, Index: p0, Scale: 1}.Offset(o), xs[h])
		VPINSRQ(U8(1), Mem{Base: w, Index: p1, Scale: 1}.Offset(o), xs[h], xs[h])
	}
	z := ZMM()
	VINSERTI32X4(U8(1), xs[1], xs[0].AsZ(), z)
	VINSERTI32X4(U8(2), xs[2], z, z)
	VINSERTI32X4(U8(3), xs[3], z, z)
	return z
}

// iq2XSScalesD writes the scales and d of one super-block of 8 IQ2_XS rows (row r at
// w+off[r]) into the 8 q6KPBlocks at dst: each half block's 2s+1 (int16, twice in each
// lane at 256 and 288, both halves in one lane at 320) and d/8 as 8 float32 at 352 (the
// constants: bytes 0x0f, 0x1e, 0x01, dwords 0xff and 0x10001 broadcast).
func iq2XSScalesD(w, offp, dst Register, c0f, c1e, c01, cff, c10001 VecVirtual) {
	// The scales: byte ib of qword r is scales[ib] of row r; lo and hi bytes 2s+1.
	sv := iq2RowsQ(w, offp, 66)
	lo, hi := ZMM(), ZMM()
	VPANDD(c0f, sv, lo)
	VPADDB(lo, lo, lo)
	VPORD(c01, lo, lo)
	VPSRLW(U8(3), sv, hi)
	VPANDD(c1e, hi, hi)
	VPORD(c01, hi, hi)
	dv := iq2RowsQ(w, offp, 0)
	d := YMM()
	VPMOVQW(dv, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	VMULPS(eighth, d, d)
	for ib := 0; ib < 8; ib++ {
		o := Mem{Base: dst}.Offset(384 * ib)
		var l, h VecVirtual
		for k, src := range []VecVirtual{lo, hi} {
			t := ZMM()
			if ib == 0 {
				VMOVDQA64(src, t)
			} else {
				VPSRLQ(U8(8*ib), src, t)
			}
			y := YMM()
			VPMOVQD(t, y)
			VPANDD(cff.AsY(), y, y)
			if k == 0 {
				l = y
			} else {
				h = y
			}
		}
		lh, t := YMM(), YMM()
		VPSLLD(U8(16), h, lh)
		VPORD(l, lh, lh)
		VPMULLD(c10001.AsY(), l, t)
		VMOVDQU32(t, o.Offset(256))
		VPMULLD(c10001.AsY(), h, t)
		VMOVDQU32(t, o.Offset(288))
		VMOVDQU32(lh, o.Offset(320))
		VMOVUPS(d, o.Offset(352))
	}
}
