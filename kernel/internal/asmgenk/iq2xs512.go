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
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	// qwords at w+off[r]+o of the 8 rows, as one zmm (row r in qword r).
	rowsQ := func(o int) VecVirtual {
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
	// The scales: byte ib of qword r is scales[ib] of row r; lo and hi bytes 2s+1.
	sv := rowsQ(66)
	lo, hi := ZMM(), ZMM()
	VPANDD(c0f, sv, lo)
	VPADDB(lo, lo, lo)
	VPORD(c01, lo, lo)
	VPSRLW(U8(3), sv, hi)
	VPANDD(c1e, hi, hi)
	VPORD(c01, hi, hi)
	dv := rowsQ(0)
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
		VMOVDQU(t, o.Offset(256))
		VPMULLD(c10001.AsY(), h, t)
		VMOVDQU(t, o.Offset(288))
		VMOVDQU(lh, o.Offset(320))
		VMOVUPS(d, o.Offset(352))
	}
	for a := 0; a < 8; a += 2 {
		var R [8]VecVirtual
		for r := 0; r < 8; r++ {
			p := GP64()
			MOVQ(Mem{Base: offp}.Offset(8*r), p)
			ADDQ(w, p)
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
			gy := [2]VecVirtual{iq2Grid(p, grid, nil, 2+8*a), iq2Grid(p, grid, nil, 2+8*(a+1))}
			g := ZMM()
			VINSERTI64X4(U8(1), gy[1], gy[0].AsZ(), g)
			R[r] = ZMM()
			VPADDB(g, c64, R[r])
			VPSUBB(g, c64, k, R[r]) // 64 - g where the weight is negative
		}
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
	ADDQ(U32(74), w)
	ADDQ(U32(8*384), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
