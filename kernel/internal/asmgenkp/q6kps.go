package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// q6kpsBlock is the size in bytes of one block of 32 of a packed Q6_K group unpacked by
// q6KPUnpackAVX (asmgen's q6kp.go): at 0 the 8 rows' 6-bit values u as unsigned bytes
// (the 32 bytes at 32z: values 4z..4z+3, one row an int32 lane), at 256 and 288 the
// scales of values 0..15 and 16..31 twice in each lane (int16), at 352 d as 8 float32.
const q6kpsBlock = 384

// rowAt2 returns the address of row j (j < 4) of an array whose rows are 2·stride bytes
// apart (s3 = 3·stride): the activation sums of the dotQ6KPS tiles, two int32 a block
// where xd has one float32.
func rowAt2(base, stride, s3 Register, j int) Mem {
	switch j {
	case 0:
		return Mem{Base: base}
	case 1:
		return Mem{Base: base, Index: stride, Scale: 2}
	case 2:
		return Mem{Base: base, Index: stride, Scale: 4}
	}
	return Mem{Base: base, Index: s3, Scale: 2}
}

// q6KPSTile: func(w *byte, xq *int8, xqs int, xd *float32, xds int, xc *int32, nb int, out *float32, os int)
// 8 Q6_K rows unpacked by q6KPUnpackAVX (nb blocks of 32) against C rows quantized by
// QuantizeQ8 (strides in bytes), adding to out[c*os/4 + 0..8) block after block with
// the result of dotQ6KP_vec8 (and of the dotQ6KP tiles), bit for bit: the same exact
// Σ sc·(u-32)·x per block and row, then acc = float(Σ)·(d·dx) + acc, fused.
//
// xc holds, per activation row and block, two int32 (rows 2·xds bytes apart): for each
// half h of the block (values 16h..16h+15, one scale), 32 times the sums of the values
// 4z, 4z+1 (low int16) and 4z+2, 4z+3 (high int16) over z = 4h..4h+3: the positions
// whose products VPMADDUBSW puts in a lane's low and high word. Where the dotQ6KP tiles
// widen the int16 sums of every two VPMADDUBSW with a VPMADDWD by the scale (four per
// block) and take 32·Σx·sc off in int32 (a fifth VPMADDWD, a shift and a subtraction),
// these add the four VPMADDUBSW of a half in int16 (wrapping; their sum of u·x may pass
// 32767) and subtract xc's words there, which leaves Σ(u-32)·x over 8 values per word,
// at most 8·32·127 = 32512: exact in int16. One VPMADDWD by the half's scale then
// widens it: 10 multiplications a block and activation row where the dotQ6KP tiles
// spend 13.
func q6KPSTile(C int) {
	name := fmt.Sprintf("dotQ6KPS_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xqs int, xd *float32, xds int, xc *int32, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 Q6_K rows unpacked by q6KPUnpackAVX and int8-quantized rows (xc: q6KHalfSums, rows 2·xds bytes apart) to out[c*os/4+r], block after block, with the arithmetic of dotQ6KP_vec8.", name, C))
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
		VMOVUPS(rowAt(o, os, os3, c), acc[c])
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
		xr := rowAt(xq, xqs, xqs3, c)
		cr := rowAt2(xc, xds, xds3, c)
		var s VecVirtual
		for h := 0; h < 2; h++ {
			var g VecVirtual
			for z := 4 * h; z < 4*h+4; z++ {
				t := YMM()
				VPBROADCASTD(xr.Offset(4*z), t)
				VPMADDUBSW(t, v[z], t)
				if g == nil {
					g = t
				} else {
					VPADDW(t, g, g)
				}
			}
			t := YMM()
			VPBROADCASTD(cr.Offset(4*h), t)
			VPSUBW(t, g, g)
			VPMADDWD(Mem{Base: w}.Offset(256+32*h), g, g)
			if s == nil {
				s = g
			} else {
				VPADDD(g, s, s)
			}
		}
		VCVTDQ2PS(s, s)
		f := YMM()
		VBROADCASTSS(rowAt(xd, xds, xds3, c), f)
		VMULPS(Mem{Base: w}.Offset(352), f, f)
		VFMADD231PS(f, s, acc[c])
	}
	ADDQ(U32(q6kpsBlock), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(8), xc)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], rowAt(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}
