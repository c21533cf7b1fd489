// Command asmgen512f generates the AVX-512 kernels of package kernel for matrix products
// with float weights (F32, BF16, F16) and several activation rows, with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/float512_amd64.s and the Go declarations kernel/float512_stubs_amd64.go.
//
// The tiles take float32 weights only: F32 weight rows are read where they are, and a
// panel of R BF16 or F16 weight rows is first widened to float32 by the pack kernels
// into a buffer that stays in the L1 cache while every activation row of a block uses
// it. A tile of R weight rows and C activation rows keeps R·C zmm accumulators, each the
// 16 lane partial sums of one dot product, and reduces them at the end with a shuffle
// tree that turns 4 accumulators into the 4 neighbouring outputs of one activation row.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The tile shapes generated: R ≤ maxR weight rows by C ≤ maxC activation rows (the
// largest in use, the smaller ones for ragged edges), with R·C + C + 1 zmm registers in
// the loop (of 32).
const (
	maxR = 4
	maxC = 6
)

// Weight types.
const (
	f32 = iota
	bf16
	f16
)

var typeNames = []string{"F32", "BF16", "F16"}

func main() {
	ConstraintExpr("!purego")

	g4 := GLOBL("f512gather4", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(uint32(4*(i%4))))
	}
	zeros := GLOBL("f512zeros", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(8*i, U64(0))
	}
	for r := 1; r <= maxR; r++ {
		for c := 1; c <= maxC; c++ {
			tile(f32, r, c, g4, zeros)
		}
	}
	// Matrix-vector products widen BF16 and F16 weights in the loop rather than through
	// a buffer (each weight is used once).
	for r := 1; r <= maxR; r++ {
		tile(bf16, r, 1, g4, zeros)
		tile(f16, r, 1, g4, zeros)
	}
	pack(bf16)
	pack(f16)
	prefetch()
	Generate()
}

// tile: func(w *float32, ws int, x *float32, xs int, k int, out *float32, os int) adds
// Σ_l w[r][l]·x[c][l] over l < k (any k ≥ 0) to out[c*os/4 + r]; ws, xs and os are row
// strides in bytes. The last k%16 elements are read with masked loads, so nothing past
// the k-th element of a row is touched.
func tile(t, R, C int, g4, zeros Mem) {
	name := fmt.Sprintf("f512Tile%dx%d", R, C)
	wt, scale := "float32", uint8(4)
	if t != f32 {
		name = fmt.Sprintf("f512Tile%s_%dx%d", typeNames[t], R, C)
		wt, scale = "byte", 2
	}
	TEXT(name, NOSPLIT, "func(w *"+wt+", ws int, x *float32, xs int, k int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the %d×%d dot products of %d %s weight rows and %d float32 rows over k elements to out[c*os/4+r] (strides in bytes).", name, R, C, R, typeNames[t], C))
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
	xb := Load(Param("x"), GP64())
	xs := Load(Param("xs"), GP64())
	k := Load(Param("k"), GP64())
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
			acc[i][j] = ZMM()
			VPXORD(acc[i][j], acc[i][j], acc[i][j])
		}
	}
	// The mask of the last k%16 elements (none where k is a multiple of 16).
	km := K()
	{
		t, m := GP32(), GP32()
		MOVL(k.(GPVirtual).As32(), t)
		ANDL(U8(15), t)
		MOVL(U32(1), m)
		SHLXL(t, m, m)
		DECL(m)
		KMOVW(m, km)
	}
	// l runs over the elements of the whole 16-element steps, end is their number.
	l := GP64()
	end := GP64()
	XORQ(l, l)
	MOVQ(k, end)
	ANDQ(I32(-16), end)
	JZ(LabelRef("tail"))
	xv := make([]VecVirtual, C)
	for j := range xv {
		xv[j] = ZMM()
	}
	wv := ZMM()
	tailStep := false
	// step: the FMAs of 16 elements. Each lane of an accumulator sums the products of
	// the elements ≡ lane (mod 16) in order, the same for every weight type and tile
	// shape, so that an output does not depend on the tile it falls in.
	step := func() {
		for i := 0; i < R; i++ {
			m := Mem{Base: wp[i], Index: l, Scale: scale}
			switch {
			case t == f32 && tailStep:
				VMOVUPS_Z(m, km, wv)
			case t == f32:
				VMOVUPS(m, wv)
			case t == bf16 && tailStep:
				VPMOVZXWD_Z(m, km, wv)
			case t == bf16:
				VPMOVZXWD(m, wv)
			case tailStep: // a masked 16-bit load, which suppresses faults past k
				VMOVDQU16_Z(m, km, wv.AsY())
				VCVTPH2PS(wv.AsY(), wv)
			default:
				VCVTPH2PS(m, wv)
			}
			if t == bf16 {
				VPSLLD(U8(16), wv, wv)
			}
			for j := 0; j < C; j++ {
				VFMADD231PS(wv, xv[j], acc[i][j])
			}
		}
	}
	Label("loop")
	for j := range xv {
		VMOVUPS(Mem{Base: xp[j], Index: l, Scale: 4}, xv[j])
	}
	step()
	ADDQ(U8(16), l)
	CMPQ(l, end)
	JNE(LabelRef("loop"))

	Label("tail")
	KORTESTW(km, km)
	JZ(LabelRef("reduce"))
	for j := range xv {
		VMOVUPS_Z(Mem{Base: xp[j], Index: l, Scale: 4}, km, xv[j])
	}
	tailStep = true
	step()

	Label("reduce")
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	gather := ZMM()
	VMOVUPS(g4, gather)
	var rm Op
	if R != 4 {
		m := GP32()
		MOVL(U32(1<<R-1), m)
		rm = K()
		KMOVW(m, rm)
	}
	var zero VecVirtual // padding for R < 4
	if R != 4 {
		zero = ZMM()
		VMOVUPS(zeros, zero) // not VPXORD, which would keep the register live from the start
	}
	for j := 0; j < C; j++ {
		col := make([]VecVirtual, 4)
		for i := range col {
			col[i] = zero
			if i < R {
				col[i] = acc[i][j]
			}
		}
		s := reduce4(col[0], col[1], col[2], col[3], gather).AsX()
		dst := Mem{Base: o}
		if rm == nil {
			VADDPS(dst, s, s)
			VMOVUPS(s, dst)
		} else { // only R floats: masked
			t := XMM()
			VMOVUPS_Z(dst, rm, t)
			VADDPS(t, s, s)
			VMOVUPS(s, rm, dst)
		}
		if j+1 < C {
			ADDQ(os, o)
		}
	}
	VZEROUPPER()
	RET()
}

// half returns [a0+a2, a1+a3, b0+b2, b1+b3] (in 128-bit lanes) in a, or a itself where a
// and b are the same (zero) register.
func half(a, b VecVirtual) VecVirtual {
	if a == b {
		return a // both the zero padding
	}
	t := ZMM()
	VSHUFF64X2(U8(0x44), b, a, t) // [a0, a1, b0, b1]
	VSHUFF64X2(U8(0xEE), b, a, a) // [a2, a3, b2, b3]
	VADDPS(t, a, a)
	return a
}

// quad returns, from two results of half, [Σa, Σb, Σc, Σd] in 128-bit lanes of 4
// partial sums each.
func quad(ab, cd VecVirtual) VecVirtual {
	t := ZMM()
	VSHUFF64X2(U8(0x88), cd, ab, t)  // [ab0, ab2, cd0, cd2]
	VSHUFF64X2(U8(0xDD), cd, ab, ab) // [ab1, ab3, cd1, cd3]
	VADDPS(t, ab, ab)
	return ab
}

// reduce4 returns a zmm register whose low 4 lanes are the sums of the 16 lanes of a, b,
// c and d (in that order).
func reduce4(a, b, c, d, gather VecVirtual) VecVirtual {
	s := quad(half(a, b), half(c, d))
	// Within each lane: every element becomes the lane's total.
	t := ZMM()
	VPERMILPS(U8(0x4E), s, t)
	VADDPS(t, s, s)
	VPERMILPS(U8(0xB1), s, t)
	VADDPS(t, s, s)
	VPERMPS(s, gather, s) // elements 0, 4, 8, 12
	return s
}

// pack: func(dst *float32, ds int, src *byte, n int) widens n BF16 (t = 1) or F16 (2)
// values at src to float32, writing groups of 16 at dst, dst+ds, dst+2·ds, ...
// (ds in bytes; zeros past n, up to the next multiple of 16).
func pack(t int) {
	what := typeNames[t]
	name := "pack" + what + "x16"
	TEXT(name, NOSPLIT, "func(dst *float32, ds int, src *byte, n int)")
	Doc(fmt.Sprintf("%s widens n %s values at src to float32, writing them 16 at a time at dst, dst+ds, dst+2·ds, ... (ds in bytes; zeros past n up to a multiple of 16).", name, what))
	d := Load(Param("dst"), GP64())
	ds := Load(Param("ds"), GP64())
	s := Load(Param("src"), GP64())
	n := Load(Param("n"), GP64())
	size := []int{4, 2, 2}[t]
	v := [2]VecVirtual{ZMM(), ZMM()}
	load := func(m Mem, v VecVirtual, km Op) {
		switch {
		case t == 0 && km == nil:
			VMOVUPS(m, v)
		case t == 0:
			VMOVUPS_Z(m, km, v)
		case t == 1 && km == nil:
			VPMOVZXWD(m, v)
		case t == 1:
			VPMOVZXWD_Z(m, km, v)
		case km == nil:
			VCVTPH2PS(m, v)
		default: // a masked 16-bit load, which suppresses faults past n
			VMOVDQU16_Z(m, km, v.AsY())
			VCVTPH2PS(v.AsY(), v)
		}
		if t == 1 {
			VPSLLD(U8(16), v, v)
		}
	}
	Label("loop32")
	CMPQ(n, U8(32))
	JL(LabelRef("loop16"))
	load(Mem{Base: s}, v[0], nil)
	load(Mem{Base: s}.Offset(16*size), v[1], nil)
	VMOVUPS(v[0], Mem{Base: d})
	VMOVUPS(v[1], Mem{Base: d, Index: ds, Scale: 1})
	ADDQ(U8(32*size), s)
	LEAQ(Mem{Base: d, Index: ds, Scale: 2}, d)
	SUBQ(U8(32), n)
	JMP(LabelRef("loop32"))
	Label("loop16")
	CMPQ(n, U8(16))
	JL(LabelRef("tail"))
	load(Mem{Base: s}, v[0], nil)
	VMOVUPS(v[0], Mem{Base: d})
	ADDQ(U8(16*size), s)
	ADDQ(ds, d)
	SUBQ(U8(16), n)
	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	mask := GP32()
	MOVL(U32(1), mask)
	SHLXL(n.(GPVirtual).As32(), mask, mask)
	DECL(mask)
	km := K()
	KMOVW(mask, km)
	load(Mem{Base: s}, v[0], km)
	VMOVUPS(v[0], Mem{Base: d})
	Label("done")
	VZEROUPPER()
	RET()
}

// prefetch: func(p *byte, stride int, rows int, n int) prefetches into the L2 cache the
// cache lines of bytes [0, n) of each of rows rows at p, p+stride, ...
func prefetch() {
	TEXT("prefetchRows", NOSPLIT, "func(p *byte, stride int, rows int, n int)")
	Doc("prefetchRows prefetches into the L2 cache bytes [0, n) of each of rows rows at p, p+stride, ... (a hint: the addresses need not be valid).")
	p := Load(Param("p"), GP64())
	stride := Load(Param("stride"), GP64())
	rows := Load(Param("rows"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	Label("row")
	off := GP64()
	XORQ(off, off)
	Label("line")
	PREFETCHT1(Mem{Base: p, Index: off, Scale: 1})
	ADDQ(U8(64), off)
	CMPQ(off, n)
	JB(LabelRef("line"))
	ADDQ(stride, p)
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("done")
	RET()
}
