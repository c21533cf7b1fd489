// Command asmgenb32 generates the AVX-512 VNNI tiles of package kernel's products with the
// blocks of 32 Q4_1, Q5_0, Q5_1 and IQ4_NL (kernel/b32.go), with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/b32_amd64.s and the Go declarations kernel/b32_stubs_amd64.go.
//
// A tile reads 16 weight rows' blocks where they lie (rows rs bytes apart: 16 bytes of 4
// rows per zmm, transposed into int32 lanes, row r in lane r: the block's first 16 bytes
// for d, m and qh, then the 16 bytes of nibbles), decodes them in registers into unsigned
// bytes u (Q4_1: q 0..15, Q5_1 and Q5_0: q 0..31, IQ4_NL: kvalues_iq4nl + 128 by VPSHUFB)
// and multiplies them with C activation rows by VPDPBUSD, 4 bytes of an activation row
// broadcast, prefetching the next 16 rows as it goes. Per block of 32 b and activation row,
// in every row's lane:
//
//	T_b = s_b + Σ u·x                (exact int32; s_b = 0, or -16·Σx for Q5_0, -128·Σx for IQ4_NL)
//	acc = float32(T_b)·(d·dx_b) + acc
//	acc = m·(dx_b·Σx_b) + acc        (Q4_1, Q5_1 only)
//
// (each product in parentheses rounded once, each "+ acc" one fused multiply-add), block
// after block from acc = 0, so that every row's result is the same bits whatever C is.
//
// The activations of a call's C rows are laid out by kernel's b32PrepX, block-major: per
// block, the C rows one after the other, 40 bytes each: the 32 int8 values, dx (float32),
// then dx·Σx (float32, Q4_1 and Q5_1) or s_b (int32, Q5_0 and IQ4_NL).
package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	// xRow is the bytes of one activation row's block in b32PrepX's layout.
	xRow = 40
	// maxC is the most activation rows a tile takes (registers: C accumulators, 8 weight
	// vectors, 2 scales, 3 temporaries, 2 constants and the row offsets).
	maxC = 16
)

// blockType describes one weight type's block of 32: its bytes, where its 16 nibble bytes
// (qs) and its 32 high bits (qh, -1: none) are, whether it has a min (f16 after d), and
// whether its nibbles index kvalues_iq4nl.
type blockType struct {
	name     string
	bytes    int
	qs, qh   int
	min, tab bool
}

var types = []blockType{
	{name: "Q41", bytes: 20, qs: 4, qh: -1, min: true},
	{name: "Q50", bytes: 22, qs: 6, qh: 2},
	{name: "Q51", bytes: 24, qs: 8, qh: 4, min: true},
	{name: "IQ4NL", bytes: 18, qs: 2, qh: -1, tab: true},
}

// Z returns zmm register i.
func Z(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// Registers of a tile: the weights u of values 4l..4l+3 in Z(l) (l < 8); d and m; the
// accumulators Z(10..10+C-1); the partial sums (sum1 only where C < 4, in a register no
// accumulator takes); the temporaries of the decoding (t0, t1: the sums' registers, free
// then); constants (from kernel's b32Consts, byte offsets const*; the others are read from
// memory).
var (
	dReg, mReg      = Z8, Z9
	sum0, dxd, sum1 = Z26, Z27, Z25
	t0, t1, qhReg   = Z26, Z27, Z28
	nib, tabReg     = Z29, Z30
)

func acc(c int) VecPhysical { return Z(10 + c) }

// Byte offsets in kernel's b32Consts: kvalues_iq4nl + 128 (16 bytes), 0x0f0f0f0f; then
// 64-byte vectors: four VPSHUFB controls (byte k of each dword to its four bytes), the
// bits 1, 2, 4, 8 and 16, 32, 64, 128 in each dword's bytes, 16 in every byte.
const (
	constTable   = 0
	constNibble  = 16
	constShuf    = 32
	constBits    = 32 + 4*64
	constSixteen = 32 + 6*64
)

// load4 loads the 16 bytes at disp of the current block of rows r, r+4, r+8, r+12 into the
// 128-bit lanes of Z(r), r < 4 (row 0 at w, p4 = w+4rs, p8, p12; rs3 = 3rs).
func load4(t blockType, disp int, w, p4, p8, p12, rs, rs3 Register) {
	for r := 0; r < 4; r++ {
		at := func(base Register) Mem {
			m := Mem{Base: base, Disp: disp}
			switch r {
			case 1:
				m.Index, m.Scale = rs, 1
			case 2:
				m.Index, m.Scale = rs, 2
			case 3:
				m.Index, m.Scale = rs3, 1
			}
			return m
		}
		VMOVDQU32(at(w), Z(r).AsX())
		VINSERTI32X4(U8(1), at(p4), Z(r), Z(r))
		VINSERTI32X4(U8(2), at(p8), Z(r), Z(r))
		VINSERTI32X4(U8(3), at(p12), Z(r), Z(r))
	}
}

// tile: func(w *byte, rs int, x *byte, nb int, out *float32, os int, cst *uint32, pf
// uintptr) writes the products of the 16 rows at w, rs bytes apart, nb blocks of 32 each,
// and C activation rows laid out by
// b32PrepX (x) to out[c*os/4 + r] (os in bytes), fetching 16 rows from pf on into the
// cache as it goes (the next rows; pf may be any address).
func tile(t blockType, C int) {
	name := fmt.Sprintf("b32%sTile%d", t.name, C)
	TEXT(name, NOSPLIT, "func(w *byte, rs int, x *byte, nb int, out *float32, os int, cst *uint32, pf uintptr)")
	Doc(fmt.Sprintf("%s writes the products of 16 %s rows (at w, rs bytes apart; nb blocks of 32) and %d activation rows laid out by b32PrepX (x) to out[c*os/4+r], with the arithmetic of b32DotGeneric (cst: b32Consts), prefetching 16 rows from pf.", name, t.name, C))
	w, pf, x, nb, out, os, cst := RSI, RDI, RBX, RCX, RDX, RAX, R8
	p4, p8, p12, rs, rs3 := R9, R10, R11, R12, R13
	Load(Param("w"), w)
	Load(Param("rs"), rs)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	Load(Param("cst"), cst)
	Load(Param("pf"), pf)
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	LEAQ(Mem{Base: w, Index: rs, Scale: 4}, p4)
	LEAQ(Mem{Base: w, Index: rs, Scale: 8}, p8)
	LEAQ(Mem{Base: p8, Index: rs, Scale: 4}, p12)
	VPBROADCASTD(Mem{Base: cst, Disp: constNibble}, nib)
	if t.tab {
		VBROADCASTI32X4(Mem{Base: cst, Disp: constTable}, tabReg)
	}
	for c := 0; c < C; c++ {
		VPXORD(acc(c), acc(c), acc(c))
	}
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	// The next rows' bytes, as many as the 16 rows' block takes.
	for o := 0; o < 16*t.bytes; o += 64 {
		PREFETCHT0(Mem{Base: pf, Disp: o})
	}
	ADDQ(U32(16*t.bytes), pf)
	// d (and m, qh) of the 16 rows: the block's first 16 bytes of rows r, r+4, r+8, r+12
	// in the 128-bit lanes of Z(r), dwords 0 and 1 transposed to one row per int32 lane.
	load4(t, 0, w, p4, p8, p12, rs, rs3)
	VPUNPCKLDQ(Z1, Z0, Z4)
	VPUNPCKLDQ(Z3, Z2, Z6)
	VPUNPCKLQDQ(Z6, Z4, Z0) // dword 0: d | m<<16 (Q5_0: d | qh<<16, IQ4_NL: d | qs<<16)
	VPUNPCKHQDQ(Z6, Z4, Z1) // dword 1
	VPMOVDW(Z0, dReg.AsY())
	VCVTPH2PS(dReg.AsY(), dReg)
	if t.min {
		VPSRLD(U8(16), Z0, t1)
		VPMOVDW(t1, mReg.AsY())
		VCVTPH2PS(mReg.AsY(), mReg)
	}
	switch t.qh {
	case 4:
		VMOVDQA64(Z1, qhReg)
	case 2:
		VPSRLD(U8(16), Z0, qhReg)
		VPSLLD(U8(16), Z1, t1)
		VPORD(t1, qhReg, qhReg)
	}
	// The 16 nibble bytes of rows r, r+4, r+8, r+12 in the 128-bit lanes of Z(r), then
	// transposed in each lane so that Z(j) holds dword j (values 4j..4j+3 low, 16+4j..
	// high) of row r in int32 lane r.
	load4(t, t.qs, w, p4, p8, p12, rs, rs3)
	VPUNPCKLDQ(Z1, Z0, Z4) // a0.q0 a1.q0 a0.q1 a1.q1
	VPUNPCKHDQ(Z1, Z0, Z5) // a0.q2 a1.q2 a0.q3 a1.q3
	VPUNPCKLDQ(Z3, Z2, Z6)
	VPUNPCKHDQ(Z3, Z2, Z7)
	VPUNPCKLQDQ(Z6, Z4, Z0) // q0 of the four rows
	VPUNPCKHQDQ(Z6, Z4, Z1)
	VPUNPCKLQDQ(Z7, Z5, Z2)
	VPUNPCKHQDQ(Z7, Z5, Z3)
	for j := 0; j < 4; j++ {
		VPSRLD(U8(4), Z(j), Z(j+4))
		VPANDD(nib, Z(j+4), Z(j+4))
		VPANDD(nib, Z(j), Z(j))
	}
	if t.qh >= 0 {
		// Bit 4l+i of qh is bit 4 of value 4l+i: byte l/2 of each row's qh copied to the
		// row's four bytes (VPSHUFB), bit 4(l%2)+i of byte i tested (VPTESTMB) and 16
		// added to the values whose bit is set (VPADDB under that mask).
		for k := 0; k < 4; k++ {
			tk := []VecPhysical{t0, t1}[k%2]
			VPSHUFB(Mem{Base: cst, Disp: constShuf + 64*k}, qhReg, tk)
			for h := 0; h < 2; h++ {
				VPTESTMB(Mem{Base: cst, Disp: constBits + 64*h}, tk, K2)
				VPADDB(Mem{Base: cst, Disp: constSixteen}, Z(2*k+h), K2, Z(2*k+h))
			}
		}
	}
	if t.tab {
		for l := 0; l < 8; l++ {
			VPSHUFB(Z(l), tabReg, Z(l))
		}
	}
	split := C < 4 // two partial sums where few rows leave VPDPBUSD's latency exposed
	for c := 0; c < C; c++ {
		xo := xRow * c
		if t.min {
			VPXORD(sum0, sum0, sum0)
		} else {
			VPBROADCASTD(Mem{Base: x, Disp: xo + 36}, sum0)
		}
		if split {
			VPXORD(sum1, sum1, sum1)
		}
		for l := 0; l < 8; l++ {
			s := sum0
			if split && l%2 == 1 {
				s = sum1
			}
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: xo + 4*l}, Z(l), s)
		}
		if split {
			VPADDD(sum1, sum0, sum0)
		}
		VCVTDQ2PS(sum0, sum0)
		VMULPS_BCST(Mem{Base: x, Disp: xo + 32}, dReg, dxd) // d·dx
		VFMADD231PS(dxd, sum0, acc(c))
		if t.min {
			VFMADD231PS_BCST(Mem{Base: x, Disp: xo + 36}, mReg, acc(c)) // m·(dx·Σx)
		}
	}
	for _, p := range []Register{w, p4, p8, p12} {
		ADDQ(U32(t.bytes), p)
	}
	ADDQ(U32(xRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	for c := 0; c < C; c++ {
		VMOVUPS(acc(c), Mem{Base: out})
		if c+1 < C {
			ADDQ(os, out)
		}
	}
	VZEROUPPER()
	RET()
}

func main() {
	ConstraintExpr("!purego")
	for _, t := range types {
		for c := 1; c <= maxC; c++ {
			tile(t, c)
		}
	}
	Generate()
}
