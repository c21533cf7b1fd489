package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Q8_0 weights laid out by Pool.Pack for the AVX2 kernels (package kernel's packGroup and
// groupLayout): groups of 16 rows, 544 bytes a block of 32 values, the size of the 16
// rows' blocks as stored:
//
//	0:   the 16 rows' float16 scales (rows 8h..8h+7 at 16h)
//	32:  the values: the 32 bytes at 32+64q+32h hold rows 8h..8h+7, one int32 lane a
//	     row, values 4q..4q+3 of the block (q < 8)
//
// Every kernel of this layout sums each weight row r and activation row the same way,
// block after block: s = Σ w·x exactly in int32 (|w| by x with w's sign, VPMADDUBSW, in
// int16 pairs of at most 2·128·127, then VPMADDWD and VPADDD), then
// acc = (float(s)·dx)·dw + acc, the multiply rounded and the add fused. One activation
// row (dotQ8G_vec16) and several (dotQ8G_8xC) therefore give the same bits.
const (
	q8gBlock = 544 // bytes per block of a group
	// prefetchQ8G is how far ahead in a group dotQ8G_vec16 prefetches: 4 blocks.
	prefetchQ8G = 4 * q8gBlock
)

// q8gDot emits the int32 sums of one int32 lane's 4 products: v the weights (4 values of
// 8 rows), a = |v|, xb the 4 activation values broadcast; xb is overwritten with the
// result, which is added to *sum (or becomes it, where *sum is nil).
func q8gDot(v, a, xb VecVirtual, ones Op, sum *VecVirtual) {
	VPSIGNB(v, xb, xb)    // x with the sign of w
	VPMADDUBSW(xb, a, xb) // |w|·(±x) in pairs: at most 2·128·127, no saturation
	VPMADDWD(ones, xb, xb)
	if *sum == nil {
		*sum = xb
	} else {
		VPADDD(xb, *sum, *sum)
	}
}

// q8gVec: func(w *byte, xq *int8, xd *float32, nb int, out *float32)
// The Q8_0 matrix-vector kernel for one packed group of 16 rows (nb blocks of 544 bytes at
// w) and one row quantized by QuantizeQ8 (xq, xd), adding to out[0..16) block after
// block. The group is one sequential stream, prefetched prefetchQ8G bytes ahead.
func q8gVec(onesW Mem) {
	TEXT("dotQ8G_vec16", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nb int, out *float32)")
	Doc("dotQ8G_vec16 adds the dot products of a packed group of 16 Q8_0 rows (nb blocks of 544 bytes at w) and one int8-quantized row to out[0..16), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	acc := [2]VecVirtual{YMM(), YMM()}
	VMOVUPS(Mem{Base: o}, acc[0])
	VMOVUPS(Mem{Base: o}.Offset(32), acc[1])
	ones := YMM()
	VMOVDQU(onesW, ones)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	for l := 0; l < 9; l++ { // the block's 544 bytes
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQ8G + 64*l))
	}
	var sum [2]VecVirtual
	for q := 0; q < 8; q++ {
		x := YMM()
		VPBROADCASTD(Mem{Base: xq}.Offset(4*q), x)
		for h := 0; h < 2; h++ {
			v, a, t := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(32+64*q+32*h), v)
			VPABSB(v, a)
			VMOVDQA(x, t)
			q8gDot(v, a, t, ones, &sum[h])
		}
	}
	d := YMM()
	VBROADCASTSS(Mem{Base: xd}, d)
	for h := 0; h < 2; h++ {
		dw := YMM()
		VCVTPH2PS(Mem{Base: w}.Offset(16*h), dw)
		VCVTDQ2PS(sum[h], sum[h])
		VMULPS(d, sum[h], sum[h])
		VFMADD231PS(dw, sum[h], acc[h])
	}
	ADDQ(U32(q8gBlock), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc[0], Mem{Base: o})
	VMOVUPS(acc[1], Mem{Base: o}.Offset(32))
	VZEROUPPER()
	RET()
}

// q8gTile: func(sc, q *byte, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)
// 8 rows of a packed Q8_0 group (sc: their float16 scales, q: their values, the 32 bytes
// at 64q' of a block's 512; both 544 bytes a block) against C rows quantized by QuantizeQ8
// (strides xs, xds in bytes), adding to out[c*os/4 + 0..8) block after block with the
// arithmetic of dotQ8G_vec16, so that each result is bit-identical to it. Each weight
// vector and its |w| serve the C rows from registers.
func q8gTile(C int, onesW Mem) {
	name := fmt.Sprintf("dotQ8G_8x%d", C)
	TEXT(name, NOSPLIT, "func(sc, q *byte, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 rows of a packed Q8_0 group and int8-quantized rows to out[c*os/4+r], block after block.", name, C))
	sc := Load(Param("sc"), GP64())
	q := Load(Param("q"), GP64())
	xq := Load(Param("xq"), GP64())
	xs := Load(Param("xs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	var xs3, xds3, os3 GPVirtual
	if C == 4 {
		xs3, xds3, os3 = GP64(), GP64(), GP64()
		LEAQ(Mem{Base: xs, Index: xs, Scale: 2}, xs3)
		LEAQ(Mem{Base: xds, Index: xds, Scale: 2}, xds3)
		LEAQ(Mem{Base: os, Index: os, Scale: 2}, os3)
	}
	rowMem := func(base, stride, stride3 Register, c int) Mem {
		switch c {
		case 0:
			return Mem{Base: base}
		case 1, 2:
			return Mem{Base: base, Index: stride, Scale: uint8(c)}
		}
		return Mem{Base: base, Index: stride3, Scale: 1}
	}
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VMOVUPS(rowMem(o, os, os3, c), acc[c])
	}
	ones := YMM()
	VMOVDQU(onesW, ones)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	sum := make([]VecVirtual, C)
	for qq := 0; qq < 8; qq++ {
		v, a := YMM(), YMM()
		VMOVDQU(Mem{Base: q}.Offset(64*qq), v)
		VPABSB(v, a)
		for c := 0; c < C; c++ {
			x := YMM()
			VPBROADCASTD(rowMem(xq, xs, xs3, c).Offset(4*qq), x)
			q8gDot(v, a, x, ones, &sum[c])
		}
	}
	dw := YMM()
	VCVTPH2PS(Mem{Base: sc}, dw)
	for c := 0; c < C; c++ {
		d := YMM()
		VBROADCASTSS(rowMem(xd, xds, xds3, c), d)
		VCVTDQ2PS(sum[c], sum[c])
		VMULPS(d, sum[c], sum[c])
		VFMADD231PS(dw, sum[c], acc[c])
	}
	ADDQ(U32(q8gBlock), sc)
	ADDQ(U32(q8gBlock), q)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], rowMem(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}
