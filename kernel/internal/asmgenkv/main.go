// Command asmgenkv generates the AVX2 assembly that reads a KV cache stored in float16 or
// q8_0 (kv_amd64.s, declared in kv_stubs_amd64.go) with avo (github.com/mmcloughlin/avo).
// Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// The kernels are the attention's two loops over cached positions, reading the stored
// rows directly: the scores of one query against rows keys, and the score-weighted sum
// of rows values. Float16 rows are widened with F16C's VCVTPH2PS; q8_0 rows (ggml's
// blocks of 32 int8 values after a float16 scale) are sign-extended and converted to
// float32 in registers. The Go code in kv.go holds the plain versions they are tested
// against.
package main

import (
	"flag"

	"github.com/decilm/decilm/kernel/internal/avoext"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	flag.Parse()
	ConstraintExpr("!purego")
	dotRowsF16()
	axpyRowsF16()
	dotRowsQ8()
	axpyRowsQ8()
	Generate()
}

// reduce sums the 8 lanes of acc (after adding the other accumulators to it) into the
// low lane of the returned register, in a fixed tree.
func reduce(acc []VecVirtual) VecVirtual {
	for i := 1; i < len(acc); i++ {
		VADDPS(acc[i], acc[0], acc[0])
	}
	x := avoext.HSum8(acc[0])
	return x
}

// dotRowsF16: func(q *float32, k *uint16, stride, n, rows int, scale float32, out *float32).
func dotRowsF16() {
	TEXT("dotRowsF16AVX", NOSPLIT, "func(q *float32, k *uint16, stride, n, rows int, scale float32, out *float32)")
	Doc("dotRowsF16AVX sets out[t] = (Σ q[i]·k[t*stride+i] over n elements)·scale for t < rows, k in float16 (n a multiple of 8, stride in elements).")
	q := Load(Param("q"), GP64())
	k := Load(Param("k"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(1), stride)
	n := Load(Param("n"), GP64())
	rows := Load(Param("rows"), GP64())
	sc := Load(Param("scale"), XMM())
	out := Load(Param("out"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	v := YMM()
	a, b, c := GP64(), GP64(), GP64()
	Label("row")
	MOVQ(q, a)
	MOVQ(k, b)
	MOVQ(n, c)
	for i := range acc {
		VXORPS(acc[i], acc[i], acc[i])
	}
	Label("loop32")
	CMPQ(c, U8(32))
	JL(LabelRef("loop8"))
	for i := 0; i < 4; i++ {
		VCVTPH2PS(Mem{Base: b}.Offset(16*i), v)
		VFMADD231PS(Mem{Base: a}.Offset(32*i), v, acc[i])
	}
	ADDQ(U8(128), a)
	ADDQ(U8(64), b)
	SUBQ(U8(32), c)
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(c, U8(8))
	JL(LabelRef("sum"))
	VCVTPH2PS(Mem{Base: b}, v)
	VFMADD231PS(Mem{Base: a}, v, acc[0])
	ADDQ(U8(32), a)
	ADDQ(U8(16), b)
	SUBQ(U8(8), c)
	JMP(LabelRef("loop8"))
	Label("sum")
	x := reduce(acc)
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

// axpyRowsF16: func(a *float32, x *uint16, stride, rows int, y *float32, n int).
func axpyRowsF16() {
	TEXT("axpyRowsF16AVX", NOSPLIT, "func(a *float32, x *uint16, stride, rows int, y *float32, n int)")
	Doc("axpyRowsF16AVX adds a[t]·x[t*stride+i] to y[i] for t < rows in order and i < n, x in float16 (n a multiple of 8, stride in elements), each step a fused multiply-add.")
	ap := Load(Param("a"), GP64())
	x := Load(Param("x"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(1), stride)
	rows := Load(Param("rows"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	av, v := YMM(), YMM()
	t, xp, aq := GP64(), GP64(), GP64()
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
			VCVTPH2PS(Mem{Base: xp}.Offset(16*i), v)
			VFMADD231PS(v, av, acc[i])
		}
		ADDQ(U8(4), aq)
		ADDQ(stride, xp)
		DECQ(t)
		JNZ(LabelRef("rows" + sfx))
		for i := 0; i < w; i++ {
			VMOVUPS(acc[i], Mem{Base: y}.Offset(32*i))
		}
		ADDQ(U8(32*w), y)
		ADDQ(U8(16*w), x)
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

// scaleF16 loads the float16 at m, widened to float32, into the low lane of a new
// register.
func scaleF16(m Mem) VecVirtual {
	r := GP32()
	MOVWLZX(m, r)
	x := XMM()
	VMOVD(r, x)
	VCVTPH2PS(x, x)
	return x
}

// dotRowsQ8: func(q *float32, k *byte, stride, nb, rows int, scale float32, out *float32).
func dotRowsQ8() {
	TEXT("dotRowsQ8AVX", NOSPLIT, "func(q *float32, k *byte, stride, nb, rows int, scale float32, out *float32)")
	Doc("dotRowsQ8AVX sets out[t] = (Σ_b d_b·Σ_i q[32b+i]·k_b[i])·scale for t < rows over nb q8_0 blocks (34 bytes: a float16 scale d_b and 32 int8 values k_b) of the row at k + t*stride bytes.")
	q := Load(Param("q"), GP64())
	k := Load(Param("k"), GP64())
	stride := Load(Param("stride"), GP64())
	nb := Load(Param("nb"), GP64())
	rows := Load(Param("rows"), GP64())
	sc := Load(Param("scale"), XMM())
	out := Load(Param("out"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	tot := []VecVirtual{YMM(), YMM()}
	blk := []VecVirtual{YMM(), YMM()}
	v, d := YMM(), YMM()
	a, b, c := GP64(), GP64(), GP64()
	Label("row")
	MOVQ(q, a)
	MOVQ(k, b)
	MOVQ(nb, c)
	VXORPS(tot[0], tot[0], tot[0])
	VXORPS(tot[1], tot[1], tot[1])
	Label("block")
	// Two partial sums per block (values 0-15 and 16-31), added, scaled by d_b.
	for i := 0; i < 4; i++ {
		VPMOVSXBD(Mem{Base: b}.Offset(2+8*i), v)
		VCVTDQ2PS(v, v)
		if i < 2 {
			VMULPS(Mem{Base: a}.Offset(32*i), v, blk[i])
		} else {
			VFMADD231PS(Mem{Base: a}.Offset(32*i), v, blk[i-2])
		}
	}
	VADDPS(blk[1], blk[0], blk[0])
	s := scaleF16(Mem{Base: b})
	VBROADCASTSS(s, d)
	VFMADD231PS(blk[0], d, tot[0])
	ADDQ(U8(128), a)
	ADDQ(U8(34), b)
	DECQ(c)
	JZ(LabelRef("sum"))
	// The next block goes to the second total, so two chains are in flight.
	for i := 0; i < 4; i++ {
		VPMOVSXBD(Mem{Base: b}.Offset(2+8*i), v)
		VCVTDQ2PS(v, v)
		if i < 2 {
			VMULPS(Mem{Base: a}.Offset(32*i), v, blk[i])
		} else {
			VFMADD231PS(Mem{Base: a}.Offset(32*i), v, blk[i-2])
		}
	}
	VADDPS(blk[1], blk[0], blk[0])
	s = scaleF16(Mem{Base: b})
	VBROADCASTSS(s, d)
	VFMADD231PS(blk[0], d, tot[1])
	ADDQ(U8(128), a)
	ADDQ(U8(34), b)
	DECQ(c)
	JNZ(LabelRef("block"))
	Label("sum")
	x := reduce(tot)
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

// axpyRowsQ8: func(a *float32, x *byte, stride, rows int, y *float32, nb int).
func axpyRowsQ8() {
	TEXT("axpyRowsQ8AVX", NOSPLIT, "func(a *float32, x *byte, stride, rows int, y *float32, nb int)")
	Doc("axpyRowsQ8AVX adds (a[t]·d_b)·x_b[i] to y[32b+i] for t < rows in order over nb q8_0 blocks (34 bytes: a float16 scale d_b and 32 int8 values x_b) of the row at x + t*stride bytes, each step a fused multiply-add.")
	ap := Load(Param("a"), GP64())
	x := Load(Param("x"), GP64())
	stride := Load(Param("stride"), GP64())
	rows := Load(Param("rows"), GP64())
	y := Load(Param("y"), GP64())
	nb := Load(Param("nb"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	acc := []VecVirtual{YMM(), YMM(), YMM(), YMM()}
	cv, v := YMM(), YMM()
	t, xp, aq := GP64(), GP64(), GP64()
	Label("block")
	for i := range acc {
		VMOVUPS(Mem{Base: y}.Offset(32*i), acc[i])
	}
	MOVQ(rows, t)
	MOVQ(x, xp)
	MOVQ(ap, aq)
	Label("rows")
	s := scaleF16(Mem{Base: xp})
	VMULSS(Mem{Base: aq}, s, s)
	VBROADCASTSS(s, cv)
	for i := range acc {
		VPMOVSXBD(Mem{Base: xp}.Offset(2+8*i), v)
		VCVTDQ2PS(v, v)
		VFMADD231PS(v, cv, acc[i])
	}
	ADDQ(U8(4), aq)
	ADDQ(stride, xp)
	DECQ(t)
	JNZ(LabelRef("rows"))
	for i := range acc {
		VMOVUPS(acc[i], Mem{Base: y}.Offset(32*i))
	}
	ADDQ(U8(128), y)
	ADDQ(U8(34), x)
	DECQ(nb)
	JNZ(LabelRef("block"))
	Label("done")
	VZEROUPPER()
	RET()
}
