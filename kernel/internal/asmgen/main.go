// Command asmgen generates the AVX2/FMA assembly of package kernel with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/kernel_amd64.s and the Go declarations kernel/stubs_amd64.go.
//
// The kernels are small register tiles: R weight rows against C activation rows, each
// producing the R·C dot products of one tile, so that every weight value loaded from
// memory is used C times and every activation value R times. Go code in package kernel
// walks the tiles, handles ragged edges and splits the work over threads.
package main

import (
	"fmt"
	"math"

	"github.com/decilm/decilm/kernel/internal/avoext"

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

// Software prefetch of the quantized matrix-vector kernels, whose arithmetic per byte is
// too high for the out-of-order window alone to keep enough cache misses in flight when
// the weights stream from memory. The kernels that walk several rows at once prefetch the
// same place in the group of rows the next call will take (Q8_0) or prefetchQ4 bytes
// ahead in each row (Q4_0); the single-row Q4_K and Q6_K kernels prefetch prefetchQK
// bytes ahead.
const (
	prefetchQK = 144 * 8
	prefetchQ4 = 18 * 24
	// prefetchQ4P is how far ahead in a packed Q4_0 group dotQ4P_vec16 prefetches: 8
	// blocks of 288 bytes.
	prefetchQ4P = 288 * 8
	// prefetchF32 is how far ahead in each row the F32 matrix-vector tiles prefetch.
	prefetchF32 = 1024
)

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

	// The tiles package kernel uses: R×1 for matrix-vector products (R ≤ 4), and up to
	// 3×4 (float) for several activation rows, with the smaller shapes for ragged edges.
	// With several rows, Q8_0 and Q4_0 weights are unpacked first for their own tiles
	// (q8pTile, q4iTile), which sum as the matrix-vector kernels (quantTile, q4iVec) do.
	for t := range floatNames {
		for r := 1; r <= 4; r++ {
			for c := 1; c <= 4; c++ {
				if c == 1 || r <= 3 {
					floatTile(t, r, c)
				}
			}
		}
	}
	for r := 1; r <= 4; r++ {
		quantTile(r, 1, onesW)
	}
	q6K(onesW)
	q4K(onesW)
	for c := 2; c <= 4; c++ {
		q4KTile(c, onesW)
		q6KTile(c, onesW)
	}
	q4KPVec(onesW)
	q4KPUnpack()
	for c := 1; c <= 3; c++ {
		q4KPTile(c, onesW)
	}
	q6KPVec()
	q6KPUnpack()
	q4iVec(onesW, low4)
	q4iPack(low4)
	for c := 1; c <= 2; c++ {
		q4iTile(c, onesW)
	}
	q4pVec(onesW, low4)
	q4pUnpack(low4)
	q8gVec(onesW)
	for c := 1; c <= 4; c++ {
		q8gTile(c, onesW)
	}
	q8Pack()
	for r := 1; r <= 3; r++ {
		for c := 1; c <= 3; c++ {
			q8pTile(r, c, onesW)
		}
	}
	dot()
	axpy()
	dotRows()
	axpyRows()
	quantizeQ8()
	siluMul()
	expSum()
	Generate()
}

// reduceAdd sums the 8 lanes of acc and adds the float32 to dst.
func reduceAdd(acc VecVirtual, dst Mem) {
	x := avoext.HSum8(acc)
	VADDSS(dst, x, x)
	VMOVSS(x, dst)
}

// storeTile adds tile result acc[r][c] to out[c*os + 4*r] (os in bytes).
func storeTile(acc [][]VecVirtual) {
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	for c := range acc[0] {
		for r := range acc {
			reduceAdd(acc[r][c], Mem{Base: o}.Offset(4*r))
		}
		if c+1 < len(acc[0]) {
			ADDQ(os, o)
		}
	}
}

// floatTile: func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int)
// adds Σ_l w[r][l]·x[c][l] over l < k (k a multiple of 8) to out[c*os/4 + r]; ws, xs and
// os are row strides in bytes.
func floatTile(t, R, C int) {
	name := fmt.Sprintf("dot%s_%dx%d", floatNames[t], R, C)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the %d×%d dot products of %d %s weight rows and %d float32 rows over k elements (k a multiple of 8) to out[c*os/4+r] (strides in bytes).", name, R, C, R, floatNames[t], C))
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
	// step emits the products of 8 elements at offset 8·u of each row; advance moves the
	// pointers on by u such steps.
	step := func(u int) {
		wv := make([]VecVirtual, R)
		for i := range wv {
			wv[i] = YMM()
			m := Mem{Base: wp[i]}.Offset(8 * floatSize[t] * u)
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
			VMOVUPS(Mem{Base: xp[j]}.Offset(32*u), xv)
			for i := 0; i < R; i++ {
				VFMADD231PS(wv[i], xv, acc[i][j])
			}
		}
	}
	advance := func(u int) {
		for i := range wp {
			ADDQ(U32(8*floatSize[t]*u), wp[i])
		}
		for j := range xp {
			ADDQ(U32(32*u), xp[j])
		}
	}
	if t == f32 && C == 1 {
		// The matrix-vector tiles: a 64-byte line of each row a step, each row
		// prefetched prefetchF32 bytes ahead, and the accumulators added in the same
		// order as one 8-element step at a time.
		Label("loop2")
		CMPQ(k, U8(2))
		JL(LabelRef("tail"))
		for i := range wp {
			PREFETCHT0(Mem{Base: wp[i]}.Offset(prefetchF32))
		}
		step(0)
		step(1)
		advance(2)
		SUBQ(U8(2), k)
		JMP(LabelRef("loop2"))
		Label("tail")
		TESTQ(k, k)
		JZ(LabelRef("done"))
		step(0)
	} else {
		Label("loop")
		step(0)
		advance(1)
		DECQ(k)
		JNZ(LabelRef("loop"))
	}
	Label("done")
	storeTile(acc)
	VZEROUPPER()
	RET()
}

// quantTile: func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)
// Dot products over nb blocks of 32 of Q8_0 weight rows (ggml block layout: an f16 scale
// then 32 int8) against activations quantized to int8 (xq, 32 per block) with float32
// scales xd (one per block). Within a block the products are exact integer sums;
// out[c*os/4 + r] += Σ_b float(isum_b)·dw_b·dx_b.
func quantTile(R, C int, onesW Mem) {
	const tn, bb = "Q8_0", 34
	name := fmt.Sprintf("dot%s_%dx%d", tn, R, C)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the %d×%d dot products of %d %s weight rows and %d int8-quantized rows over nb blocks of 32 to out[c*os/4+r] (strides in bytes).", name, R, C, R, tn, C))
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
	var ahead GPVirtual
	if C == 1 {
		ahead = GP64() // R rows: where the next call of a matrix-vector product reads
		IMUL3Q(U32(R), ws, ahead)
	}
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
	if C == 1 {
		for i := 0; i < R; i++ {
			PREFETCHT0(Mem{Base: wp[i], Index: ahead, Scale: 1}) // the next group of rows
		}
	}
	for i := 0; i < R; i++ {
		wv[i] = YMM()
		dw[i] = YMM()
		VPABSB(Mem{Base: wp[i]}.Offset(2), wv[i]) // |w|: 128 for -128, as an unsigned byte
		VPBROADCASTW(Mem{Base: wp[i]}, tv.AsX())
		VCVTPH2PS(tv.AsX(), dw[i])
	}
	ax := YMM()
	dx := YMM()
	for j := 0; j < C; j++ {
		xm := Mem{Base: xp[j]}
		// Weights may be -128, which has no positive int8: multiply |w| (unsigned, in
		// wv) by x with w's sign, as ggml does.
		VMOVDQU(xm, ax)
		VBROADCASTSS(Mem{Base: dp[j]}, dx)
		for i := 0; i < R; i++ {
			VPSIGNB(Mem{Base: wp[i]}.Offset(2), ax, tv) // x with the sign of w
			VPMADDUBSW(tv, wv[i], tv)                   // |w|·(±x) summed in pairs: at most 2·128·127, no saturation
			VPMADDWD(onesW, tv, tv)                     // int16 pairs summed to int32
			VCVTDQ2PS(tv, tv)                           // exact: each lane is below 2^24 in magnitude
			VMULPS(dx, dw[i], sv)                       // dw·dx
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
	storeTile(acc)
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
	}
	x := dotSum(a, b, n, acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// dotSum emits Σ a[i]·b[i] over n elements (n a multiple of 8; a, b and n are consumed):
// four accumulators over 32 elements at a time, then 8 at a time into the first, reduced
// in a fixed tree to the returned register's low lane. Its labels are loop32, loop8 and
// sum, once per function.
func dotSum(a, b, n Register, acc []VecVirtual) VecVirtual {
	for i := range acc {
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
	JL(LabelRef("sum"))
	VMOVUPS(Mem{Base: a}, v)
	VFMADD231PS(Mem{Base: b}, v, acc[0])
	ADDQ(U8(32), a)
	ADDQ(U8(32), b)
	SUBQ(U8(8), n)
	JMP(LabelRef("loop8"))
	Label("sum")
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	x := avoext.HSum8(acc[0])
	return x
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

// dotRows: func(q, k *float32, stride, n, rows int, scale float32, out *float32): the
// attention scores of one query against rows keys, each summed exactly as dotAVX sums it
// and then multiplied by scale, without a call per key.
func dotRows() {
	TEXT("dotRowsAVX", NOSPLIT, "func(q, k *float32, stride, n, rows int, scale float32, out *float32)")
	Doc("dotRowsAVX sets out[t] = (Σ q[i]·k[t*stride+i] over n elements)·scale for t < rows (n a multiple of 8, stride in elements), each sum as dotAVX computes it.")
	q := Load(Param("q"), GP64())
	k := Load(Param("k"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	n := Load(Param("n"), GP64())
	rows := Load(Param("rows"), GP64())
	sc := Load(Param("scale"), XMM())
	out := Load(Param("out"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
	}
	a, b, c := GP64(), GP64(), GP64()
	Label("row")
	MOVQ(q, a)
	MOVQ(k, b)
	MOVQ(n, c)
	x := dotSum(a, b, c, acc)
	VMULSS(sc, x, x)
	VMOVSS(x, Mem{Base: out})
	ADDQ(U8(4), out)
	ADDQ(stride, k)
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// axpyRows: func(a, x *float32, stride, rows int, y *float32, n int): y += Σ_t a[t]·x_t,
// the rows x_t = x[t*stride:] added in order, 32 elements of y at a time held in
// registers, each element rounded as by one axpyAVX call per row.
func axpyRows() {
	TEXT("axpyRowsAVX", NOSPLIT, "func(a, x *float32, stride, rows int, y *float32, n int)")
	Doc("axpyRowsAVX adds a[t]·x[t*stride+i] to y[i] for t < rows in order and i < n (n a multiple of 8, stride in elements), each step a fused multiply-add as in axpyAVX.")
	ap := Load(Param("a"), GP64())
	x := Load(Param("x"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride)
	rows := Load(Param("rows"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	acc := make([]VecVirtual, 4)
	for i := range acc {
		acc[i] = YMM()
	}
	av := YMM()
	t, xp, aq := GP64(), GP64(), GP64()
	// chunk adds the rows to w vectors of y (w = 4 or 1) and moves y and x on.
	chunk := func(w int, sfx string) {
		for i := 0; i < w; i++ {
			VMOVUPS(Mem{Base: y}.Offset(32*i), acc[i])
		}
		MOVQ(rows, t)
		MOVQ(x, xp)
		MOVQ(ap, aq)
		Label("rows" + sfx)
		VBROADCASTSS(Mem{Base: aq}, av)
		for i := 0; i < w; i++ {
			VFMADD231PS(Mem{Base: xp}.Offset(32*i), av, acc[i])
		}
		ADDQ(U8(4), aq)
		ADDQ(stride, xp)
		DECQ(t)
		JNZ(LabelRef("rows" + sfx))
		for i := 0; i < w; i++ {
			VMOVUPS(acc[i], Mem{Base: y}.Offset(32*i))
		}
		ADDQ(U8(32*w), y)
		ADDQ(U8(32*w), x)
		SUBQ(U8(8*w), n)
	}
	Label("loop32")
	CMPQ(n, U8(32))
	JL(LabelRef("loop8"))
	chunk(4, "32")
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(n, U8(8))
	JL(LabelRef("done"))
	chunk(1, "8")
	JMP(LabelRef("loop8"))
	Label("done")
	VZEROUPPER()
	RET()
}

// f32Const returns a 32-byte read-only vector of v.
func f32Const(name string, v float32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(math.Float32bits(v))) // avo prints F32(127) as an integer
	}
	return m
}

func u32Const(name string, v uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(v))
	}
	return m
}

type constSet struct {
	low4m                             Mem
	once                              bool
	absMask, signMask, one, half      Mem
	c127, inf                         Mem
	permQ                             Mem
	expHi, expLo, log2e, ln2hi, ln2lo Mem
	poly                              [7]Mem
}

var consts constSet

func (c *constSet) low4() Mem { return c.low4m }

func initConsts() {
	c := &consts
	if c.once {
		return
	}
	c.once = true
	c.low4m = GLOBL("nib4", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x0f))
	}
	c.absMask = u32Const("absmask", 0x7fffffff)
	c.signMask = u32Const("signmask", 0x80000000)
	c.one = f32Const("onef", 1)
	c.half = f32Const("halff", 0.5)
	c.c127 = f32Const("c127", 127)
	c.inf = u32Const("inff", 0x7f800000)
	c.permQ = GLOBL("permq", RODATA|NOPTR)
	for i, v := range []uint32{0, 4, 1, 5, 2, 6, 3, 7} {
		DATA(4*i, U32(v))
	}
	c.expHi = f32Const("exphi", 88.7)
	c.expLo = f32Const("explo", -87)
	c.log2e = f32Const("log2e", 1.44269504088896341)
	c.ln2hi = f32Const("ln2hi", 0.693359375)
	c.ln2lo = f32Const("ln2lo", -2.12194440e-4)
	fact := 1.0
	for i := 0; i < 7; i++ {
		if i > 0 {
			fact *= float64(i)
		}
		c.poly[i] = f32Const(fmt.Sprintf("expc%d", i), float32(1/fact))
	}
}

// quantizeQ8: func(x *float32, q *int8, d *float32, nb int)
// The activation quantizer of MatMul (see QuantizeQ8 in package kernel), bit for bit.
func quantizeQ8() {
	initConsts()
	c := &consts
	TEXT("quantizeQ8AVX", NOSPLIT, "func(x *float32, q *int8, d *float32, nb int)")
	Doc("quantizeQ8AVX quantizes nb blocks of 32 float32 values to int8 with one float16-rounded scale per block, as QuantizeQ8 does.")
	x := Load(Param("x"), GP64())
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	nb := Load(Param("nb"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	m := YMM()
	a := YMM()
	VXORPS(m, m, m)
	for i := range v {
		VMOVUPS(Mem{Base: x}.Offset(32*i), v[i])
		VANDPS(c.absMask, v[i], a)
		VMAXPS(m, a, m) // a NaN a leaves m as it was, like EncodeRow's "if a > amax"
	}
	h := XMM()
	VEXTRACTF128(U8(1), m, h)
	VMAXPS(m.AsX(), h, h)
	id := avoext.Q8Scale(h, c.c127, c.one, c.inf, Mem{Base: d})
	idv := YMM()
	VBROADCASTSS(id, idv)
	t := YMM()
	f := YMM()
	for i := range v {
		VMULPS(idv, v[i], v[i])        // y
		VROUNDPS(U8(3), v[i], t)       // trunc(y)
		VSUBPS(t, v[i], f)             // y - trunc(y), exact
		VANDPS(c.absMask, f, f)        // |frac|
		VCMPPS(U8(0x1d), c.half, f, f) // |frac| >= 0.5
		VANDPS(c.signMask, v[i], a)    // sign of y
		VORPS(c.one, a, a)             // ±1
		VANDPS(f, a, a)
		VADDPS(a, t, t)              // rounded half away from zero
		VCMPPS(U8(7), v[i], v[i], f) // y is not NaN
		VANDPS(f, t, t)              // NaN gives 0
		VCVTTPS2DQ(t, v[i])
	}
	VPACKSSDW(v[1], v[0], v[0])
	VPACKSSDW(v[3], v[2], v[2])
	VPACKSSWB(v[2], v[0], v[0])
	VMOVDQU(c.permQ, t)
	VPERMD(v[0], t, v[0]) // dwords 0,4,1,5,2,6,3,7: undo the packs' lane interleaving
	VMOVDQU(v[0], Mem{Base: q})
	ADDQ(U32(128), x)
	ADDQ(U32(32), q)
	ADDQ(U32(4), d)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// exp8 returns exp(x) for the 8 lanes of x, x destroyed: a degree-6 polynomial after
// reduction by ln 2, within 3e-7 relative; x above 88.7 gives exp(88.7), below -87
// gives 0, NaN stays NaN.
func exp8(x VecVirtual) VecVirtual {
	c := &consts
	keep, nan := YMM(), YMM()
	VCMPPS(U8(0x1d), c.expLo, x, keep) // x >= -87, else the result is 0 (exp(-87) = 1.6e-38)
	VCMPPS(U8(3), x, x, nan)           // x is NaN: the result is x
	VANDPS(x, nan, nan)                // the NaN itself where x is NaN, else +0
	VMINPS(c.expHi, x, x)
	VMAXPS(c.expLo, x, x)
	n := YMM()
	VMULPS(c.log2e, x, n)
	VROUNDPS(U8(0), n, n)       // nearest
	VFNMADD231PS(c.ln2hi, n, x) // x -= n·ln2hi
	VFNMADD231PS(c.ln2lo, n, x) // x -= n·ln2lo
	p := YMM()
	VMOVUPS(c.poly[6], p)
	for i := 5; i >= 0; i-- {
		VFMADD213PS(c.poly[i], x, p) // p = p·x + c_i
	}
	VCVTPS2DQ(n, n)
	VPSLLD(U8(23), n, n)
	VPADDD(n, p, p) // p·2^n
	VANDPS(keep, p, p)
	VORPS(nan, p, p)
	return p
}

// siluMul: func(out, gate, up *float32, n int), n a multiple of 8.
func siluMul() {
	initConsts()
	TEXT("siluMulAVX", NOSPLIT, "func(out, gate, up *float32, n int)")
	Doc("siluMulAVX writes gate/(1+exp(-gate))·up to out over n elements (n a multiple of 8).")
	o := Load(Param("out"), GP64())
	g := Load(Param("gate"), GP64())
	u := Load(Param("up"), GP64())
	n := Load(Param("n"), GP64())
	SHRQ(U8(3), n)
	JZ(LabelRef("done"))
	Label("loop")
	gv := YMM()
	x := YMM()
	VMOVUPS(Mem{Base: g}, gv)
	VXORPS(consts.signMask, gv, x) // -g
	e := exp8(x)
	VADDPS(consts.one, e, e)
	VMULPS(Mem{Base: u}, gv, gv)
	VDIVPS(e, gv, gv)
	VMOVUPS(gv, Mem{Base: o})
	ADDQ(U8(32), o)
	ADDQ(U8(32), g)
	ADDQ(U8(32), u)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// expSum: func(x *float32, n int, m float32) float32, n a multiple of 8: x[i] = exp(x[i]-m),
// returning the sum.
func expSum() {
	initConsts()
	TEXT("expSumAVX", NOSPLIT, "func(x *float32, n int, m float32) float32")
	Doc("expSumAVX replaces x[i] by exp(x[i]-m) over n elements (n a multiple of 8) and returns their sum.")
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	mx := Load(Param("m"), XMM())
	mv := YMM()
	VBROADCASTSS(mx, mv)
	acc := YMM()
	VXORPS(acc, acc, acc)
	SHRQ(U8(3), n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	VMOVUPS(Mem{Base: x}, v)
	VSUBPS(mv, v, v)
	e := exp8(v)
	VMOVUPS(e, Mem{Base: x})
	VADDPS(e, acc, acc)
	ADDQ(U8(32), x)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	h := XMM()
	VEXTRACTF128(U8(1), acc, h)
	VADDPS(acc.AsX(), h, h)
	VHADDPS(h, h, h)
	VHADDPS(h, h, h)
	VZEROUPPER()
	Store(h, ReturnIndex(0))
	RET()
}

// q6K: func(w *byte, xq *int8, xd *float32, xc *int32, nsb int) float32
// The dot product of one Q6_K row (nsb super-blocks of 256: ql[128], qh[64], int8
// scales[16], f16 d) with one row quantized by QuantizeQ8, given xc: for every block of
// x, 8 int32 lanes holding 32·Σ x over elements 4j..4j+3. Each run of 32 weights
// (unsigned 6-bit values u, the weight being u-32) lines up with one block of x:
// maddubs(u, x) summed to int32 lanes, minus xc, is Σ (u-32)·x per 4 elements; lanes 0..3
// take the scale of the first 16 elements, lanes 4..7 that of the second 16.
// q6Idx, q6Mask0f and q6Mask30 are the constants of q6K, which q6KTile shares.
var q6Idx, q6Mask0f, q6Mask30 Mem

func q6K(onesW Mem) {
	initConsts()
	q6Idx = GLOBL("q6idx", RODATA|NOPTR)
	for t := 0; t < 4; t++ {
		for l := 0; l < 8; l++ {
			DATA(32*t+4*l, U32(uint32(2*t+l/4)))
		}
	}
	q6Mask0f = GLOBL("mask0f", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x0f))
	}
	q6Mask30 = GLOBL("mask30", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x30))
	}
	idx, m0f, m30 := q6Idx, q6Mask0f, q6Mask30
	TEXT("dotQ6KAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *int32, nsb int) float32")
	Doc("dotQ6KAVX returns the dot product of nsb Q6_K super-blocks with a row quantized by QuantizeQ8 (xc: 32·Σx per 4 elements).")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xc := Load(Param("xc"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc := YMM()
	VXORPS(acc, acc, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 210; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQK + o))
	}
	d := YMM()
	VPBROADCASTW(Mem{Base: w}.Offset(208), d.AsX())
	VCVTPH2PS(d.AsX(), d)
	for h := 0; h < 2; h++ {
		scv := YMM()
		VPMOVSXBD(Mem{Base: w}.Offset(192+8*h), scv)
		VCVTDQ2PS(scv, scv)
		VMULPS(d, scv, scv) // d·sc[8h+i]
		ql0, ql1, qh := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(64*h), ql0)
		VMOVDQU(Mem{Base: w}.Offset(64*h+32), ql1)
		VMOVDQU(Mem{Base: w}.Offset(128+32*h), qh)
		for t := 0; t < 4; t++ {
			u, hb, p, sv := YMM(), YMM(), YMM(), YMM()
			ql := ql0
			if t%2 == 1 {
				ql = ql1
			}
			if t < 2 {
				VPAND(m0f, ql, u)
			} else {
				VPSRLW(U8(4), ql, u)
				VPAND(m0f, u, u)
			}
			switch t {
			case 0:
				VPSLLW(U8(4), qh, hb)
			case 1:
				VPSLLW(U8(2), qh, hb)
			case 2:
				VMOVDQA(qh, hb)
			case 3:
				VPSRLW(U8(2), qh, hb)
			}
			VPAND(m30, hb, hb)
			VPOR(hb, u, u) // u = 6-bit value, 0..63
			blk := 4*h + t
			VPMADDUBSW(Mem{Base: xq}.Offset(32*blk), u, p) // u·x in pairs: at most 2·63·127, no saturation
			VPMADDWD(onesW, p, p)
			VPSUBD(Mem{Base: xc}.Offset(32*blk), p, p) // Σ (u-32)·x per 4 elements
			VCVTDQ2PS(p, p)
			VMOVDQU(idx.Offset(32*t), hb)
			VPERMPS(scv, hb, sv) // d·sc for the two groups of 16
			VBROADCASTSS(Mem{Base: xd}.Offset(4*blk), hb)
			VMULPS(hb, sv, sv)
			VFMADD231PS(p, sv, acc)
		}
	}
	ADDQ(U32(210), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(256), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// q4K: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
// The dot product of one Q4_K row (nsb super-blocks of 256: f16 d, f16 dmin, 12 bytes of
// 6-bit scales and mins, 128 bytes of nibbles) with one row quantized by QuantizeQ8,
// given xs: for every block of x, its scale times the sum of its int8 values. Weight e of
// sub-block j (32 values, lining up with one block of x) is d·sc_j·q_e - dmin·m_j, so the
// product is Σ_j d·sc_j·dx_j·Σ q·x  -  dmin·Σ_j m_j·xs_j.
func q4K(onesW Mem) {
	initConsts()
	TEXT("dotQ4KAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32")
	Doc("dotQ4KAVX returns the dot product of nsb Q4_K super-blocks with a row quantized by QuantizeQ8 (xs: scale·Σq per block).")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nsb := Load(Param("nsb"), GP64())
	local := AllocLocal(32)
	acc, macc := YMM(), YMM()
	VXORPS(acc, acc, acc)
	VXORPS(macc, macc, macc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 144; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQK + o))
	}
	// Unpack the scales and mins (ggml's get_scale_min_k4) with 32-bit integer ops.
	avoext.KScalesMins(w, Mem{Base: xd}, Mem{Base: xs}, local, macc)
	for g := 0; g < 4; g++ {
		q, lo, hi, s := YMM(), YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(16+32*g), q)
		VPAND(consts.low4(), q, lo)
		VPSRLW(U8(4), q, hi)
		VPAND(consts.low4(), hi, hi)
		for half, v := range []VecVirtual{lo, hi} {
			j := 2*g + half
			VPMADDUBSW(Mem{Base: xq}.Offset(32*j), v, v) // q (≤ 15) times x in pairs
			VPMADDWD(onesW, v, v)
			VCVTDQ2PS(v, v)
			VBROADCASTSS(local.Offset(4*j), s)
			VFMADD231PS(v, s, acc)
		}
	}
	ADDQ(U32(144), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(32), xs)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VSUBPS(macc, acc, acc)
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// q8Pack: func(dst *byte, src *byte, nb int)
// Unpacks nb Q8_0 blocks of one row into the layout of q8pTile, 96 bytes per block: |w|
// (32 unsigned bytes, 128 for -128), w itself (for its signs) and the scale as 8 float32.
func q8Pack() {
	TEXT("q8PackAVX", NOSPLIT, "func(dst *byte, src *byte, nb int)")
	Doc("q8PackAVX unpacks nb Q8_0 blocks of a row into the layout of the dotQ8P tiles (96 bytes per block).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	a, w, d := YMM(), YMM(), YMM()
	VMOVDQU(Mem{Base: src}.Offset(2), w)
	VPABSB(w, a)
	VMOVDQU(a, Mem{Base: dst})
	VMOVDQU(w, Mem{Base: dst}.Offset(32))
	VPBROADCASTW(Mem{Base: src}, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	VMOVUPS(d, Mem{Base: dst}.Offset(64))
	ADDQ(U8(34), src)
	ADDQ(U8(96), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// q8pTile: func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)
// The R×C tile of quantTile for Q8_0 rows unpacked by q8Pack (stride ws bytes between
// rows): the same instructions per block and row pair, in the same order, and the same
// sum of the lanes at the end, so that its results are bit-identical to quantTile's, but
// without converting the weights' scales and signs again for every block of C rows.
func q8pTile(R, C int, onesW Mem) {
	name := fmt.Sprintf("dotQ8P_%dx%d", R, C)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the %d×%d dot products of Q8_0 rows unpacked by q8PackAVX and int8-quantized rows to out[c*os/4+r] (strides in bytes).", name, R, C))
	rowMem := func(base, stride Register, i int) Mem {
		switch i {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: stride, Scale: 1}
		}
		return Mem{Base: base, Index: stride, Scale: 2}
	}
	w := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	xq := Load(Param("xq"), GP64())
	xs := Load(Param("xs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
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
	for i := 0; i < R; i++ {
		wv[i] = YMM()
		VMOVDQU(rowMem(w, ws, i), wv[i])
	}
	ax, dx, tv, sv := YMM(), YMM(), YMM(), YMM()
	for j := 0; j < C; j++ {
		VMOVDQU(rowMem(xq, xs, j), ax)
		VBROADCASTSS(rowMem(xd, xds, j), dx)
		for i := 0; i < R; i++ {
			VPSIGNB(rowMem(w, ws, i).Offset(32), ax, tv) // x with the sign of w
			VPMADDUBSW(tv, wv[i], tv)                    // |w|·(±x) summed in pairs: no saturation
			VPMADDWD(onesW, tv, tv)
			VCVTDQ2PS(tv, tv)
			VMULPS(rowMem(w, ws, i).Offset(64), dx, sv) // dw·dx
			VFMADD231PS(tv, sv, acc[i][j])
		}
	}
	ADDQ(U8(96), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	storeTile(acc)
	VZEROUPPER()
	RET()
}

// q4iLoad emits the load of one block of 8 Q4_0 rows (rows 0..3 at wa, wa+ws, wa+2ws,
// wa+ws3, rows 4..7 the same from wb) interleaved: v[g] holds in int32 lane r the nibble
// bytes 4g..4g+3 of row r (elements 4g..4g+3 in the low nibbles, 16+4g..16+4g+3 in the
// high ones), and dw the 8 rows' scales as float32, gathered through general registers.
func q4iLoad(wa, wb, ws, ws3 Register) (v [4]VecVirtual, dw VecVirtual) {
	row := func(base Register, i int) Mem {
		switch i {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: ws, Scale: 1}
		case 2:
			return Mem{Base: base, Index: ws, Scale: 2}
		}
		return Mem{Base: base, Index: ws3, Scale: 1}
	}
	var a [4]VecVirtual
	for i := range a {
		a[i] = YMM()
		VBROADCASTI128(row(wa, i).Offset(2), a[i]) // a full write, for the register allocator
		VINSERTI128(U8(1), row(wb, i).Offset(2), a[i], a[i])
	}
	// A 4×4 transpose of dwords in each 128-bit half.
	t0, t1, t2, t3 := YMM(), YMM(), YMM(), YMM()
	VPUNPCKLDQ(a[1], a[0], t0)
	VPUNPCKHDQ(a[1], a[0], t1)
	VPUNPCKLDQ(a[3], a[2], t2)
	VPUNPCKHDQ(a[3], a[2], t3)
	for g := range v {
		v[g] = YMM()
	}
	VPUNPCKLQDQ(t2, t0, v[0])
	VPUNPCKHQDQ(t2, t0, v[1])
	VPUNPCKLQDQ(t3, t1, v[2])
	VPUNPCKHQDQ(t3, t1, v[3])
	x := XMM()
	for h, base := range []Register{wa, wb} {
		s, t := GP64(), GP64()
		MOVWQZX(row(base, 0), s)
		for i := 1; i < 4; i++ {
			MOVWQZX(row(base, i), t)
			SHLQ(U8(16*i), t)
			ORQ(t, s)
		}
		if h == 0 {
			VMOVQ(s, x)
		} else {
			VPINSRQ(U8(1), s, x, x)
		}
	}
	dw = YMM()
	VCVTPH2PS(x, dw)
	return v, dw
}

// q4iBlock emits one block's products of 8 interleaved rows (lo[g], hi[g]: unsigned
// nibble values in registers; where hi is nil, lo[g] holds the packed bytes of q4iLoad,
// unpacked here with the mask low4) with one activation row (xq: its 32 int8 values,
// xc: 8·Σx as int32, xd: its scale): per row the exact Σ (q-8)·x in an int32 lane (the
// int16 partial sums stay below 16·15·127 = 30480), then acc += (s·dx)·dw.
func q4iBlock(lo, hi []Op, xq, xc, xd Mem, dw, onesW, low4 Op, acc VecVirtual) {
	var sum VecVirtual
	for g := 0; g < 4; g++ {
		l, h := lo[g], Op(nil)
		if hi == nil {
			v, hv := lo[g].(VecVirtual), YMM()
			VPSRLW(U8(4), v, hv)
			VPAND(low4, v, v)
			VPAND(low4, hv, hv)
			h = hv
		} else {
			h = hi[g]
		}
		xl, xh, p := YMM(), YMM(), YMM()
		VPBROADCASTD(xq.Offset(4*g), xl)
		VPBROADCASTD(xq.Offset(16+4*g), xh)
		VPMADDUBSW(xl, l, p)
		VPMADDUBSW(xh, h, xh)
		if g == 0 {
			sum = p
		} else {
			VPADDW(p, sum, sum)
		}
		VPADDW(xh, sum, sum)
	}
	VPMADDWD(onesW, sum, sum)
	c := YMM()
	VPBROADCASTD(xc, c)
	VPSUBD(c, sum, sum)
	VCVTDQ2PS(sum, sum)
	d := YMM()
	VBROADCASTSS(xd, d)
	VMULPS(d, sum, sum)
	VFMADD231PS(dw, sum, acc)
}

// q4iVec: func(w *byte, ws int, xq *int8, xd *float32, xc *int32, nb int, out *float32)
// The Q4_0 matrix-vector kernel for 8 rows (stride ws bytes) and one row quantized by
// QuantizeQ8 (xq, xd; xc: 8·Σx per block as int32). The rows' blocks are interleaved in
// registers (q4iLoad) so that each int32 lane holds one row: one conversion, one multiply
// and one FMA per block serve 8 rows, which add to out[0..8) block after block.
func q4iVec(onesW, low4 Mem) {
	TEXT("dotQ4I_vec8", NOSPLIT, "func(w *byte, ws int, xq *int8, xd *float32, xc *int32, nb int, out *float32)")
	Doc("dotQ4I_vec8 adds the dot products of 8 Q4_0 rows (stride ws bytes) and one int8-quantized row (nb blocks) to out[0..8), block after block.")
	wa := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	ws3, wb := GP64(), GP64()
	LEAQ(Mem{Base: ws, Index: ws, Scale: 2}, ws3)
	LEAQ(Mem{Base: wa, Index: ws, Scale: 4}, wb)
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xc := Load(Param("xc"), GP64())
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	acc := YMM()
	VMOVUPS(Mem{Base: o}, acc)
	mask, ones := YMM(), YMM() // in registers: the loop is bound by its loads
	VMOVDQU(low4, mask)
	VMOVDQU(onesW, ones)
	block := func(prefetch bool) {
		if prefetch {
			for _, base := range []Register{wa, wb} {
				PREFETCHT0(Mem{Base: base}.Offset(prefetchQ4))
				PREFETCHT0(Mem{Base: base, Index: ws, Scale: 1}.Offset(prefetchQ4))
				PREFETCHT0(Mem{Base: base, Index: ws, Scale: 2}.Offset(prefetchQ4))
				PREFETCHT0(Mem{Base: base, Index: ws3, Scale: 1}.Offset(prefetchQ4))
			}
		}
		v, dw := q4iLoad(wa, wb, ws, ws3)
		lo := []Op{v[0], v[1], v[2], v[3]}
		q4iBlock(lo, nil, Mem{Base: xq}, Mem{Base: xc}, Mem{Base: xd}, dw, ones, mask, acc)
		ADDQ(U8(18), wa)
		ADDQ(U8(18), wb)
		ADDQ(U8(32), xq)
		ADDQ(U8(4), xd)
		ADDQ(U8(4), xc)
	}
	// Two blocks a step (36 bytes of each row), with one prefetch per row.
	Label("loop2")
	CMPQ(nb, U8(2))
	JL(LabelRef("tail"))
	block(true)
	block(false)
	SUBQ(U8(2), nb)
	JMP(LabelRef("loop2"))
	Label("tail")
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	block(false)
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// q4iPack: func(dst *byte, w *byte, ws int, nb int)
// Interleaves nb blocks of 8 Q4_0 rows (stride ws bytes) for the q4iTile kernels, 288
// bytes per block: lo[0..3] and hi[0..3] of q4iLoad unpacked to unsigned bytes (32 bytes
// each), then the 8 scales as float32.
func q4iPack(low4 Mem) {
	TEXT("q4IPackAVX", NOSPLIT, "func(dst *byte, w *byte, ws int, nb int)")
	Doc("q4IPackAVX interleaves nb blocks of 8 Q4_0 rows (stride ws bytes) for the dotQ4I tiles, 288 bytes per block.")
	dst := Load(Param("dst"), GP64())
	wa := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	ws3, wb := GP64(), GP64()
	LEAQ(Mem{Base: ws, Index: ws, Scale: 2}, ws3)
	LEAQ(Mem{Base: wa, Index: ws, Scale: 4}, wb)
	nb := Load(Param("nb"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v, dw := q4iLoad(wa, wb, ws, ws3)
	for g := range v {
		h := YMM()
		VPSRLW(U8(4), v[g], h)
		VPAND(low4, v[g], v[g])
		VPAND(low4, h, h)
		VMOVDQU(v[g], Mem{Base: dst}.Offset(32*g))
		VMOVDQU(h, Mem{Base: dst}.Offset(128+32*g))
	}
	VMOVUPS(dw, Mem{Base: dst}.Offset(256))
	ADDQ(U8(18), wa)
	ADDQ(U8(18), wb)
	ADDQ(U32(288), dst)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// q4iTile: func(w *byte, xq *int8, xs int, xd *float32, xds int, xc *int32, xcs int, nb int, out *float32, os int)
// 8 Q4_0 rows interleaved by q4iPack against C rows quantized by QuantizeQ8 (strides in
// bytes; xc: 8·Σx per block as int32), adding to out[c*os/4 + 0..8) block after block with
// the arithmetic of q4iVec, so that each result is bit-identical to it.
func q4iTile(C int, onesW Mem) {
	name := fmt.Sprintf("dotQ4I_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xs int, xd *float32, xds int, xc *int32, xcs int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 Q4_0 rows interleaved by q4IPackAVX and int8-quantized rows to out[c*os/4+r], block after block.", name, C))
	rowMem := func(base, stride Register, j int) Mem {
		if j == 0 {
			return Mem{Base: base}
		}
		return Mem{Base: base, Index: stride, Scale: uint8(j)}
	}
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xs := Load(Param("xs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
	xc := Load(Param("xc"), GP64())
	xcs := Load(Param("xcs"), GP64())
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	acc := make([]VecVirtual, C)
	for j := range acc {
		acc[j] = YMM()
		VMOVUPS(rowMem(o, os, j), acc[j])
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	lo, hi := make([]Op, 4), make([]Op, 4)
	for g := 0; g < 4; g++ {
		l, h := YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(32*g), l)
		VMOVDQU(Mem{Base: w}.Offset(128+32*g), h)
		lo[g], hi[g] = l, h
	}
	for j := 0; j < C; j++ {
		q4iBlock(lo, hi, rowMem(xq, xs, j), rowMem(xc, xcs, j), rowMem(xd, xds, j), Mem{Base: w}.Offset(256), onesW, nil, acc[j])
	}
	ADDQ(U32(288), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(4), xc)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for j := range acc {
		VMOVUPS(acc[j], rowMem(o, os, j))
	}
	VZEROUPPER()
	RET()
}

// q4pVec: func(w *byte, xq *int8, xd *float32, xc *int32, nb int, out *float32)
// The Q4_0 matrix-vector kernel for one group of 16 rows laid out by Pool.Pack for the
// AVX2 kernels (packGroup, groupLayout: 288 bytes a block, the 16 rows' float16 scales,
// then 256 bytes of values, in which the 32 bytes at 32+64z+32h hold rows 8h..8h+7, one
// int32 lane a row, values 8z..8z+3 in the low nibbles and 8z+4..8z+7 in the high ones).
// The layout is q4iLoad's, made once at load time, so a block of 16 rows costs 8 loads
// and no shuffles; each row is summed with the arithmetic of q4iVec (q4iBlock), so
// results are bit-identical to it. Two blocks a step, prefetchQ4P bytes ahead: the group
// is one sequential stream.
func q4pVec(onesW, low4 Mem) {
	TEXT("dotQ4P_vec16", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *int32, nb int, out *float32)")
	Doc("dotQ4P_vec16 adds the dot products of a packed group of 16 Q4_0 rows (nb blocks of 288 bytes at w) and one int8-quantized row to out[0..16), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xc := Load(Param("xc"), GP64())
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	acc := [2]VecVirtual{YMM(), YMM()}
	VMOVUPS(Mem{Base: o}, acc[0])
	VMOVUPS(Mem{Base: o}.Offset(32), acc[1])
	mask, ones := YMM(), YMM()
	VMOVDQU(low4, mask)
	VMOVDQU(onesW, ones)
	block := func(i int) {
		wb := Mem{Base: w}.Offset(288 * i)
		var sum [2]VecVirtual
		for z := 0; z < 4; z++ {
			xl, xh := YMM(), YMM()
			VPBROADCASTD(Mem{Base: xq}.Offset(32*i+8*z), xl)
			VPBROADCASTD(Mem{Base: xq}.Offset(32*i+8*z+4), xh)
			for h := 0; h < 2; h++ {
				v, hv, p := YMM(), YMM(), YMM()
				VMOVDQU(wb.Offset(32+64*z+32*h), v)
				VPSRLW(U8(4), v, hv)
				VPAND(mask, v, v)
				VPAND(mask, hv, hv)
				VPMADDUBSW(xl, v, p)
				VPMADDUBSW(xh, hv, hv)
				if z == 0 {
					sum[h] = p
				} else {
					VPADDW(p, sum[h], sum[h])
				}
				VPADDW(hv, sum[h], sum[h])
			}
		}
		c, d := YMM(), YMM()
		VPBROADCASTD(Mem{Base: xc}.Offset(4*i), c)
		VBROADCASTSS(Mem{Base: xd}.Offset(4*i), d)
		for h := 0; h < 2; h++ {
			dw := YMM()
			VCVTPH2PS(wb.Offset(16*h), dw)
			VPMADDWD(ones, sum[h], sum[h])
			VPSUBD(c, sum[h], sum[h])
			VCVTDQ2PS(sum[h], sum[h])
			VMULPS(d, sum[h], sum[h])
			VFMADD231PS(dw, sum[h], acc[h])
		}
	}
	Label("loop2")
	CMPQ(nb, U8(2))
	JL(LabelRef("tail"))
	for l := 0; l < 9; l++ { // the two blocks' 576 bytes, prefetchQ4P ahead
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQ4P + 64*l))
	}
	block(0)
	block(1)
	ADDQ(U32(576), w)
	ADDQ(U8(64), xq)
	ADDQ(U8(8), xd)
	ADDQ(U8(8), xc)
	SUBQ(U8(2), nb)
	JMP(LabelRef("loop2"))
	Label("tail")
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	block(0)
	Label("done")
	VMOVUPS(acc[0], Mem{Base: o})
	VMOVUPS(acc[1], Mem{Base: o}.Offset(32))
	VZEROUPPER()
	RET()
}

// q4pUnpack: func(dst, sc, q *byte, nb int)
// Unpacks nb blocks of 8 rows of a packed Q4_0 group (sc: their float16 scales; q: their
// values, the 32 bytes at 64z of each block's 256, as q4pVec reads them; both 288 bytes
// a block, groupLayout) for the q4iTile kernels, 288 bytes per block as q4iPack writes them: the
// 32 bytes at 32G hold values 4G..4G+3 of each row as unsigned bytes (the low nibbles of
// z = G/2 for G even, the high ones for G odd), then the 8 scales as float32.
func q4pUnpack(low4 Mem) {
	TEXT("q4PUnpackAVX", NOSPLIT, "func(dst, sc, q *byte, nb int)")
	Doc("q4PUnpackAVX unpacks nb blocks of 8 rows of a packed Q4_0 group for the dotQ4I tiles, 288 bytes per block.")
	dst := Load(Param("dst"), GP64())
	sc := Load(Param("sc"), GP64())
	q := Load(Param("q"), GP64())
	nb := Load(Param("nb"), GP64())
	mask := YMM()
	VMOVDQU(low4, mask)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	for z := 0; z < 4; z++ {
		v, h := YMM(), YMM()
		VMOVDQU(Mem{Base: q}.Offset(64*z), v)
		VPSRLW(U8(4), v, h)
		VPAND(mask, v, v)
		VPAND(mask, h, h)
		VMOVDQU(v, Mem{Base: dst}.Offset(64*z))
		VMOVDQU(h, Mem{Base: dst}.Offset(64*z+32))
	}
	dw := YMM()
	VCVTPH2PS(Mem{Base: sc}, dw)
	VMOVUPS(dw, Mem{Base: dst}.Offset(256))
	ADDQ(U32(288), dst)
	ADDQ(U32(288), sc)
	ADDQ(U32(288), q)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// q4KTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One Q4_K row against C rows quantized by QuantizeQ8 (strides in bytes; xc: the xs of
// q4K, scale·Σq per block, as float32, with the stride of xd), writing row c's dot product to out[c*os/4]. The
// row's scales, mins and nibbles are unpacked once for the C rows, and each row is summed
// with the operations of q4K in their order, so each result is bit-identical to it.
func q4KTile(C int, onesW Mem) {
	initConsts()
	name := fmt.Sprintf("dotQ4K_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb Q4_K super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	local := AllocLocal(32 * C)
	w, xq, xd, xc, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc, macc := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], macc[c] = YMM(), YMM()
		VXORPS(acc[c], acc[c], acc[c])
		VXORPS(macc[c], macc[c], macc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 144; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQK + o))
	}
	avoext.KScalesMinsN(w, C, func(c int) (Mem, Mem, Mem) {
		return avoext.RowAt(xd, xds, xds3, c), avoext.RowAt(xc, xds, xds3, c), local.Offset(32 * c)
	}, macc)
	for g := 0; g < 4; g++ {
		q, lo, hi := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(16+32*g), q)
		VPAND(consts.low4(), q, lo)
		VPSRLW(U8(4), q, hi)
		VPAND(consts.low4(), hi, hi)
		for half, v := range []VecVirtual{lo, hi} {
			j := 2*g + half
			for c := 0; c < C; c++ {
				p, s := YMM(), YMM()
				VPMADDUBSW(avoext.RowAt(xq, xs, xs3, c).Offset(32*j), v, p)
				VPMADDWD(onesW, p, p)
				VCVTDQ2PS(p, p)
				VBROADCASTSS(local.Offset(32*c+4*j), s)
				VFMADD231PS(p, s, acc[c])
			}
		}
	}
	ADDQ(U32(144), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(32), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, macc)
	VZEROUPPER()
	RET()
}

// q6KTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One Q6_K row against C rows quantized by QuantizeQ8 (strides in bytes; xc as q6K takes
// it, 32·Σx per 4 elements as int32, with the stride of xq), writing row c's dot product to out[c*os/4]. The
// 6-bit values and the scales are unpacked once for the C rows, and each row is summed
// with the operations of q6K in their order, so each result is bit-identical to it.
func q6KTile(C int, onesW Mem) {
	name := fmt.Sprintf("dotQ6K_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb Q6_K super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	w, xq, xd, xc, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 210; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetchQK + o))
	}
	d := YMM()
	VPBROADCASTW(Mem{Base: w}.Offset(208), d.AsX())
	VCVTPH2PS(d.AsX(), d)
	for h := 0; h < 2; h++ {
		scv := YMM()
		VPMOVSXBD(Mem{Base: w}.Offset(192+8*h), scv)
		VCVTDQ2PS(scv, scv)
		VMULPS(d, scv, scv) // d·sc[8h+i]
		for t := 0; t < 4; t++ {
			u, hb, sv := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(64*h+32*(t%2)), u)
			if t >= 2 {
				VPSRLW(U8(4), u, u)
			}
			VPAND(q6Mask0f, u, u)
			VMOVDQU(Mem{Base: w}.Offset(128+32*h), hb)
			switch t {
			case 0:
				VPSLLW(U8(4), hb, hb)
			case 1:
				VPSLLW(U8(2), hb, hb)
			case 3:
				VPSRLW(U8(2), hb, hb)
			}
			VPAND(q6Mask30, hb, hb)
			VPOR(hb, u, u) // u = 6-bit value, 0..63
			VMOVDQU(q6Idx.Offset(32*t), hb)
			VPERMPS(scv, hb, sv) // d·sc for the two groups of 16
			blk := 4*h + t
			for c := 0; c < C; c++ {
				p, s := YMM(), YMM()
				VPMADDUBSW(avoext.RowAt(xq, xs, xs3, c).Offset(32*blk), u, p)
				VPMADDWD(onesW, p, p)
				VPSUBD(avoext.RowAt(xc, xs, xs3, c).Offset(32*blk), p, p)
				VCVTDQ2PS(p, p)
				VBROADCASTSS(avoext.RowAt(xd, xds, xds3, c).Offset(4*blk), s)
				VMULPS(s, sv, s)
				VFMADD231PS(p, s, acc[c])
			}
		}
	}
	ADDQ(U32(210), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(256), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}
