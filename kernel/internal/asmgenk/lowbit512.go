package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The AVX-512 VNNI kernels of the low-bit types (issue 16 item 1; kernel/q2k.go): Q2_K
// with any number of activation rows. Each output sums its blocks of 32 in order (b the
// block, Σ exact in int32, u = sc·q the 2-bit value times its 4-bit scale, m_lo and m_hi
// the mins of the block's two halves):
//
//	T_b = Σ u·x,  M_b = m_lo·Σ_lo x + m_hi·Σ_hi x
//	y = float32(T_b)·d,  y = -(float32(M_b)·dmin) + y,  acc = y·dx_b + acc
//
// (the product rounded once, each "+" a fused multiply-add). 8 weight rows' super-blocks
// are decoded by q2KUnpack512 into the q2KPBlock format and two such pieces multiplied with
// C activation rows by q2KTile512 (16 rows a zmm, VPDPBUSD with 4 bytes of an activation
// row broadcast); one activation row takes q2KDot8AVX512, 8 weight rows a call. TQ2_0,
// TQ1_0 and Q8_K are Q2_K with other scales and mins (kernel/lowbit.go):
// their decoders and row kernels are these with a kind (lbTQ20, lbTQ10, lbQ8K), and they
// share the tiles.

// q2KBlock is the size of one block of 32 of 8 rows decoded by q2KUnpack512 (kernel's
// q2KPBlock), q2KXRow the bytes of one activation row's block (kernel's q2KXRow), maxQ2KC
// the most activation rows a tile takes (registers: 3C+5 of the 32 zmm).
const (
	q2KBlock = 384
	q2KXRow  = 40
	maxQ2KC  = 8
)

// The types the Q2_K kernels take: Q2_K, TQ2_0 (every scale and min 1, dmin = d) and
// Q8_K (u = q + 128, both mins 128, dmin = d).
const (
	lbQ2K = iota
	lbTQ20
	lbQ8K
	lbTQ10
)

// lbX80 is 64 bytes 0x80 (Q8_K's u = q XOR 0x80 = q + 128), lbW128 16 words 128.
var lbX80, lbW128 Mem

// q2KIdx512 holds the four VPERMW index vectors of q2KUnpack512: for blocks 2p, 2p+1,
// word i takes the scale of group 4p + i/8.
var q2KIdx512 Mem

// lowBit512 generates the low-bit types' AVX-512 kernels (registered in main's -avx512 run,
// after q2KConsts512, whose constants it uses).
func lowBit512() {
	q2KIdx512 = GLOBL("kq_q2kidx", RODATA|NOPTR)
	for p := 0; p < 4; p++ {
		for i := 0; i < 32; i++ {
			DATA(64*p+2*i, U16(uint16(4*p+i/8)))
		}
	}
	tq10Consts()
	q2KUnpack512(lbQ2K)
	q2KUnpack512(lbTQ20)
	q2KUnpack512(lbQ8K)
	q2KUnpack512(lbTQ10)
	for c := 1; c <= maxQ2KC; c++ {
		q2KTile512(c)
	}
	q2KDot8512(lbQ2K)
	q2KDot8512(lbTQ20)
	q2KDot8512(lbQ8K)
	q2KDot8512(lbTQ10)
}

// q2KUnpack512: func(dst, w *byte, off *int64, nsb int) decodes nsb super-blocks of 8 Q2_K
// rows (row r at w + off[r]; block_q2_K: 16 scale bytes, sc low nibble and m high, 64
// bytes of 2-bit values, f16 d and dmin) into dst in the q2KPBlock format: per block of 32
// (384 bytes), value e of row r at 32·(e/4) + 4r + e%4 as u = sc·q (0..45), at 256 + 4r
// the mins of the two halves as int16 (m_lo, m_hi), at 288 + 4r d and at 320 + 4r dmin as
// float32. Per row and pair of blocks 2p, 2p+1 the 32 value bytes are broadcast to both
// halves of a zmm and shifted by VPSRLVW (q2K512's constants), masked to 2 bits and
// multiplied by their scales as words (VPMULLW: sc·q < 256, so the bytes of a word do not
// mix); the 8 rows' zmm are transposed by dwords as iq2XSUnpackAVX512's (iq2XSTranspose8).
//
// With tq (tq20Unpack512) it decodes TQ2_0 rows (block_tq2_0: the same 64 bytes of 2-bit q
// at 0, f16 d at 64; weight d·(q-1)) into the same format as Q2_K with sc = 1, both mins 1
// and dmin = d: u = q, so that the tiles compute y = T·d - M·d.
//
// With lbQ8K (q8KUnpack512) it decodes Q8_K rows (block_q8_K: float32 d, 256 int8 q at 4,
// 16 int16 sums) as u = q + 128, both mins 128 and dmin = d: T·d - M·d = d·Σ q·x.
func q2KUnpack512(kind int) {
	tq, q8, t1 := kind != lbQ2K, kind == lbQ8K, kind == lbTQ10 // tq: no scales
	name, sb, qs, typ := "q2KUnpack512", 84, 16, "Q2_K"
	switch kind {
	case lbTQ10:
		name, sb, qs, typ = "tq10Unpack512", 54, 0, "TQ1_0"
	case lbTQ20:
		name, sb, qs, typ = "tq20Unpack512", 66, 0, "TQ2_0"
	case lbQ8K:
		name, sb, qs, typ = "q8KUnpack512", 292, 4, "Q8_K"
		lbX80 = GLOBL("kq_lbx80", RODATA|NOPTR)
		for i := 0; i < 64; i++ {
			DATA(i, U8(0x80))
		}
		lbW128 = GLOBL("kq_lbw128", RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(2*i, U16(128))
		}
	}
	TEXT(name, NOSPLIT, "func(dst, w *byte, off *int64, nsb int)")
	Doc(fmt.Sprintf("%s decodes nsb super-blocks of 8 %s rows (row r at w+off[r]) into dst in the q2KPBlock format, as %s does.", name, typ, []string{"q2KUnpack8", "lowBit.unpack8", "lowBit.unpack8", "lowBit.unpack8"}[kind]))
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	var idx [4]VecVirtual
	c0f := YMM()
	t := GP32()
	if q8 {
		MOVL(U32(0x00800080), t) // both mins 128
	} else if tq {
		MOVL(U32(0x00010001), t) // both mins 1
	} else {
		for p := range idx {
			idx[p] = ZMM()
			VMOVDQU64(q2KIdx512.Offset(64*p), idx[p])
		}
		MOVL(U32(0x000f000f), t)
	}
	VPBROADCASTD(t, c0f)
	lp := name + "_loop"
	TESTQ(nsb, nsb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	if tq {
		for j := 0; j < 8; j++ {
			VMOVDQU(c0f, Mem{Base: dst}.Offset(q2KBlock*j+256))
		}
		d := YMM()
		if q8 {
			// d: the float32 at 0.
			VPMOVQD(iq2RowsQ(w, offp, 0), d)
		} else {
			// d: bytes sb-2, sb-1 of each super-block, the top word of the qword at sb-8.
			dv := iq2RowsQ(w, offp, sb-8)
			VPSRLQ(U8(48), dv, dv)
			dd, dh := YMM(), XMM()
			VPMOVQD(dv, dd)
			VPMOVDW(dd, dh)
			VCVTPH2PS(dh, d)
		}
		for j := 0; j < 8; j++ {
			VMOVUPS(d, Mem{Base: dst}.Offset(q2KBlock*j+288))
			VMOVUPS(d, Mem{Base: dst}.Offset(q2KBlock*j+320))
		}
	} else {
		q2KMinsD(w, offp, dst)
	}
	for p := 0; p < 4; p++ {
		var R [8]VecVirtual
		for r := 0; r < 8; r++ {
			pr := GP64()
			MOVQ(Mem{Base: offp}.Offset(8*r), pr)
			ADDQ(w, pr)
			if p == 0 {
				// The row's next piece (4 super-blocks on: the rows' order in q2KRows).
				PREFETCHT0(Mem{Base: pr}.Offset(4 * sb))
				PREFETCHT0(Mem{Base: pr}.Offset(4*sb + 64))
			}
			q := ZMM()
			if t1 {
				q = tq10Pair(pr, p)
			} else if q8 {
				VMOVDQU64(Mem{Base: pr}.Offset(qs+64*p), q)
				VPXORD(lbX80, q, q) // u = q + 128
			} else {
				VBROADCASTI64X4(Mem{Base: pr}.Offset(qs+32*(p/2)), q)
				VPSRLVW(q2KShift512.Offset(64*(p%2)), q, q)
				VPANDD(threes64, q, q)
			}
			if tq {
				R[r] = q
				continue
			}
			sc, scz := YMM(), ZMM()
			VPMOVZXBW(Mem{Base: pr}, sc)
			VPAND(c0f, sc, sc)
			VPERMW(sc.AsZ(), idx[p], scz)
			R[r] = ZMM()
			VPMULLW(scz, q, R[r])
		}
		iq2XSTranspose8(R, dst, 2*p)
	}
	ADDQ(U32(sb), w)
	ADDQ(U32(8*q2KBlock), dst)
	DECQ(nsb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	VZEROUPPER()
	RET()
}

// q2KMinsD writes the mins, d and dmin of one super-block of 8 Q2_K rows (row r at
// w+off[r]) into the 8 blocks at dst.
func q2KMinsD(w, offp, dst Register) {
	// The mins: qword r of sv[h] is scale bytes 8h..8h+7 of row r; block j's two bytes
	// become the dword (m_lo, m_hi) of lane r.
	sv := [2]VecVirtual{iq2RowsQ(w, offp, 0), iq2RowsQ(w, offp, 8)}
	for j := 0; j < 8; j++ {
		s := sv[j/4]
		if j%4 != 0 {
			s = ZMM()
			VPSRLQ(U8(16*(j%4)), sv[j/4], s)
		}
		b, mw := XMM(), YMM()
		VPMOVQW(s, b)
		VPMOVZXBW(b, mw)
		VPSRLW(U8(4), mw, mw)
		VMOVDQU(mw, Mem{Base: dst}.Offset(q2KBlock*j+256))
	}
	// d and dmin: bytes 76..83 of each super-block, the f16 pair in the high dword.
	dv := iq2RowsQ(w, offp, 76)
	VPSRLQ(U8(32), dv, dv)
	dd := YMM()
	VPMOVQD(dv, dd)
	dh, d, dm := XMM(), YMM(), YMM()
	VPMOVDW(dd, dh)
	VCVTPH2PS(dh, d)
	VPSRLD(U8(16), dd, dd)
	VPMOVDW(dd, dh)
	VCVTPH2PS(dh, dm)
	for j := 0; j < 8; j++ {
		VMOVUPS(d, Mem{Base: dst}.Offset(q2KBlock*j+288))
		VMOVUPS(dm, Mem{Base: dst}.Offset(q2KBlock*j+320))
	}
}

// lbZ returns zmm register i.
func lbZ(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// lbJoin loads the 32 bytes at off of group a's block and of group b's into zmm z (a low,
// b high).
func lbJoin(a, b Register, off int, z VecPhysical) {
	VMOVDQU32(Mem{Base: a, Disp: off}, z.AsY())
	VINSERTI64X4(U8(1), Mem{Base: b, Disp: off}, z, z)
}

// q2KTile512: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of
// 16 Q2_K rows (8 decoded by q2KUnpack512 at a, 8 at b) and C activation rows laid out by
// kernel's q2KPrep (per block the C rows' 32 int8, dx as float32, (Σ_lo x, Σ_hi x) as
// int16) over nb blocks of 32 to out[c*os/4 + r] (os in bytes), in the order above.
func q2KTile512(C int) {
	name := fmt.Sprintf("q2KTile512x%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 Q2_K rows decoded by q2KUnpack512 (8 at a, 8 at b) and %d activation rows laid out by q2KPrep over nb blocks of 32 to out[c*os/4+r], in dotQ2K32Generic's order.", name, C))
	a, b, x, nb, out, os := RSI, RDI, RBX, RCX, RDX, RAX
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	T := func(c int) VecPhysical { return lbZ(c) }
	M := func(c int) VecPhysical { return lbZ(C + c) }
	acc := func(c int) VecPhysical { return lbZ(2*C + c) }
	wv := func(t int) VecPhysical { return lbZ(3*C + t%2) }
	mn, d, dm := lbZ(3*C+2), lbZ(3*C+3), lbZ(3*C+4)
	move := func(store bool) {
		p := R8
		MOVQ(out, p)
		for c := 0; c < C; c++ {
			if store {
				VMOVUPS(acc(c), Mem{Base: p})
			} else {
				VMOVUPS(Mem{Base: p}, acc(c))
			}
			if c+1 < C {
				ADDQ(os, p)
			}
		}
	}
	move(false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	for c := 0; c < C; c++ {
		VPXORD(T(c), T(c), T(c))
	}
	for t := 0; t < 8; t++ {
		lbJoin(a, b, 32*t, wv(t))
		for c := 0; c < C; c++ {
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: q2KXRow*c + 4*t}, wv(t), T(c))
		}
	}
	lbJoin(a, b, 256, mn)
	lbJoin(a, b, 288, d)
	lbJoin(a, b, 320, dm)
	for c := 0; c < C; c++ {
		VPBROADCASTD(Mem{Base: x, Disp: q2KXRow*c + 36}, M(c))
		VPMADDWD(mn, M(c), M(c)) // m_lo·Σ_lo x + m_hi·Σ_hi x
		VCVTDQ2PS(T(c), T(c))
		VCVTDQ2PS(M(c), M(c))
		VMULPS(d, T(c), T(c))                                              // y = T·d
		VFNMADD231PS(dm, M(c), T(c))                                       // y = -(M·dmin) + y
		VFMADD231PS_BCST(Mem{Base: x, Disp: q2KXRow*c + 32}, T(c), acc(c)) // acc = y·dx + acc
	}
	ADDQ(U32(q2KBlock), a)
	ADDQ(U32(q2KBlock), b)
	ADDQ(U32(q2KXRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	move(true)
	VZEROUPPER()
	RET()
}

// q2KGroupIdx is the VPERMD index of q2KDot8512 that puts the folded group sums in order
// (dword 4L+i of the fold is group 4i+L); q2KLow4D and q2KOnesW are dwords 15 and words 1.
var q2KGroupIdx, q2KLow4D, q2KOnesW Mem

// q2KDot8512: func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
// writes to out[0..7] the products of 8 Q2_K rows (row r at w + off[r], nsb super-blocks)
// with one activation row quantized by QuantizeQ8 (xq, xd; xs: each block's (Σ_lo x,
// Σ_hi x) as two int16), in the order of the tiles (the same bits). Per row and pair of
// blocks 2p, 2p+1 the 2-bit q are formed as in q2KUnpack512 and multiplied with the 64
// activations by one VPDPBUSD; the four pairs' sums are folded into the 16 groups' Σ q·x
// (two rounds of unpacks and adds, a VPERMD), multiplied by the 16 scales at once
// (VPMULLD: T_b's integer sum in another grouping, the same value) and added in pairs
// into T_0..T_7; the mins' sums M_b come from one VPMADDWD, and y_b = -(M_b·dmin) + T_b·d
// in 8 lanes. (Forming u = sc·q per pair as the decoder does, with VPERMW and VPMULLW, and
// folding the pairs' block sums was slower: m = 1 cpu-GFLOP/s 64-66 against 83-89, same
// run, both shapes.) The 8 rows' y vectors are transposed so that lane r is
// row r, and the chain acc = y_b·dx_b + acc runs over b with the 8 rows in 8 lanes.
//
// With tq (tq20Dot8AVX512) the rows are TQ2_0 (as in q2KUnpack512): u = q, M_b = Σ_lo x +
// Σ_hi x, dmin = d.
//
// With lbQ8K (q8KDot8AVX512) the rows are Q8_K (as in q2KUnpack512): u = q + 128, M_b =
// 128·Σ x, dmin = d.
func q2KDot8512(kind int) {
	tq, q8, t1 := kind != lbQ2K, kind == lbQ8K, kind == lbTQ10 // tq: no scales
	name, sb, qs, typ := "q2KDot8AVX512", 84, 16, "Q2_K"
	switch kind {
	case lbTQ10:
		name, sb, qs, typ = "tq10Dot8AVX512", 54, 0, "TQ1_0"
	case lbTQ20:
		name, sb, qs, typ = "tq20Dot8AVX512", 66, 0, "TQ2_0"
	case lbQ8K:
		name, sb, qs, typ = "q8KDot8AVX512", 292, 4, "Q8_K"
	default:
		q2KLow4D = GLOBL("kq_q2klow4d", RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(4*i, U32(15))
		}
		q2KOnesW = GLOBL("kq_q2konesw", RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(2*i, U16(1))
		}
		q2KGroupIdx = GLOBL("kq_q2kgroup", RODATA|NOPTR)
		for g := 0; g < 16; g++ {
			DATA(4*g, U32(uint32(4*(g%4)+g/4)))
		}
	}
	TEXT(name, NOSPLIT, "func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)")
	Doc(fmt.Sprintf("%s writes to out[0..7] the products of 8 %s rows (row r at w+off[r]) with one quantized activation row (xs: each block's half sums as two int16), in the order of the q2KTile512 tiles.", name, typ))
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc, zero := YMM(), ZMM()
	VXORPS(acc, acc, acc)
	VPXORD(zero, zero, zero)
	TESTQ(nsb, nsb)
	lp := name + "_loop"
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	var Y [8]VecVirtual
	for r := 0; r < 8; r++ {
		pr := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), pr)
		ADDQ(w, pr)
		PREFETCHT0(Mem{Base: pr}.Offset(prefetch))
		PREFETCHT0(Mem{Base: pr}.Offset(prefetch + 64))
		mm := YMM()
		if q8 {
			VMOVDQU(lbW128, mm)
		} else if tq {
			VMOVDQU(q2KOnesW, mm)
		} else {
			VPMOVZXBW(Mem{Base: pr}, mm)
			VPSRLW(U8(4), mm, mm)
		}
		VPMADDWD(Mem{Base: xs}, mm, mm) // M_b = m_lo·Σ_lo x + m_hi·Σ_hi x
		var P [4]VecVirtual
		for p := 0; p < 4; p++ {
			q := ZMM()
			if t1 {
				q = tq10Pair(pr, p)
			} else if q8 {
				VMOVDQU64(Mem{Base: pr}.Offset(qs+64*p), q)
				VPXORD(lbX80, q, q) // u = q + 128
			} else {
				VBROADCASTI64X4(Mem{Base: pr}.Offset(qs+32*(p/2)), q)
				VPSRLVW(q2KShift512.Offset(64*(p%2)), q, q)
				VPANDD(threes64, q, q)
			}
			P[p] = ZMM()
			VMOVDQA64(zero, P[p])
			avoext.VPDPBUSD(Mem{Base: xq}.Offset(64*p), q, P[p])
		}
		// The group sums: dword 4L+i of g is group 4i+L's Σ q·x (lane L of P[i]), then in
		// order, times the scales (exact), and each block's two groups added: T_b.
		var A [2]VecVirtual
		for h := 0; h < 2; h++ {
			lo, hi := ZMM(), ZMM()
			VPUNPCKLDQ(P[2*h+1], P[2*h], lo)
			VPUNPCKHDQ(P[2*h+1], P[2*h], hi)
			VPADDD(hi, lo, lo)
			A[h] = lo
		}
		g, g2, gi := ZMM(), ZMM(), ZMM()
		VPUNPCKLQDQ(A[1], A[0], g)
		VPUNPCKHQDQ(A[1], A[0], g2)
		VPADDD(g2, g, g)
		VMOVDQU64(q2KGroupIdx, gi)
		VPERMD(g, gi, g)
		if !tq {
			scd := ZMM()
			VPMOVZXBD(Mem{Base: pr}, scd)
			VPANDD(q2KLow4D, scd, scd)
			VPMULLD(scd, g, g)
		}
		VPSRLQ(U8(32), g, g2)
		VPADDD(g2, g, g)
		tv := YMM()
		VPMOVQD(g, tv)
		VCVTDQ2PS(tv, tv)
		VCVTDQ2PS(mm, mm)
		dd, d, dm := XMM(), YMM(), YMM()
		if q8 {
			VBROADCASTSS(Mem{Base: pr}, d)
			dm = d
		} else if tq {
			VPBROADCASTW(Mem{Base: pr}.Offset(sb-2), dd)
			VCVTPH2PS(dd, d)
			dm = d
		} else {
			VPBROADCASTD(Mem{Base: pr}.Offset(80), dd)
			VCVTPH2PS(dd, d)
			VSHUFPS(U8(0x55), d, d, dm)
			VSHUFPS(U8(0x00), d, d, d)
		}
		VMULPS(d, tv, tv)        // y = T·d
		VFNMADD231PS(dm, mm, tv) // y = -(M·dmin) + y
		Y[r] = tv
	}
	V := lbTranspose8(Y)
	for b := 0; b < 8; b++ {
		VFMADD231PS_BCST(Mem{Base: xd}.Offset(4*b), V[b], acc) // acc = y_b·dx_b + acc
	}
	ADDQ(U32(sb), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(32), xs)
	DECQ(nsb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	o := Load(Param("out"), GP64())
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// lbTranspose8 transposes 8 ymm of 8 float32 (Y[r] lane b) into V[b] lane r.
func lbTranspose8(Y [8]VecVirtual) [8]VecVirtual {
	var A [8]VecVirtual
	for i := 0; i < 4; i++ {
		A[2*i], A[2*i+1] = YMM(), YMM()
		VUNPCKLPS(Y[2*i+1], Y[2*i], A[2*i])   // r0 b0, r1 b0, r0 b1, r1 b1 | b4, b5
		VUNPCKHPS(Y[2*i+1], Y[2*i], A[2*i+1]) // b2, b3 | b6, b7
	}
	var B [8]VecVirtual
	for i := 0; i < 2; i++ {
		for h := 0; h < 2; h++ {
			lo, hi := A[4*i+h], A[4*i+2+h]
			B[4*i+2*h], B[4*i+2*h+1] = YMM(), YMM()
			VSHUFPS(U8(0x44), hi, lo, B[4*i+2*h])   // rows 4i..4i+3 of b = 2h (+4)
			VSHUFPS(U8(0xee), hi, lo, B[4*i+2*h+1]) // of b = 2h+1 (+4)
		}
	}
	var V [8]VecVirtual
	for b := 0; b < 4; b++ {
		V[b], V[b+4] = YMM(), YMM()
		VPERM2F128(U8(0x20), B[4+b], B[b], V[b])
		VPERM2F128(U8(0x31), B[4+b], B[b], V[b+4])
	}
	return V
}

// tq10Mul are the VPMULLW multipliers of tq10Pair (3^n·256 for each word's trit n, one
// 32-word vector a block) and tq10Three 32 words 3 for VPMULHUW.
var tq10Mul, tq10Three Mem

// tq10Consts defines tq10Pair's constants.
func tq10Consts() {
	pow3 := []int{1, 3, 9, 27, 81}
	tq10Mul = GLOBL("kq_tq10mul", RODATA|NOPTR)
	for b := 0; b < 8; b++ {
		for i := 0; i < 32; i++ {
			var n int
			switch {
			case b < 5:
				n = b
			case b < 7:
				n = 2*(b-5) + i/16
			case i < 16:
				n = 4
			default:
				n = (i - 16) / 4 // qh[j]'s trit n at 240 + 4n + j
			}
			DATA(64*b+2*i, U16(uint16(pow3[n]*256)))
		}
	}
	tq10Three = GLOBL("kq_tq10three", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(2*i, U16(3))
	}
}

// tq10Pair returns the 64 trits (0..2) of blocks 2p, 2p+1 of the TQ1_0 super-block at pr
// (block_tq1_0: qs[48], qh[4], f16 d), as bytes: trit n of byte x is ((x·3^n mod 256)·3)
// >> 8, here (x·3^n·256 mod 2^16)·3 >> 16 (VPMULLW, VPMULHUW) on 32 words at a time.
// Blocks 0..4 are trits 0..4 of qs[0..31]; block 5 trits 0, 1 of qs[32..47], block 6 trits
// 2, 3, block 7 trit 4 and then trits 0..3 of qh[0..3] (value 240 + 4n + j: trit n of qh[j]).
func tq10Pair(pr Register, p int) VecVirtual {
	src := func(b int) VecVirtual {
		z := ZMM()
		switch {
		case b < 5:
			VPMOVZXBW(Mem{Base: pr}, z)
		default:
			y := YMM()
			VPMOVZXBW(Mem{Base: pr}.Offset(32), y)
			h := y
			if b == 7 {
				x := XMM()
				VPBROADCASTD(Mem{Base: pr}.Offset(48), x)
				h = YMM()
				VPMOVZXBW(x, h)
			}
			VINSERTI64X4(U8(1), h, y.AsZ(), z)
		}
		return z
	}
	var half [2]VecVirtual
	for e := 0; e < 2; e++ {
		b := 2*p + e
		z := src(b)
		VPMULLW(tq10Mul.Offset(64*b), z, z)
		VPMULHUW(tq10Three, z, z)
		half[e] = YMM()
		VPMOVWB(z, half[e])
	}
	out := ZMM()
	VINSERTI64X4(U8(1), half[1], half[0].AsZ(), out)
	return out
}
