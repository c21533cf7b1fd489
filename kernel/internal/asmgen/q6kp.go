package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Q6_K weights laid out by Pool.Pack in groups of 8 rows (package kernel's packQ6KGroup),
// 1680 bytes per super-block of a group (the 8 rows' 8·210 bytes, rearranged):
//
//	0:    the 8 rows' d (float16)
//	16:   the scales, 16 bytes a block of 32 (b < 8): row r's two int8 scales (of the
//	      block's values 0..15 and 16..31) at 16+16b+2r and 16+16b+2r+1
//	144:  ql: byte i of row r's 128 at 144+32(i/4)+4r+i%4
//	1168: qh: byte i of row r's 64 at 1168+32(i/4)+4r+i%4
//
// so that each int32 lane of a vector is one weight row, as in the packed Q4_K groups.
// Block b = 4h+t of a super-block takes, for its values 4z..4z+3, the ql vector
// 16h+8(t%2)+z (low nibbles for t < 2, high ones else) and bits 2t, 2t+1 of the qh
// vector 8h+z.
const (
	q6kpSB    = 1680 // bytes per super-block of a group
	q6kpBlock = 384  // bytes per block of 32 unpacked by q6KPUnpack
	// prefetchQ6KP is how far ahead in a group dotQ6KP_vec8 prefetches.
	prefetchQ6KP = 2 * q6kpSB
)

var q6kpDupLo, q6kpDupHi Mem

func q6kpConsts() {
	initConsts()
	if q6kpDupLo.Symbol.Name != "" {
		return
	}
	// VPSHUFB controls that copy word 0 (q6kpDupLo) or word 1 (q6kpDupHi) of each dword
	// to both of its words.
	q6kpDupLo = GLOBL("q6kpduplo", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{0, 1, 0, 1}[i%4]))
	}
	q6kpDupHi = GLOBL("q6kpduphi", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{2, 3, 2, 3}[i%4]))
	}
}

// q6kpValues returns the 6-bit values 4z..4z+3 of block b (b = 4h+t) of the super-block
// at w for the 8 rows, one row per int32 lane, as unsigned bytes.
func q6kpValues(w Register, b, z int, m0f, m30 Op) VecVirtual {
	h, t := b/4, b%4
	u, hb := YMM(), YMM()
	VMOVDQU(Mem{Base: w}.Offset(144+32*(16*h+8*(t%2)+z)), u)
	if t >= 2 {
		VPSRLW(U8(4), u, u)
	}
	VPAND(m0f, u, u)
	VMOVDQU(Mem{Base: w}.Offset(1168+32*(8*h+z)), hb)
	switch t {
	case 0:
		VPSLLW(U8(4), hb, hb)
	case 1:
		VPSLLW(U8(2), hb, hb)
	case 3:
		VPSRLW(U8(2), hb, hb)
	}
	VPAND(m30, hb, hb)
	VPOR(hb, u, u)
	return u
}

// q6kpBlockSum returns one activation row's exact Σ sc·(u-32)·x for a block of 32 of 8
// rows, one row per int32 lane: u(z) gives the unsigned values 4z..4z+3 (z < 8), xr the
// row's 32 int8 values, dup(0) and dup(1) the scales of values 0..15 and 16..31 twice in
// each lane (int16), pair both in one lane, xc the row's two 16-value sums as int16 in a
// dword. The int16 sums of two maddubsw stay within 2·2·63·127 = 32004.
func q6kpBlockSum(u func(z int) Op, xr Mem, dup func(half int) Op, pair Op, xc Mem) VecVirtual {
	var s VecVirtual
	for zz := 0; zz < 4; zz++ {
		p0, p1 := YMM(), YMM()
		VPBROADCASTD(xr.Offset(8*zz), p0)
		VPMADDUBSW(p0, u(2*zz), p0)
		VPBROADCASTD(xr.Offset(8*zz+4), p1)
		VPMADDUBSW(p1, u(2*zz+1), p1)
		VPADDW(p1, p0, p0)
		VPMADDWD(dup(zz/2), p0, p0)
		if zz == 0 {
			s = p0
		} else {
			VPADDD(p0, s, s)
		}
	}
	c := YMM()
	VPBROADCASTD(xc, c)
	VPMADDWD(pair, c, c)
	VPSLLD(U8(5), c, c) // 32·(sc_lo·Σx_lo + sc_hi·Σx_hi)
	VPSUBD(c, s, s)
	return s
}

// q6KPVec: func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)
// The Q6_K matrix-vector kernel for one packed group of 8 rows (nsb super-blocks) and one
// row quantized by QuantizeQ8 (xq, xd; xc: per block, the sums of its values 0..15 and
// 16..31 as two int16). Per block of 32 and row (int32 lane): the exact
// Σ sc·(u-32)·x, then acc = float(Σ)·(d·dx) + acc, fused, block after block, starting from
// out[0..8) and written back there.
func q6KPVec() {
	q6kpConsts()
	TEXT("dotQ6KP_vec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)")
	Doc("dotQ6KP_vec8 adds the dot products of a packed group of 8 Q6_K rows (nsb super-blocks) and one int8-quantized row to out[0..8), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xc := Load(Param("xc"), GP64())
	nsb := Load(Param("nsb"), GP64())
	o := Load(Param("out"), GP64())
	acc, m0f, m30 := YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: o}, acc)
	VMOVDQU(q6Mask0f, m0f)
	VMOVDQU(q6Mask30, m30)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	for b := 0; b < 8; b++ {
		// Three or four lines a block: the super-block's 27, prefetchQ6KP ahead.
		for l := (27 * b) / 8; l < (27*(b+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchQ6KP + 64*l))
		}
		pair, lo, hi := YMM(), YMM(), YMM()
		VPMOVSXBW(Mem{Base: w}.Offset(16+16*b), pair)
		VPSHUFB(q6kpDupLo, pair, lo)
		VPSHUFB(q6kpDupHi, pair, hi)
		s := q6kpBlockSum(func(z int) Op { return q6kpValues(w, b, z, m0f, m30) }, Mem{Base: xq}.Offset(32*b),
			func(half int) Op { return []VecVirtual{lo, hi}[half] }, pair, Mem{Base: xc}.Offset(4*b))
		VCVTDQ2PS(s, s)
		f := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*b), f)
		VMULPS(d, f, f)
		VFMADD231PS(f, s, acc)
	}
	ADDQ(U32(q6kpSB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// q6KPUnpack: func(dst, w *byte, nsb int)
// Unpacks nsb super-blocks of a packed Q6_K group for the dotQ6KPS tiles, q6kpBlock bytes
// per block of 32: the 8 rows' 6-bit values as unsigned bytes (the 32 bytes at 32z:
// values 4z..4z+3, one row an int32 lane), the scales of values 0..15 twice in each lane
// (int16), those of values 16..31 likewise, both in one lane (int16 each), and d as 8
// float32.
func q6KPUnpack() {
	q6kpConsts()
	TEXT("q6KPUnpackAVX", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("q6KPUnpackAVX unpacks nsb super-blocks of a packed group of 8 Q6_K rows for the dotQ6KPS tiles, 384 bytes per block of 32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	m0f, m30 := YMM(), YMM()
	VMOVDQU(q6Mask0f, m0f)
	VMOVDQU(q6Mask30, m30)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	for b := 0; b < 8; b++ {
		// As dotQ6KP_vec8: the super-block's 27 lines, prefetchQ6KP ahead.
		for l := (27 * b) / 8; l < (27*(b+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchQ6KP + 64*l))
		}
		for z := 0; z < 8; z++ {
			u := q6kpValues(w, b, z, m0f, m30)
			VMOVDQU(u, Mem{Base: dst}.Offset(q6kpBlock*b+32*z))
		}
		pair, t := YMM(), YMM()
		VPMOVSXBW(Mem{Base: w}.Offset(16+16*b), pair)
		VPSHUFB(q6kpDupLo, pair, t)
		VMOVDQU(t, Mem{Base: dst}.Offset(q6kpBlock*b+256))
		VPSHUFB(q6kpDupHi, pair, t)
		VMOVDQU(t, Mem{Base: dst}.Offset(q6kpBlock*b+288))
		VMOVDQU(pair, Mem{Base: dst}.Offset(q6kpBlock*b+320))
		VMOVUPS(d, Mem{Base: dst}.Offset(q6kpBlock*b+352))
	}
	ADDQ(U32(q6kpSB), w)
	ADDQ(U32(8*q6kpBlock), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
