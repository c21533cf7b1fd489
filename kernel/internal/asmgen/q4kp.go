package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Q4_K weights laid out by Pool.Pack in groups of 8 rows (package kernel's packQ4KGroup),
// 1152 bytes per super-block of a group (the 8 rows' 8·144 bytes, rearranged):
//
//	0:    the 8 rows' d (float16)
//	16:   the 8 rows' dmin (float16)
//	32:   the 12 bytes of packed 6-bit scales and mins, byte b of row r at 32+8b+r
//	128:  the nibbles: the 32 bytes at 128+256g+32z hold, in row r's int32 lane (4r),
//	      bytes 32g+4z..32g+4z+3 of row r's 128: values 4z..4z+3 of sub-block 2g in
//	      the low nibbles, of sub-block 2g+1 in the high ones.
//
// Each int32 lane is one weight row throughout, so a block of 32 values of the 8 rows
// costs one conversion, multiply and FMA per activation row (as the Q4_0 kernels).
const (
	q4kpSB    = 1152 // bytes per super-block of a group
	q4kpBlock = 320  // bytes per block of 32 unpacked by q4KPUnpack: values, d·sc, dmin·m
	// prefetchQ4KP is how far ahead in a group dotQ4KP_vec8 prefetches.
	prefetchQ4KP = 2 * q4kpSB
)

var q4kpC63, q4kpC15 Mem

// q4kpScales returns, for sub-block j of the super-block at w, the 8 rows' d·sc_j and
// dmin·m_j as float32 (ggml's get_scale_min_k4 on the transposed scale bytes, one row
// per int32 lane).
func q4kpScales(w Register, j int, d, dmin VecVirtual) (dsc, dm VecVirtual) {
	sb := func(b int) Mem { return Mem{Base: w}.Offset(32 + 8*b) }
	dsc, dm = YMM(), YMM()
	if j < 4 {
		VPMOVZXBD(sb(j), dsc)
		VPAND(q4kpC63, dsc, dsc)
		VPMOVZXBD(sb(j+4), dm)
		VPAND(q4kpC63, dm, dm)
	} else {
		hi, t := YMM(), YMM()
		VPMOVZXBD(sb(j+4), hi)
		VPMOVZXBD(sb(j-4), t)
		VPSRLD(U8(6), t, t)
		VPSLLD(U8(4), t, t)
		VPAND(q4kpC15, hi, dsc)
		VPOR(t, dsc, dsc) // q[j+4]&15 | (q[j-4]>>6)<<4
		VPMOVZXBD(sb(j), t)
		VPSRLD(U8(6), t, t)
		VPSLLD(U8(4), t, t)
		VPSRLD(U8(4), hi, dm)
		VPOR(t, dm, dm) // q[j+4]>>4 | (q[j]>>6)<<4
	}
	VCVTDQ2PS(dsc, dsc)
	VMULPS(d, dsc, dsc)
	VCVTDQ2PS(dm, dm)
	VMULPS(dmin, dm, dm)
	return dsc, dm
}

// q4kpFinish adds one block's products to acc with the arithmetic every packed Q4_K kernel
// shares: sum holds the 8 rows' int16 pair sums of q·x, s its dsc·dx once multiplied
// (s is overwritten); acc = (float(Σ q·x))·(dsc·dx) + acc, then acc = -(dm·xm) + acc,
// both fused, xm the activation block's dx·Σx.
func q4kpFinish(sum VecVirtual, onesW Op, s VecVirtual, dm Op, xm Mem, acc VecVirtual) {
	VPMADDWD(onesW, sum, sum)
	VCVTDQ2PS(sum, sum)
	VFMADD231PS(s, sum, acc)
	t := YMM()
	VBROADCASTSS(xm, t)
	VFNMADD231PS(dm, t, acc)
}

func q4kpConsts() {
	initConsts()
	if q4kpC63.Symbol.Name != "" {
		return
	}
	q4kpC63 = u32Const("q4kpc63", 63)
	q4kpC15 = u32Const("q4kpc15", 15)
}

// q4KPVec: func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)
// The Q4_K matrix-vector kernel for one packed group of 8 rows (nsb super-blocks) and one
// row quantized by QuantizeQ8 (xq, xd; xm: dx·Σx per block). Per block of 32 and row
// (int32 lane): the exact Σ q·x (int16 pair sums below 8·2·15·127 = 30480), then
// acc = float(Σ)·(d·sc·dx) + acc and acc = -(dmin·m)·xm + acc, fused, block after block,
// starting from out[0..8) and written back there.
func q4KPVec(onesW Mem) {
	q4kpConsts()
	TEXT("dotQ4KP_vec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)")
	Doc("dotQ4KP_vec8 adds the dot products of a packed group of 8 Q4_K rows (nsb super-blocks) and one int8-quantized row to out[0..8), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xm := Load(Param("xm"), GP64())
	nsb := Load(Param("nsb"), GP64())
	o := Load(Param("out"), GP64())
	acc, mask := YMM(), YMM()
	VMOVUPS(Mem{Base: o}, acc)
	VMOVDQU(consts.low4(), mask)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d, dmin := YMM(), YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	VCVTPH2PS(Mem{Base: w}.Offset(16), dmin)
	for j := 0; j < 8; j++ {
		g, h := j/2, j%2
		// Two or three lines a block: the super-block's 18, prefetchQ4KP ahead.
		for l := (18 * j) / 8; l < (18*(j+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchQ4KP + 64*l))
		}
		var sum VecVirtual
		for z := 0; z < 8; z++ {
			v, xb := YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(128+256*g+32*z), v)
			if h == 1 {
				VPSRLW(U8(4), v, v)
			}
			VPAND(mask, v, v)
			VPBROADCASTD(Mem{Base: xq}.Offset(32*j+4*z), xb)
			VPMADDUBSW(xb, v, v)
			if z == 0 {
				sum = v
			} else {
				VPADDW(v, sum, sum)
			}
		}
		dsc, dm := q4kpScales(w, j, d, dmin)
		s := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*j), s)
		VMULPS(dsc, s, s)
		q4kpFinish(sum, onesW, s, dm, Mem{Base: xm}.Offset(4*j), acc)
	}
	ADDQ(U32(q4kpSB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xm)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// q4KPUnpack: func(dst, w *byte, nsb int)
// Unpacks nsb super-blocks of a packed Q4_K group for the dotQ4KP tiles, q4kpBlock bytes
// per block of 32: the 8 rows' values as unsigned bytes (the 32 bytes at 32z: values
// 4z..4z+3, one row an int32 lane), then d·sc and dmin·m as 8 float32 each, computed as
// dotQ4KP_vec8 computes them.
func q4KPUnpack() {
	q4kpConsts()
	TEXT("q4KPUnpackAVX", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("q4KPUnpackAVX unpacks nsb super-blocks of a packed group of 8 Q4_K rows for the dotQ4KP tiles, 320 bytes per block of 32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	mask := YMM()
	VMOVDQU(consts.low4(), mask)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d, dmin := YMM(), YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	VCVTPH2PS(Mem{Base: w}.Offset(16), dmin)
	for g := 0; g < 4; g++ {
		for z := 0; z < 8; z++ {
			v, hv := YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(128+256*g+32*z), v)
			VPSRLW(U8(4), v, hv)
			VPAND(mask, v, v)
			VPAND(mask, hv, hv)
			VMOVDQU(v, Mem{Base: dst}.Offset(q4kpBlock*(2*g)+32*z))
			VMOVDQU(hv, Mem{Base: dst}.Offset(q4kpBlock*(2*g+1)+32*z))
		}
	}
	for j := 0; j < 8; j++ {
		dsc, dm := q4kpScales(w, j, d, dmin)
		VMOVUPS(dsc, Mem{Base: dst}.Offset(q4kpBlock*j+256))
		VMOVUPS(dm, Mem{Base: dst}.Offset(q4kpBlock*j+288))
	}
	ADDQ(U32(q4kpSB), w)
	ADDQ(U32(8*q4kpBlock), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// q4KPTile: func(w *byte, xq *int8, xqs int, xd *float32, xds int, xm *float32, nb int, out *float32, os int)
// 8 Q4_K rows unpacked by q4KPUnpack (nb blocks of 32) against C rows quantized by
// QuantizeQ8 (strides in bytes; xm: dx·Σx per block, with the stride of xd), adding to
// out[c*os/4 + 0..8) block after block with the arithmetic of dotQ4KP_vec8, so that each
// result is bit-identical to it. The block's 8 value vectors stay in registers for the C
// rows.
func q4KPTile(C int, onesW Mem) {
	name := fmt.Sprintf("dotQ4KP_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xqs int, xd *float32, xds int, xm *float32, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 Q4_K rows unpacked by q4KPUnpackAVX and int8-quantized rows to out[c*os/4+r], block after block.", name, C))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xqs := Load(Param("xqs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
	xm := Load(Param("xm"), GP64())
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
	v := make([]VecVirtual, 8)
	for z := range v {
		v[z] = YMM()
		VMOVDQU(Mem{Base: w}.Offset(32*z), v[z])
	}
	for c := 0; c < C; c++ {
		xr := avoext.RowAt(xq, xqs, xqs3, c)
		var sum VecVirtual
		for z := 0; z < 8; z++ {
			p := YMM()
			VPBROADCASTD(xr.Offset(4*z), p)
			VPMADDUBSW(p, v[z], p)
			if z == 0 {
				sum = p
			} else {
				VPADDW(p, sum, sum)
			}
		}
		s := YMM()
		VBROADCASTSS(avoext.RowAt(xd, xds, xds3, c), s)
		VMULPS(Mem{Base: w}.Offset(256), s, s)
		q4kpFinish(sum, onesW, s, Mem{Base: w}.Offset(288), avoext.RowAt(xm, xds, xds3, c), acc[c])
	}
	ADDQ(U32(q4kpBlock), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(4), xm)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], avoext.RowAt(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}
