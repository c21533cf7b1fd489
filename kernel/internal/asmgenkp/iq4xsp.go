package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// IQ4_XS weights laid out by Pool.Pack in groups of 8 rows (package kernel's
// packIQ4XSGroup), 1088 bytes per super-block of a group (the 8 rows' 8·136 bytes,
// rearranged):
//
//	0:   the 8 rows' d (float16)
//	16:  scales_l: byte b (b < 4) of row r at 16+8b+r
//	48:  scales_h: byte b (b < 2) of row r at 48+8b+r
//	64:  the nibbles: the 32 bytes at 64+128j+32z hold, in row r's int32 lane, bytes
//	     16j+4z..16j+4z+3 of row r's qs: the table indices of values 4z..4z+3 of
//	     sub-block j in the low nibbles, of values 16+4z..16+4z+3 in the high ones.
//
// The values are signed (kvalues_iq4nl, -127..113) and the activations too, so the
// kernels multiply |w| (unsigned) by x with w's sign (VPSIGNB; no table value is 0) in
// VPMADDUBSW, whose pair sums stay below 2·127·127 = 32258, and widen each to int32 at
// once: the exact Σw·x with no offset to take off.
const (
	iq4xspSB    = 1088 // bytes per super-block of a group
	iq4xspBlock = 288  // bytes per block of 32 unpacked by iq4XSPUnpack: values, d·(ls-32)
	// prefetchIQ4XSP is how far ahead in a group dotIQ4XSP_vec8 prefetches.
	prefetchIQ4XSP = 2 * iq4xspSB
)

var iq4Table, c3, c32 Mem

func iq4xsConsts() {
	if iq4Table.Symbol.Name != "" {
		return
	}
	// ggml's kvalues_iq4nl, twice (one copy per 128-bit lane for VPSHUFB).
	iq4 := []int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	iq4Table = GLOBL("kp_iq4nl", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(uint8(iq4[i%16])))
	}
	c3 = u32Const("kp_c3", 3)
	c32 = u32Const("kp_c32", 32)
}

// iq4xsScales returns, for sub-block j of the super-block at w, the 8 rows' d·(ls_j-32)
// as float32, one row per int32 lane (d as float32, from the caller).
func iq4xsScales(w Register, j int, d VecVirtual) VecVirtual {
	ls, hi := YMM(), YMM()
	VPMOVZXBD(Mem{Base: w}.Offset(16+8*(j/2)), ls)
	if j%2 == 1 {
		VPSRLD(U8(4), ls, ls)
	}
	VPAND(c15, ls, ls)
	VPMOVZXBD(Mem{Base: w}.Offset(48+8*(j/4)), hi)
	if s := 2 * (j % 4); s > 0 {
		VPSRLD(U8(s), hi, hi)
	}
	VPAND(c3, hi, hi)
	VPSLLD(U8(4), hi, hi)
	VPOR(hi, ls, ls)
	VPSUBD(c32, ls, ls)
	VCVTDQ2PS(ls, ls)
	VMULPS(d, ls, ls)
	return ls
}

// iq4xsValues returns the signed values 4z..4z+3 (z < 8) of sub-block j of the 8 rows
// of the super-block at w (one row an int32 lane, one value a byte), from the table in
// tab.
func iq4xsValues(w Register, j, z int, mask, tab VecVirtual) VecVirtual {
	v := YMM()
	VMOVDQU(Mem{Base: w}.Offset(64+128*j+32*(z%4)), v)
	if z >= 4 {
		VPSRLW(U8(4), v, v)
	}
	VPAND(mask, v, v)
	VPSHUFB(v, tab, v)
	return v
}

// iq4xsProduct adds to sum (int32 lanes; nil: sets it) the products of the signed
// values in v (overwritten with |v|) and the four activation bytes at x broadcast, and
// returns sum.
func iq4xsProduct(v Op, a VecVirtual, x Mem, sum VecVirtual) VecVirtual {
	xb := YMM()
	VPBROADCASTD(x, xb)
	VPSIGNB(v, xb, xb)
	VPMADDUBSW(xb, a, xb)
	VPMADDWD(onesW, xb, xb)
	if sum == nil {
		return xb
	}
	VPADDD(xb, sum, sum)
	return sum
}

// iq4XSPVec: func(w *byte, xq *int8, xd *float32, nsb int, out *float32)
// The IQ4_XS matrix-vector kernel for one packed group of 8 rows (nsb super-blocks) and
// one row quantized by QuantizeQ8 (xq, xd). Per block of 32 and row (int32 lane): the
// exact Σ w·x, then acc = float(Σ)·(d·(ls-32)·dx) + acc, fused, block after block,
// starting from out[0..8) and written back there.
func iq4XSPVec() {
	iq4xsConsts()
	TEXT("dotIQ4XSP_vec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int, out *float32)")
	Doc("dotIQ4XSP_vec8 adds the dot products of a packed group of 8 IQ4_XS rows (nsb super-blocks) and one int8-quantized row to out[0..8), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	o := Load(Param("out"), GP64())
	acc, mask, tab := YMM(), YMM(), YMM()
	VMOVUPS(Mem{Base: o}, acc)
	VMOVDQU(low4, mask)
	VMOVDQU(iq4Table, tab)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	for j := 0; j < 8; j++ {
		// Two or three lines a block: the super-block's 17, prefetchIQ4XSP ahead.
		for l := (17 * j) / 8; l < (17*(j+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchIQ4XSP + 64*l))
		}
		var sum VecVirtual
		for z := 0; z < 8; z++ {
			v := iq4xsValues(w, j, z, mask, tab)
			a := YMM()
			VPABSB(v, a)
			sum = iq4xsProduct(v, a, Mem{Base: xq}.Offset(32*j+4*z), sum)
		}
		dl := iq4xsScales(w, j, d)
		s := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*j), s)
		VMULPS(dl, s, s)
		VCVTDQ2PS(sum, sum)
		VFMADD231PS(s, sum, acc)
	}
	ADDQ(U32(iq4xspSB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// iq4XSPUnpack: func(dst, w *byte, nsb int)
// Unpacks nsb super-blocks of a packed IQ4_XS group for the dotIQ4XSP tiles,
// iq4xspBlock bytes per block of 32: the 8 rows' signed values (the 32 bytes at 32z:
// values 4z..4z+3, one row an int32 lane), then d·(ls-32) as 8 float32, computed as
// dotIQ4XSP_vec8 computes it.
func iq4XSPUnpack() {
	iq4xsConsts()
	TEXT("iq4XSPUnpackAVX", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("iq4XSPUnpackAVX unpacks nsb super-blocks of a packed group of 8 IQ4_XS rows for the dotIQ4XSP tiles, 288 bytes per block of 32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	mask, tab := YMM(), YMM()
	VMOVDQU(low4, mask)
	VMOVDQU(iq4Table, tab)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	for j := 0; j < 8; j++ {
		for z := 0; z < 8; z++ {
			v := iq4xsValues(w, j, z, mask, tab)
			VMOVDQU(v, Mem{Base: dst}.Offset(iq4xspBlock*j+32*z))
		}
		dl := iq4xsScales(w, j, d)
		VMOVUPS(dl, Mem{Base: dst}.Offset(iq4xspBlock*j+256))
	}
	ADDQ(U32(iq4xspSB), w)
	ADDQ(U32(8*iq4xspBlock), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// iq4XSPTile: func(w *byte, xq *int8, xqs int, xd *float32, xds int, nb int, out *float32, os int)
// 8 IQ4_XS rows unpacked by iq4XSPUnpackAVX (nb blocks of 32) against C rows quantized by
// QuantizeQ8 (strides in bytes), adding to out[c*os/4 + 0..8) block after block with the
// arithmetic of dotIQ4XSP_vec8, so that each result is bit-identical to it. The block's
// 8 vectors of |w| stay in registers for the C rows; the signs come from memory.
func iq4XSPTile(C int) {
	name := fmt.Sprintf("dotIQ4XSP_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xqs int, xd *float32, xds int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 IQ4_XS rows unpacked by iq4XSPUnpackAVX and int8-quantized rows to out[c*os/4+r], block after block.", name, C))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xqs := Load(Param("xqs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
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
		VMOVUPS(rowAt(o, os, os3, c), acc[c])
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	a := make([]VecVirtual, 8)
	for z := range a {
		a[z] = YMM()
		VPABSB(Mem{Base: w}.Offset(32*z), a[z])
	}
	for c := 0; c < C; c++ {
		xr := rowAt(xq, xqs, xqs3, c)
		var sum VecVirtual
		for z := 0; z < 8; z++ {
			sum = iq4xsProduct(Mem{Base: w}.Offset(32*z), a[z], xr.Offset(4*z), sum)
		}
		s := YMM()
		VBROADCASTSS(rowAt(xd, xds, xds3, c), s)
		VMULPS(Mem{Base: w}.Offset(256), s, s)
		VCVTDQ2PS(sum, sum)
		VFMADD231PS(s, sum, acc[c])
	}
	ADDQ(U32(iq4xspBlock), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], rowAt(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}
