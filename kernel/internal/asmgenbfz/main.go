// Command asmgenbfz generates the AVX-512 kernels of package kernel for bfloat16 weights
// laid out by Pool.Pack in pair panels (bf16z_amd64.s, declared in bf16z_stubs_amd64.go)
// with avo (github.com/mmcloughlin/avo). Run it through go generate in the kernel
// directory:
//
//	go generate ./kernel/
//
// A pair panel holds 16 weight rows, two elements after two: for the element pair q
// (elements 2q and 2q+1), 64 bytes whose int32 lane r holds row r's element 2q in its low
// half and element 2q+1 in its high half. One load and two operations widen both
// elements of the 16 rows to float32 exactly: VPSLLD 16 gives element 2q, VPANDD with
// 0xffff0000 element 2q+1. The kernels multiply P such panels (16·P rows) with C
// activation rows as an outer product: the activation broadcast against the 16 widened
// weights of each panel, P·C accumulators. Every output is one fused multiply-add chain
// over the elements in order (2q, then 2q+1), whatever P and C are, so a row's results
// do not depend on how many rows are multiplied at once, and they are the bits of the
// AVX2 panel kernels (asmgenbf), which keep the same chain.
// Tiles of two panels and up to 8 activation rows (batched decoding, where the weights
// stream from memory) prefetch the same piece of the next two panels as they go; those
// of more rows have twins that do, into L1 (dotBF16Z_32xCpf) or L2 (dotBF16Z_32xCpf2).
//
// It also generates dotBF16D_16xC, the VDPBF16PS (AVX512_BF16) variant measured against
// them: the activations split into three bfloat16 parts (hi, mid, lo; x = hi+mid+lo
// exactly) packed in pairs, three VDPBF16PS per element pair and activation row. Go's
// assembler lacks VDPBF16PS; it is emitted as bytes by a small EVEX encoder (evex.go).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// maxC is the most activation rows of a tile: with P = 2 panels, 2·12 accumulators, four
// widened weight vectors and two broadcasts fill 30 of the 32 ZMM registers.
const maxC = 12

// vecP is the number of panels of the matrix-vector kernel: 8 independent chains keep
// the loads from memory in flight.
const vecP = 4

func main() {
	ConstraintExpr("!purego")
	hiMask := GLOBL("bf16zhi", RODATA|NOPTR)
	DATA(0, U32(0xffff0000))
	for _, p := range []int{1, 2} {
		for c := 1; c <= maxC; c++ {
			tile(p, c, pfDefault, hiMask)
		}
	}
	for c := pfMaxC + 1; c <= maxC; c++ {
		tile(2, c, pfL1, hiMask)
		tile(2, c, pfL2, hiMask)
	}
	tile(vecP, 1, pfDefault, hiMask)
	for c := 1; c <= maxDC; c++ {
		dpTile(c)
	}
	Generate()
}

// pfMaxC is the most activation rows of the tiles that always prefetch (P = 2).
const pfMaxC = 8

// Prefetch choices of a tile of two panels.
const (
	pfDefault = iota // prefetch into L1 (PREFETCHT0) with up to pfMaxC rows, else none
	pfL1             // prefetch into L1 (PREFETCHT0)
	pfL2             // prefetch into L2 (PREFETCHT1)
)

// tileName is the name of the P-panel, C-row tile with prefetch choice pf.
func tileName(P, C int, pf int) string {
	switch pf {
	case pfL1:
		return fmt.Sprintf("dotBF16Z_%dx%dpf", 16*P, C)
	case pfL2:
		return fmt.Sprintf("dotBF16Z_%dx%dpf2", 16*P, C)
	}
	return fmt.Sprintf("dotBF16Z_%dx%d", 16*P, C)
}

// tile: func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int)
// adds Σ_l w[r][l]·x[c][l] over l < k, one fused multiply-add after another from zero in
// element order, to out[c*os/4+16p+r] for the 16 rows r of each of the P panels at
// w + p·ps and the C activation rows at x (stride xs bytes; os in bytes too). For odd k
// the last pair's high half is not used (it is zero in Pack's layout, and x[k] is not
// read).
//
// Tiles of two panels prefetch the same piece of the next two panels: those of up to
// pfMaxC rows always, the others only in their twins, pfc = pfL1 or pfL2 (a tile of many
// rows reuses the piece for a whole block of rows, and two pieces do not fit in L1
// together: the caller runs the L2 twin for the block's first tile and the L1 twin for
// its last).
func tile(P, C int, pfc int, hiMask Mem) {
	name := tileName(P, C, pfc)
	TEXT(name, NOSPLIT, "func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int)")
	doc := fmt.Sprintf("%s adds the %d×%d dot products of %d pair panel(s) of 16 bfloat16 weight rows (panel p at w + p·ps bytes) and %d float32 rows (stride xs bytes) over k elements to out[c*os/4+16p+r], each a chain of fused multiply-adds in element order.", name, 16*P, C, P, C)
	switch pfc {
	case pfL1:
		doc += fmt.Sprintf(" It is %s prefetching the same piece of the next two panels (w + 2ps, w + 3ps) into L1.", tileName(P, C, pfDefault))
	case pfL2:
		doc += fmt.Sprintf(" It is %s prefetching the same piece of the next two panels (w + 2ps, w + 3ps) into L2.", tileName(P, C, pfDefault))
	}
	Doc(doc)
	w := Load(Param("w"), GP64())
	ps := Load(Param("ps"), GP64())
	x := Load(Param("x"), GP64())
	xs := Load(Param("xs"), GP64())
	k := Load(Param("k"), GP64())
	// Activation rows 3b..3b+2 at xb[b] + {0, xs, 2xs}; panels 3b..3b+2 the same from wb[b].
	bases := func(first, stride Register, count int) []Register {
		bs := []Register{first}
		for i := 3; i < count; i += 3 {
			b := GP64()
			LEAQ(Mem{Base: bs[len(bs)-1], Index: stride, Scale: 2}, b)
			ADDQ(stride, b)
			bs = append(bs, b)
		}
		return bs
	}
	xb := bases(x, xs, C)
	wb := bases(w, ps, P)
	addr := func(bs []Register, stride Register, i int) Mem {
		base := bs[i/3]
		switch i % 3 {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: stride, Scale: 1}
		}
		return Mem{Base: base, Index: stride, Scale: 2}
	}
	acc := make([][]VecVirtual, P)
	for p := range acc {
		acc[p] = make([]VecVirtual, C)
		for c := range acc[p] {
			acc[p][c] = ZMM()
			VPXORD(acc[p][c], acc[p][c], acc[p][c])
		}
	}
	pairs := GP64()
	MOVQ(k, pairs)
	SHRQ(U8(1), pairs)
	JZ(LabelRef("tail"))
	// Tiles of two panels and up to 8 rows (m ≤ 16: the weights stream from memory)
	// prefetch the same piece of the next two panels, at w + 2ps and w + 3ps.
	var w1 Register
	pf := P == 2 && (C <= pfMaxC || pfc != pfDefault)
	if pf {
		w1 = GP64()
		LEAQ(Mem{Base: w, Index: ps, Scale: 1}, w1)
	}
	Label("loop")
	if pf {
		if pfc == pfL2 {
			PREFETCHT1(Mem{Base: w, Index: ps, Scale: 2})
			PREFETCHT1(Mem{Base: w1, Index: ps, Scale: 2})
		} else {
			PREFETCHT0(Mem{Base: w, Index: ps, Scale: 2})
			PREFETCHT0(Mem{Base: w1, Index: ps, Scale: 2})
		}
	}
	lo, hi := make([]VecVirtual, P), make([]VecVirtual, P)
	for p := 0; p < P; p++ {
		hi[p], lo[p] = ZMM(), ZMM()
		VMOVDQU32(addr(wb, ps, p), hi[p])
		VPSLLD(U8(16), hi[p], lo[p])
		VPANDD_BCST(hiMask, hi[p], hi[p])
	}
	for e := 0; e < 2; e++ {
		ws := lo
		if e == 1 {
			ws = hi
		}
		for c := 0; c < C; c++ {
			xm := addr(xb, xs, c).Offset(4 * e)
			if P == 1 {
				VFMADD231PS_BCST(xm, ws[0], acc[0][c])
				continue
			}
			bx := ZMM()
			VBROADCASTSS(xm, bx)
			for p := 0; p < P; p++ {
				VFMADD231PS(ws[p], bx, acc[p][c])
			}
		}
	}
	for _, b := range wb {
		ADDQ(U8(64), b)
	}
	if pf {
		ADDQ(U8(64), w1)
	}
	for _, b := range xb {
		ADDQ(U8(8), b)
	}
	DECQ(pairs)
	JNZ(LabelRef("loop"))
	Label("tail")
	BTQ(U8(0), k)
	JCC(LabelRef("done"))
	for p := 0; p < P; p++ {
		t := ZMM()
		VMOVDQU32(addr(wb, ps, p), t)
		VPSLLD(U8(16), t, t)
		for c := 0; c < C; c++ {
			VFMADD231PS_BCST(addr(xb, xs, c), t, acc[p][c])
		}
	}
	Label("done")
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	for c := 0; c < C; c++ {
		for p := 0; p < P; p++ {
			m := Mem{Base: o}.Offset(64 * p)
			VADDPS(m, acc[p][c], acc[p][c])
			VMOVUPS(acc[p][c], m)
		}
		if c+1 < C {
			ADDQ(os, o)
		}
	}
	VZEROUPPER()
	RET()
}
