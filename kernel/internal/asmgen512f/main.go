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
// The full F32 tiles come a second time with a prefetch of the next tile's weights in
// their loop.
//
// For F32 weights and up to 16 activation rows (batched generation) the rows kernels
// (rowsKernel) stream the weights instead, one row at a time against activations packed
// by packF32x16 into the L1 cache (for 16 activation rows two or three weight rows at a
// time: groupKernel), with the same lane sums and reduction tree, so that every path
// gives the same bits.
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

// maxRowsC is the most activation rows of the one-row kernels (rowsKernel).
const maxRowsC = 16

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
			tile(f32, r, c, g4, zeros, false)
		}
	}
	// The tiles of full weight tiles, which also prefetch the weights of the next one.
	for c := 1; c <= maxC; c++ {
		tile(f32, maxR, c, g4, zeros, true)
	}
	// Matrix-vector products widen BF16 and F16 weights in the loop rather than through
	// a buffer (each weight is used once).
	for r := 1; r <= maxR; r++ {
		tile(bf16, r, 1, g4, zeros, false)
		tile(f16, r, 1, g4, zeros, false)
	}
	iota := GLOBL("f512iota", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(uint32(i)))
	}
	perm := GLOBL("f512rowsperm", RODATA|NOPTR)
	for c := 0; c < 16; c++ {
		DATA(4*c, U32(uint32(4*(c%4)+c/4)))
	}
	for c := 2; c <= maxRowsC; c++ {
		rowsKernel(c, zeros, iota, perm)
	}
	groupKernel(2, zeros, iota, perm)
	groupKernel(3, zeros, iota, perm)
	pack(f32)
	pack(bf16)
	pack(f16)
	prefetch()
	Generate()
}

// tile: func(w *float32, ws int, x *float32, xs int, k int, out *float32, os int) adds
// Σ_l w[r][l]·x[c][l] over l < k (any k ≥ 0) to out[c*os/4 + r]; ws, xs and os are row
// strides in bytes. The last k%16 elements are read with masked loads, so nothing past
// the k-th element of a row is touched. With pf (F32 only), the tile takes two more
// arguments, pf *byte and pfs int, and prefetches into the L2 cache a cache line of the
// rows at pf and pf+pfs per 16 elements of its loop: the first 4·k bytes of both.
func tile(t, R, C int, g4, zeros Mem, pf bool) {
	name := fmt.Sprintf("f512Tile%dx%d", R, C)
	wt, scale := "float32", uint8(4)
	if t != f32 {
		name = fmt.Sprintf("f512Tile%s_%dx%d", typeNames[t], R, C)
		wt, scale = "byte", 2
	}
	sig := "func(w *" + wt + ", ws int, x *float32, xs int, k int, out *float32, os int)"
	doc := fmt.Sprintf("%s adds the %d×%d dot products of %d %s weight rows and %d float32 rows over k elements to out[c*os/4+r] (strides in bytes).", name, R, C, R, typeNames[t], C)
	if pf {
		name += "PF"
		sig = "func(w *" + wt + ", ws int, x *float32, xs int, k int, out *float32, os int, pf *byte, pfs int)"
		doc = fmt.Sprintf("%s is f512Tile%dx%d that also prefetches into the L2 cache the first 4·k bytes of the rows at pf and pf+pfs, a cache line of each per 16 elements (a hint: the addresses need not be valid).", name, R, C)
	}
	TEXT(name, NOSPLIT, sig)
	Doc(doc)
	var pf0, pf1 GPVirtual
	if pf {
		pf0 = Load(Param("pf"), GP64()).(GPVirtual)
		pf1 = GP64()
		pfs := Load(Param("pfs"), GP64())
		LEAQ(Mem{Base: pf0, Index: pfs, Scale: 1}, pf1)
	}
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
	km := tailMask(k)
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
	if pf {
		pfInst(Mem{Base: pf0, Index: l, Scale: 4})
		pfInst(Mem{Base: pf1, Index: l, Scale: 4})
	}
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

// rowsKernel: func(w *float32, ws int, rows int, x *float32, k int, acc *float32,
// out *float32, os int, pfd int, mode int) computes, for each of rows F32 weight rows at
// w, w+ws, ... (bytes), the C dot products of the row and C activation rows over k
// elements with the same operations as the tiles (the same lane sums and reduction
// tree), and adds them to a row of 16 running sums at acc (64 bytes a weight row; lanes
// past C hold zeros): acc[16r+c] = acc[16r+c] + dot, where mode&rowsFirst takes 0 for
// the old value and mode&rowsLast writes the new one to out[c*os/4+r] instead of acc.
// The activations are packed by packF32x16 with a stride of 64·C bytes (16 elements of
// each row in turn, zeros past k), so that they stay in the L1 cache while the weights
// stream through once, a row at a time, each cache line of weights feeding C FMAs; the
// weights pfd bytes past each loaded cache line are prefetched into the L2 cache.
//
// The reduction of the 16 accumulators of a weight row runs the tiles' tree (reduce4)
// on all of them at once: half and quad leave 4 partial sums per dot product, and a 4×4
// transpose within 128-bit lanes puts the i-th partial sums of 16 dot products in one
// register, so that two rounds of adds end the tree for the 16 together.
func rowsKernel(C int, zeros, iota, perm Mem) {
	name := fmt.Sprintf("f512Rows%d", C)
	TEXT(name, NOSPLIT, "func(w *float32, ws int, rows int, x *float32, k int, acc *float32, out *float32, os int, pfd int, mode int)")
	Doc(fmt.Sprintf("%s adds, for each of rows F32 weight rows at w, w+ws, ... (bytes), the dot products with %d activation rows packed by packF32x16 (stride %d bytes) over k elements to the row of 16 sums at acc (mode 1: to zero; mode 2: written to out[c*os/4+r] instead; 3: both), prefetching the weights pfd bytes ahead of each load (a hint).", name, C, 64*C))
	w := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	rows := Load(Param("rows"), GP64())
	xb := Load(Param("x"), GP64())
	k := Load(Param("k"), GP64())
	ap := Load(Param("acc"), GP64())
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	pfd := Load(Param("pfd"), GP64())
	mode := Load(Param("mode"), GP64())
	km, end, endU := rowsBounds(k)
	zero := ZMM()
	VMOVUPS(zeros, zero)
	pidx := ZMM()
	VMOVUPS(perm, pidx)
	// The scatter's offsets c*os, c < 16.
	sidx := ZMM()
	VPBROADCASTD(os.(GPVirtual).As32(), sidx)
	VPMULLD(iota, sidx, sidx)
	cmask := GP32()
	MOVL(U32(1<<C-1), cmask)
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = ZMM()
	}
	wv := ZMM()
	l, xp, pf := GP64(), GP64(), GP64()

	Label("row")
	for c := range acc {
		VPXORD(acc[c], acc[c], acc[c])
	}
	XORQ(l, l)
	MOVQ(xb, xp)
	LEAQ(Mem{Base: w, Index: pfd, Scale: 1}, pf)
	step := func(disp int) {
		PREFETCHT1(Mem{Base: pf, Index: l, Scale: 4, Disp: disp})
		VMOVUPS(Mem{Base: w, Index: l, Scale: 4, Disp: disp}, wv)
		for c := range acc {
			VFMADD231PS(Mem{Base: xp, Disp: 64*c + disp*C}, wv, acc[c])
		}
	}
	// rowsUnroll steps of 16 elements a pass, then single steps.
	CMPQ(endU, U8(0))
	JE(LabelRef("single"))
	Label("loop")
	for u := 0; u < rowsUnroll; u++ {
		step(64 * u)
	}
	ADDQ(U32(64*C*rowsUnroll), xp)
	ADDQ(U8(16*rowsUnroll), l)
	CMPQ(l, endU)
	JNE(LabelRef("loop"))
	Label("single")
	CMPQ(l, end)
	JE(LabelRef("tail"))
	step(0)
	ADDQ(U32(64*C), xp)
	ADDQ(U8(16), l)
	JMP(LabelRef("single"))

	Label("tail") // the packed activations are zero past k, as the masked weights
	KORTESTW(km, km)
	JZ(LabelRef("reduce"))
	VMOVUPS_Z(Mem{Base: w, Index: l, Scale: 4}, km, wv)
	for c := range acc {
		VFMADD231PS(Mem{Base: xp, Disp: 64 * c}, wv, acc[c])
	}

	Label("reduce")
	cols := make([]VecVirtual, 16)
	for c := range cols {
		cols[c] = zero
		if c < C {
			cols[c] = acc[c]
		}
	}
	v0 := reduce16(cols, zero, pidx)
	toRunningSums(v0, zero, Mem{Base: ap}, mode, "", func() {
		sm := K()
		KMOVW(cmask, sm)
		VSCATTERDPS(v0, sm, Mem{Base: o, Index: sidx, Scale: 1})
	})
	ADDQ(U8(64), ap)
	ADDQ(U8(4), o)
	ADDQ(ws, w)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// tailMask emits the mask of the last k mod 16 elements of a row of k (none where k is a
// multiple of 16).
func tailMask(k Register) Register {
	km := K()
	t, m := GP32(), GP32()
	MOVL(k.(GPVirtual).As32(), t)
	ANDL(U8(15), t)
	MOVL(U32(1), m)
	SHLXL(t, m, m)
	DECL(m)
	KMOVW(m, km)
	return km
}

// rowsBounds emits the loop bounds of the rows kernels over k elements: the mask of the
// k mod 16 elements of the last, partial step, k rounded down to 16, and k rounded down
// to a whole unrolled iteration (16·rowsUnroll).
func rowsBounds(k Register) (km, end, endU Register) {
	km = tailMask(k)
	end = GP64()
	MOVQ(k, end)
	ANDQ(I32(-16), end)
	endU = GP64()
	MOVQ(end, endU)
	ANDQ(I32(-16*rowsUnroll), endU)
	return km, end, endU
}

// reduce16 returns the 16 sums of the lanes of a[0], ..., a[15] (zero: the zero
// register, for dot products left out), in lanes 0 to 15, by the tiles' tree (reduce4)
// run on all of them at once: half and quad leave 4 partial sums per dot product, and a
// 4×4 transpose within 128-bit lanes puts the i-th partial sums of the 16 in one
// register, so that two rounds of adds end the tree for the 16 together. perm is the
// register of f512rowsperm. The accumulators are overwritten.
func reduce16(a []VecVirtual, zero, perm VecVirtual) VecVirtual {
	var q [4]VecVirtual // q[j] lane i: the 4 partial sums of dot product 4j+i
	for j := range q {
		if a[4*j] == zero && a[4*j+1] == zero && a[4*j+2] == zero && a[4*j+3] == zero {
			q[j] = zero
			continue
		}
		q[j] = quad(half(a[4*j], a[4*j+1]), half(a[4*j+2], a[4*j+3]))
	}
	// v[i] lane L element j: partial sum i of dot product 4j+L.
	t0, t1, t2, t3 := ZMM(), ZMM(), ZMM(), ZMM()
	VUNPCKLPS(q[1], q[0], t0)
	VUNPCKHPS(q[1], q[0], t1)
	VUNPCKLPS(q[3], q[2], t2)
	VUNPCKHPS(q[3], q[2], t3)
	v0, v1, v2, v3 := ZMM(), ZMM(), ZMM(), ZMM()
	VUNPCKLPD(t2, t0, v0)
	VUNPCKHPD(t2, t0, v1)
	VUNPCKLPD(t3, t1, v2)
	VUNPCKHPD(t3, t1, v3)
	VADDPS(v2, v0, v0) // (e0+e2) + (e1+e3), as reduce4
	VADDPS(v3, v1, v1)
	VADDPS(v1, v0, v0)
	VPERMPS(v0, perm, v0) // dot product c in lane c
	return v0
}

// groupKernel: func(w *float32, ws int, groups int, x *float32, k int, acc *float32,
// out *float32, os int, pfd int, mode int) is rowsKernel for 16 activation rows on
// R·groups weight rows, R at a time (R = 2 or 3): a first pass multiplies the R rows with
// activation rows 0 to 7 and a second with 8 to 15 (the R weight rows again, now from
// the L1 cache), 8·R accumulators each, so that a step of 16 elements loads R weight and
// 8 activation vectors for its 8·R FMAs. The loads limit the kernel as much as the FMAs
// do: a line of weights takes 2 + 16/R loads (10 for pairs, 7.3 for triples) beside its
// 16 FMAs. The passes between them prefetch each of the rows once, pfd bytes ahead. The
// pointers advance through the rows (the rows below the first addressed as w + ws and w +
// 2·ws), so that few general registers are in use. The dot products are summed as by
// rowsKernel, so the same bits.
func groupKernel(R int, zeros, iota, perm Mem) {
	const C = 16
	name := map[int]string{2: "f512RowPairs16", 3: "f512RowTriples16"}[R]
	TEXT(name, NOSPLIT, "func(w *float32, ws int, groups int, x *float32, k int, acc *float32, out *float32, os int, pfd int, mode int)")
	Doc(fmt.Sprintf("%s is f512Rows16 on %d·groups weight rows, taken %d at a time.", name, R, R))
	w := Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	groups := Load(Param("groups"), GP64())
	xb := Load(Param("x"), GP64())
	k := Load(Param("k"), GP64())
	ap := Load(Param("acc"), GP64())
	o := Load(Param("out"), GP64())
	km, end, endU := rowsBounds(k)
	// end and endU in bytes of weights.
	SHLQ(U8(2), end)
	SHLQ(U8(2), endU)
	nred := (R + 1) / 2 // reductions of 16 dot products a pass: rows 2j and 2j+1
	spill := AllocLocal(64 * nred)
	TESTQ(groups, groups)
	JZ(LabelRef("done"))
	acc := make([]VecVirtual, 8*R) // acc[8r+c]: weight row r, activation row c of the pass
	for i := range acc {
		acc[i] = ZMM()
	}
	xv := make([]VecVirtual, 8)
	for i := range xv {
		xv[i] = ZMM()
	}
	wv := make([]VecVirtual, R)
	for i := range wv {
		wv[i] = ZMM()
	}
	// row returns the address of weight row r (of the group at base) at displacement d.
	row := func(base Register, r, d int) Mem {
		switch r {
		case 0:
			return Mem{Base: base, Disp: d}
		case 1:
			return Mem{Base: base, Index: ws, Scale: 1, Disp: d}
		default:
			return Mem{Base: base, Index: ws, Scale: 2, Disp: d}
		}
	}
	wp, xp, pf, wend := GP64(), GP64(), GP64(), GP64()

	Label("group")
	for pass := 0; pass < 2; pass++ {
		sfx := fmt.Sprint(pass)
		for i := range acc {
			VPXORD(acc[i], acc[i], acc[i])
		}
		MOVQ(w, wp)
		MOVQ(xb, xp)
		Load(Param("pfd"), pf)
		ADDQ(w, pf)
		// The rows this pass prefetches: 0 to R/2-1 in the first, the rest in the second.
		pfRows := []int{}
		for r := 0; r < R; r++ {
			if (r < R/2) == (pass == 0) {
				pfRows = append(pfRows, r)
			}
		}
		step := func(disp int, masked bool) {
			if !masked {
				for _, r := range pfRows {
					PREFETCHT1(row(pf, r, disp))
				}
			}
			for r := range wv {
				if masked {
					VMOVUPS_Z(row(wp, r, disp), km, wv[r])
				} else {
					VMOVUPS(row(wp, r, disp), wv[r])
				}
			}
			for c := range xv {
				VMOVUPS(Mem{Base: xp, Disp: 64*(8*pass+c) + disp*C}, xv[c])
				for r := range wv {
					VFMADD231PS(xv[c], wv[r], acc[8*r+c])
				}
			}
		}
		LEAQ(Mem{Base: w, Index: endU, Scale: 1}, wend)
		CMPQ(wp, wend)
		JE(LabelRef("single" + sfx))
		Label("loop" + sfx)
		for u := 0; u < rowsUnroll; u++ {
			step(64*u, false)
		}
		ADDQ(U32(64*C*rowsUnroll), xp)
		ADDQ(U32(64*rowsUnroll), wp)
		ADDQ(U32(64*rowsUnroll), pf)
		CMPQ(wp, wend)
		JNE(LabelRef("loop" + sfx))
		Label("single" + sfx)
		LEAQ(Mem{Base: w, Index: end, Scale: 1}, wend)
		CMPQ(wp, wend)
		JE(LabelRef("tail" + sfx))
		step(0, false)
		ADDQ(U32(64*C), xp)
		ADDQ(U8(64), wp)
		ADDQ(U8(64), pf)
		JMP(LabelRef("single" + sfx))
		Label("tail" + sfx)
		KORTESTW(km, km)
		JZ(LabelRef("reduce" + sfx))
		step(0, true)
		Label("reduce" + sfx)
		zero, pidx := ZMM(), ZMM()
		VMOVUPS(zeros, zero)
		VMOVUPS(perm, pidx)
		for j := 0; j < nred; j++ {
			a := make([]VecVirtual, 16)
			for i := range a {
				a[i] = zero
				if 8*2*j+i < len(acc) {
					a[i] = acc[8*2*j+i]
				}
			}
			v := reduce16(a, zero, pidx) // lane 8r+c: weight row 2j+r, activation row 8·pass+c
			if pass == 0 {
				VMOVUPS(v, spill.Offset(64*j))
				continue
			}
			// Rows 2j and 2j+1: [pass 0 lanes 0-7, v lanes 0-7] and [pass 0 lanes 8-15,
			// v lanes 8-15].
			vA := ZMM()
			VMOVUPS(spill.Offset(64*j), vA)
			rows := []VecVirtual{ZMM(), v}
			VSHUFF64X2(U8(0x44), v, vA, rows[0])
			VSHUFF64X2(U8(0xEE), v, vA, rows[1])
			if 2*j+1 >= R {
				rows = rows[:1]
			}
			for i, s := range rows {
				r := 2*j + i
				sr := fmt.Sprint(r)
				mode := Load(Param("mode"), GP64())
				toRunningSums(s, zero, Mem{Base: ap, Disp: 64 * r}, mode, sr, func() {
					sidx := ZMM()
					os := Load(Param("os"), GP64())
					VPBROADCASTD(os.(GPVirtual).As32(), sidx)
					VPMULLD(iota, sidx, sidx)
					sm, mk := K(), GP32()
					MOVL(U32(0xffff), mk)
					KMOVW(mk, sm)
					VSCATTERDPS(s, sm, Mem{Base: o, Index: sidx, Scale: 1, Disp: 4 * r})
				})
			}
		}
	}
	ADDQ(U8(64*R), ap)
	ADDQ(U8(4*R), o)
	for r := 0; r < R; r++ {
		ADDQ(ws, w)
	}
	DECQ(groups)
	JNZ(LabelRef("group"))

	Label("done")
	VZEROUPPER()
	RET()
}

// toRunningSums emits the end of a k-block for a row of 16 dot products s: added to the
// running sums at acc (to zero in the first k-block, mode&rowsFirst) and stored back, or
// in the last k-block (mode&rowsLast) written to out by scatter instead. sfx makes the
// labels unique within the kernel.
func toRunningSums(s, zero VecVirtual, acc Mem, mode Register, sfx string, scatter func()) {
	TESTQ(U32(rowsFirst), mode)
	JNZ(LabelRef("first" + sfx))
	VADDPS(acc, s, s)
	JMP(LabelRef("store" + sfx))
	Label("first" + sfx)
	VADDPS(zero, s, s)
	Label("store" + sfx)
	TESTQ(U32(rowsLast), mode)
	JNZ(LabelRef("last" + sfx))
	VMOVUPS(s, acc)
	JMP(LabelRef("next" + sfx))
	Label("last" + sfx)
	scatter()
	Label("next" + sfx)
}

// The rows kernels' modes.
const (
	rowsFirst = 1
	rowsLast  = 2
)

// rowsUnroll is the unrolling of the rows kernels' loop.
const rowsUnroll = 4

// pfInst is the prefetch instruction of the tiles' weights.
var pfInst = func(m Mem) { PREFETCHT1(m) }

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
