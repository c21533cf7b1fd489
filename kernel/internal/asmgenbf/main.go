// Command asmgenbf generates the AVX2/FMA kernels of package kernel for bfloat16 weights
// laid out in panels by Pool.Pack (bf16p_amd64.s, declared in bf16p_stubs_amd64.go) with
// avo (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// A panel holds 16 weight rows, element after element: for element l, 32 bytes whose
// int32 lane i has row i's bfloat16 value in its low half and row 8+i's in its high half.
// Shifting the lanes left by 16 bits gives rows 0..7 as float32, masking off the low
// halves rows 8..15, both exactly. The kernels multiply a panel with C activation rows as
// an outer product: for every element, the float32 activation of each row broadcast
// against the 16 widened weights, 2·C accumulators of 8 rows each. Every output is thus
// one fused multiply-add chain over the elements, in order, whatever C is, so a row's
// results do not depend on how many rows are multiplied at once.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// maxC is the most activation rows a tile takes: 2·6 accumulators, two weight vectors
// and a broadcast fill 15 of the 16 YMM registers.
const maxC = 6

func main() {
	ConstraintExpr("!purego")
	hiMask := GLOBL("bf16hi", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0xffff0000))
	}
	for c := 1; c <= maxC; c++ {
		tile(c, hiMask)
	}
	vec(hiMask)
	Generate()
}

// tile: func(w *byte, x *float32, xs int, k int, out *float32, os int)
// adds Σ_l w[r][l]·x[c][l] over l < k, one fused multiply-add after another from zero, to
// out[c*os/4+r] for the 16 rows r of the panel at w and the C activation rows at x
// (stride xs bytes; os in bytes too).
func tile(C int, hiMask Mem) {
	name := fmt.Sprintf("dotBF16P_16x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, x *float32, xs int, k int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 16×%d dot products of a panel of 16 bfloat16 weight rows (Pool.Pack's layout) and %d float32 rows over k elements to out[c*os/4+r] (strides in bytes), each a chain of fused multiply-adds in element order.", name, C, C))
	w := Load(Param("w"), GP64())
	x := Load(Param("x"), GP64())
	xs := Load(Param("xs"), GP64())
	k := Load(Param("k"), GP64())
	// Rows 0..2 at x + {0, xs, 2xs}, rows 3..5 the same from x3 = x + 3xs.
	x3 := GP64()
	if C > 3 {
		LEAQ(Mem{Base: x, Index: xs, Scale: 2}, x3)
		ADDQ(xs, x3)
	}
	row := func(c int) Mem {
		base := x
		if c >= 3 {
			base, c = x3, c-3
		}
		switch c {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: xs, Scale: 1}
		}
		return Mem{Base: base, Index: xs, Scale: 2}
	}
	acc := make([][2]VecVirtual, C)
	for c := range acc {
		for h := range acc[c] {
			acc[c][h] = YMM()
			VXORPS(acc[c][h], acc[c][h], acc[c][h])
		}
	}
	TESTQ(k, k)
	JZ(LabelRef("done"))
	Label("loop")
	lo, hi, bx := YMM(), YMM(), YMM()
	VMOVDQU(Mem{Base: w}, hi)
	VPSLLD(U8(16), hi, lo)
	VPAND(hiMask, hi, hi)
	for c := 0; c < C; c++ {
		VBROADCASTSS(row(c), bx)
		VFMADD231PS(lo, bx, acc[c][0])
		VFMADD231PS(hi, bx, acc[c][1])
	}
	ADDQ(U8(32), w)
	ADDQ(U8(4), x)
	if C > 3 {
		ADDQ(U8(4), x3)
	}
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	for c := 0; c < C; c++ {
		for h := 0; h < 2; h++ {
			m := Mem{Base: o}.Offset(32 * h)
			VADDPS(m, acc[c][h], acc[c][h])
			VMOVUPS(acc[c][h], m)
		}
		if c+1 < C {
			ADDQ(os, o)
		}
	}
	VZEROUPPER()
	RET()
}

// vecPanels is how many panels vec takes at once: 8 independent chains of fused
// multiply-adds hide their latency, where one panel's two would leave the matrix-vector
// product waiting on them rather than on memory.
const vecPanels = 4

// vec: func(w *byte, ps int, x *float32, k int, out *float32)
// is tile with C = 1 for vecPanels panels at once (panel p at w + p·ps, its 16 outputs at
// out[16p:]): the same chain for every output, so its results are tile's.
func vec(hiMask Mem) {
	name := "dotBF16P_vec"
	TEXT(name, NOSPLIT, "func(w *byte, ps int, x *float32, k int, out *float32)")
	Doc(fmt.Sprintf("%s adds the products of %d panels of 16 bfloat16 weight rows (panel p at w + p·ps bytes) and one float32 row over k elements to out[16p+r], as dotBF16P_16x1 does for each.", name, vecPanels))
	w := Load(Param("w"), GP64())
	ps := Load(Param("ps"), GP64())
	x := Load(Param("x"), GP64())
	k := Load(Param("k"), GP64())
	w2 := GP64()
	LEAQ(Mem{Base: w, Index: ps, Scale: 2}, w2)
	panel := func(p int) Mem {
		base := w
		if p >= 2 {
			base, p = w2, p-2
		}
		if p == 0 {
			return Mem{Base: base}
		}
		return Mem{Base: base, Index: ps, Scale: 1}
	}
	acc := make([][2]VecVirtual, vecPanels)
	for p := range acc {
		for h := range acc[p] {
			acc[p][h] = YMM()
			VXORPS(acc[p][h], acc[p][h], acc[p][h])
		}
	}
	TESTQ(k, k)
	JZ(LabelRef("done"))
	bx := YMM()
	Label("loop")
	VBROADCASTSS(Mem{Base: x}, bx)
	for p := 0; p < vecPanels; p++ {
		lo, hi := YMM(), YMM()
		VMOVDQU(panel(p), hi)
		VPSLLD(U8(16), hi, lo)
		VPAND(hiMask, hi, hi)
		VFMADD231PS(lo, bx, acc[p][0])
		VFMADD231PS(hi, bx, acc[p][1])
	}
	ADDQ(U8(32), w)
	ADDQ(U8(32), w2)
	ADDQ(U8(4), x)
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	o := Load(Param("out"), GP64())
	for p := 0; p < vecPanels; p++ {
		for h := 0; h < 2; h++ {
			m := Mem{Base: o}.Offset(64*p + 32*h)
			VADDPS(m, acc[p][h], acc[p][h])
			VMOVUPS(acc[p][h], m)
		}
	}
	VZEROUPPER()
	RET()
}
