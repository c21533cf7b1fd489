// Command asmgen generates the AVX2/FMA assembly of package kernel with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/kernel_amd64.s and the Go declarations kernel/kernel_amd64_stubs.go.
//
// The kernels are small register tiles: R weight rows against C activation rows, each
// producing the R·C dot products of one tile, so that every weight value loaded from
// memory is used C times and every activation value R times. Go code in package kernel
// walks the tiles, handles ragged edges and splits the work over threads.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Weight types of the float tiles.
const (
	f32 = iota
	bf16
	f16
)

var floatNames = []string{"F32", "BF16", "F16"}
var floatSize = []int{4, 2, 2}

func main() {
	ConstraintExpr("!purego")

	onesW := GLOBL("onesw", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(2*i, U16(1))
	}
	low4 := GLOBL("low4", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x0f))
	}
	eights := GLOBL("eights", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(8))
	}

	for t := range floatNames {
		for r := 1; r <= 4; r++ {
			for c := 1; c <= 4; c++ {
				if r*c+r+1 <= 16 {
					floatTile(t, r, c)
				}
			}
		}
	}
	for _, q4 := range []bool{false, true} {
		for r := 1; r <= 4; r++ {
			for c := 1; c <= 4; c++ {
				if r*c+2*r+4 <= 16 {
					quantTile(q4, r, c, onesW, low4, eights)
				}
			}
		}
	}
	dot()
	axpy()
	Generate()
}

// reduceStore sums the 8 lanes of acc and stores the float32 at dst.
func reduceStore(acc VecVirtual, dst Mem) {
	x := XMM()
	VEXTRACTF128(U8(1), acc, x)
	VADDPS(acc.AsX(), x, x)
	VHADDPS(x, x, x)
	VHADDPS(x, x, x)
	VMOVSS(x, dst)
}

// floatTile: func(w *byte, ws int, x *float32, xs int, k int, out *float32)
// out[i*c+j] = Σ_l w[i][l]·x[j][l] for l < k (k a multiple of 8); ws and xs are row
// strides in bytes.
func floatTile(t, R, C int) {
	name := fmt.Sprintf("dot%s_%dx%d", floatNames[t], R, C)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, x *float32, xs int, k int, out *float32)")
	Doc(fmt.Sprintf("%s computes the %d×%d dot products of %d %s weight rows and %d float32 rows over k elements (k a multiple of 8; strides in bytes).", name, R, C, R, floatNames[t], C))
	wb := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	xb := Load(Param("x"), GP64())
	xs := Load(Param("xs"), GP64())
	k := Load(Param("k"), GP64())
	wp := make([]GPVirtual, R)
	for i := range wp {
		wp[i] = GP64()
		if i == 0 {
			MOVQ(wb, wp[i])
		} else {
			LEAQ(Mem{Base: wp[i-1], Index: ws, Scale: 1}, wp[i])
		}
	}
	xp := make([]GPVirtual, C)
	for j := range xp {
		xp[j] = GP64()
		if j == 0 {
			MOVQ(xb, xp[j])
		} else {
			LEAQ(Mem{Base: xp[j-1], Index: xs, Scale: 1}, xp[j])
		}
	}
	acc := make([][]VecVirtual, R)
	for i := range acc {
		acc[i] = make([]VecVirtual, C)
		for j := range acc[i] {
			acc[i][j] = YMM()
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	SHRQ(U8(3), k)
	JZ(LabelRef("done"))
	Label("loop")
	wv := make([]VecVirtual, R)
	for i := range wv {
		wv[i] = YMM()
		m := Mem{Base: wp[i]}
		switch t {
		case f32:
			VMOVUPS(m, wv[i])
		case bf16:
			VPMOVZXWD(m, wv[i])
			VPSLLD(U8(16), wv[i], wv[i])
		case f16:
			VCVTPH2PS(m, wv[i])
		}
	}
	xv := YMM()
	for j := 0; j < C; j++ {
		VMOVUPS(Mem{Base: xp[j]}, xv)
		for i := 0; i < R; i++ {
			VFMADD231PS(wv[i], xv, acc[i][j])
		}
	}
	for i := range wp {
		ADDQ(U32(8*floatSize[t]), wp[i])
	}
	for j := range xp {
		ADDQ(U32(32), xp[j])
	}
	DECQ(k)
	JNZ(LabelRef("loop"))
	Label("done")
	out := Mem{Base: Load(Param("out"), GP64())}
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			reduceStore(acc[i][j], out.Offset(4*(i*C+j)))
		}
	}
	VZEROUPPER()
	RET()
}

// quantTile: func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32)
// Dot products over nb blocks of 32 of Q8_0 or Q4_0 weight rows (ggml block layout: an f16
// scale then 32 int8, or 16 bytes of nibbles) against activations quantized to int8 (xq,
// 32 per block) with float32 scales xd (one per block). Within a block the products are
// exact integer sums; out[i*C+j] = Σ_b float(isum_b)·dw_b·dx_b.
func quantTile(q4 bool, R, C int, onesW, low4, eights Mem) {
	tn := "Q8_0"
	bb := 34
	if q4 {
		tn = "Q4_0"
		bb = 18
	}
	name := fmt.Sprintf("dot%s_%dx%d", tn, R, C)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32)")
	Doc(fmt.Sprintf("%s computes the %d×%d dot products of %d %s weight rows and %d int8-quantized rows over nb blocks of 32 (strides in bytes).", name, R, C, R, tn, C))
	wb := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	wp := make([]GPVirtual, R)
	for i := range wp {
		wp[i] = GP64()
		if i == 0 {
			MOVQ(wb, wp[i])
		} else {
			LEAQ(Mem{Base: wp[i-1], Index: ws, Scale: 1}, wp[i])
		}
	}
	xb := Load(Param("xq"), GP64())
	xs := Load(Param("xs"), GP64())
	xp := make([]GPVirtual, C)
	for j := range xp {
		xp[j] = GP64()
		if j == 0 {
			MOVQ(xb, xp[j])
		} else {
			LEAQ(Mem{Base: xp[j-1], Index: xs, Scale: 1}, xp[j])
		}
	}
	db := Load(Param("xd"), GP64())
	ds := Load(Param("xds"), GP64())
	dp := make([]GPVirtual, C)
	for j := range dp {
		dp[j] = GP64()
		if j == 0 {
			MOVQ(db, dp[j])
		} else {
			LEAQ(Mem{Base: dp[j-1], Index: ds, Scale: 1}, dp[j])
		}
	}
	nb := Load(Param("nb"), GP64())
	acc := make([][]VecVirtual, R)
	for i := range acc {
		acc[i] = make([]VecVirtual, C)
		for j := range acc[i] {
			acc[i][j] = YMM()
			VXORPS(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	wv := make([]VecVirtual, R)
	dw := make([]VecVirtual, R)
	tv := YMM()
	sv := YMM()
	for i := 0; i < R; i++ {
		wv[i] = YMM()
		dw[i] = YMM()
		if q4 {
			VMOVDQU(Mem{Base: wp[i]}.Offset(2), wv[i].AsX())
			VPSRLW(U8(4), wv[i].AsX(), tv.AsX())
			VINSERTI128(U8(1), tv.AsX(), wv[i], wv[i])
			VPAND(low4, wv[i], wv[i])
			VPSUBB(eights, wv[i], wv[i])
		} else {
			VMOVDQU(Mem{Base: wp[i]}.Offset(2), wv[i])
		}
		VPBROADCASTW(Mem{Base: wp[i]}, tv.AsX())
		VCVTPH2PS(tv.AsX(), dw[i])
	}
	ax := YMM()
	dx := YMM()
	for j := 0; j < C; j++ {
		xm := Mem{Base: xp[j]}
		VPABSB(xm, ax)
		VBROADCASTSS(Mem{Base: dp[j]}, dx)
		for i := 0; i < R; i++ {
			VPSIGNB(xm, wv[i], tv)  // w with the sign of x
			VPMADDUBSW(tv, ax, tv)  // |x|·(±w), pairs summed to int16 (no saturation: |x| ≤ 127, |w| ≤ 128)
			VPMADDWD(onesW, tv, tv) // int16 pairs summed to int32
			VCVTDQ2PS(tv, tv)       // exact: each lane |sum| < 2^24
			VMULPS(dx, dw[i], sv)   // dw·dx
			VFMADD231PS(tv, sv, acc[i][j])
		}
	}
	for i := range wp {
		ADDQ(U32(bb), wp[i])
	}
	for j := range xp {
		ADDQ(U32(32), xp[j])
		ADDQ(U32(4), dp[j])
	}
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	out := Mem{Base: Load(Param("out"), GP64())}
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			reduceStore(acc[i][j], out.Offset(4*(i*C+j)))
		}
	}
	VZEROUPPER()
	RET()
}

// dot: func(a, b *float32, n int) float32, n a multiple of 8.
func dot() {
	TEXT("dotAVX", NOSPLIT, "func(a, b *float32, n int) float32")
	Doc("dotAVX returns Σ a[i]·b[i] over n elements (n a multiple of 8).")
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	n := Load(Param("n"), GP64())
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
		VXORPS(acc[i], acc[i], acc[i])
	}
	v := YMM()
	Label("loop32")
	CMPQ(n, U8(32))
	JL(LabelRef("loop8"))
	for i := 0; i < 4; i++ {
		VMOVUPS(Mem{Base: a}.Offset(32*i), v)
		VFMADD231PS(Mem{Base: b}.Offset(32*i), v, acc[i])
	}
	ADDQ(U8(128), a)
	ADDQ(U8(128), b)
	SUBQ(U8(32), n)
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(n, U8(8))
	JL(LabelRef("done"))
	VMOVUPS(Mem{Base: a}, v)
	VFMADD231PS(Mem{Base: b}, v, acc[0])
	ADDQ(U8(32), a)
	ADDQ(U8(32), b)
	SUBQ(U8(8), n)
	JMP(LabelRef("loop8"))
	Label("done")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	x := XMM()
	VEXTRACTF128(U8(1), acc[0], x)
	VADDPS(acc[0].AsX(), x, x)
	VHADDPS(x, x, x)
	VHADDPS(x, x, x)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// axpy: func(a float32, x, y *float32, n int): y += a·x over n elements (n a multiple of 8).
func axpy() {
	TEXT("axpyAVX", NOSPLIT, "func(a float32, x, y *float32, n int)")
	Doc("axpyAVX adds a·x to y over n elements (n a multiple of 8).")
	av := YMM()
	as := Load(Param("a"), XMM())
	VBROADCASTSS(as, av)
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	v0, v1 := YMM(), YMM()
	Label("loop16")
	CMPQ(n, U8(16))
	JL(LabelRef("loop8"))
	VMOVUPS(Mem{Base: y}, v0)
	VMOVUPS(Mem{Base: y}.Offset(32), v1)
	VFMADD231PS(Mem{Base: x}, av, v0)
	VFMADD231PS(Mem{Base: x}.Offset(32), av, v1)
	VMOVUPS(v0, Mem{Base: y})
	VMOVUPS(v1, Mem{Base: y}.Offset(32))
	ADDQ(U8(64), x)
	ADDQ(U8(64), y)
	SUBQ(U8(16), n)
	JMP(LabelRef("loop16"))
	Label("loop8")
	CMPQ(n, U8(8))
	JL(LabelRef("done"))
	VMOVUPS(Mem{Base: y}, v0)
	VFMADD231PS(Mem{Base: x}, av, v0)
	VMOVUPS(v0, Mem{Base: y})
	Label("done")
	VZEROUPPER()
	RET()
}
