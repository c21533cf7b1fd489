// Command asmgen512q generates the AVX-512 VNNI assembly of package kernel's matrix
// products with Q8_0 and Q4_0 weights and several activation rows (m > 1), with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/quant512_amd64.s and the Go declarations kernel/quant512_stubs_amd64.go.
//
// The weights are repacked, 16 rows at a time, so that each 32-bit lane of a zmm register
// holds 4 consecutive unsigned weights of one row (Q8_0 values xor 0x80, that is w+128;
// Q4_0 nibbles as they are, w+8): one VPDPBUSD with 4 bytes of an activation row
// broadcast then adds 4 products to each of 16 output rows, and a block of 32 takes 8 of
// them with no horizontal sums. Since Σ(w+o)·x = Σw·x + o·Σx, each block's integer sum
// starts at -o·Σx (o = 128 or 8, precomputed per activation block) and comes out exact
// (|sum| < 2^21); it is then converted to float32, multiplied by the activation block's
// scale and added to the float accumulators times the 16 weight rows' scales (3 vector
// operations per 8 VPDPBUSD). Tiles of 32 weight rows by 6 activation rows keep 12 int32
// and 12 float32 accumulators and 2 weight vectors in registers; the activation values
// come as 4-byte broadcast memory operands of VPDPBUSD.
//
// The activations are laid out by q512mmPrepX, per row and block of 32: the 32 int8
// values, the float32 scale and the int32 -offset·Σx (40 bytes).
package main

import (
	"fmt"
	"math"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Sizes of the packed layouts.
const (
	groupBytes = 512 // 16 rows × 32 weights of one block
	scaleBytes = 64  // 16 float32 scales
	xBlock     = 40  // one activation block: 32 int8, scale, -offset·Σx
)

// prefetchPack is how far ahead in each row the packing kernels prefetch, in bytes
// (measured best of 0, 256, 512, 1024).
const prefetchPack = 512

// The tile shapes: R groups of 16 weight rows by C activation rows, each kernel keeping
// 2·R·C accumulators (int32 block sums and float32 totals) and R weight vectors in
// the 32 zmm registers.
const tileR = 2

var tileC = []int{1, 2, 3, 4, 5, 6}

func main() {
	ConstraintExpr("!purego")
	iota16 := GLOBL("q512mmIota", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(i))
	}
	x80 := GLOBL("q512mmX80", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(0x80808080))
	}
	low4 := GLOBL("q512mmLow4", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(0x0f0f0f0f))
	}
	ones := GLOBL("q512mmOnes", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x01010101))
	}
	permLo := GLOBL("q512mmPermLo", RODATA|NOPTR)
	for i, v := range []int{0, 1, 8, 9, 4, 5, 12, 13} {
		DATA(8*i, U64(v))
	}
	permHi := GLOBL("q512mmPermHi", RODATA|NOPTR)
	for i, v := range []int{2, 3, 10, 11, 6, 7, 14, 15} {
		DATA(8*i, U64(v))
	}
	pack(false, iota16, x80, low4, permLo, permHi)
	pack(true, iota16, x80, low4, permLo, permHi)
	prepX(ones)
	for _, c := range tileC {
		tile(tileR, c)
	}
	quantize()
	Generate()
}

// quantize: func(x *float32, q *int8, d *float32, nb int), QuantizeQ8 a block of 32 values
// (two zmm registers) at a time, with the same operations as the AVX2 version
// (quantizeQ8AVX): the largest |x| ignoring NaNs, d = amax/127 rounded to float16, the
// values times 1/d (0 where d is 0 or 1/d overflows) rounded half away from zero, NaNs to
// 0, packed to int8 with signed saturation.
func quantize() {
	absMask := GLOBL("q512qAbs", RODATA|NOPTR)
	DATA(0, U32(0x7fffffff))
	signMask := GLOBL("q512qSign", RODATA|NOPTR)
	DATA(0, U32(0x80000000))
	one := GLOBL("q512qOne", RODATA|NOPTR)
	DATA(0, U32(math.Float32bits(1)))
	half := GLOBL("q512qHalf", RODATA|NOPTR)
	DATA(0, U32(math.Float32bits(0.5)))
	c127 := GLOBL("q512q127", RODATA|NOPTR)
	DATA(0, U32(math.Float32bits(127)))
	inf := GLOBL("q512qInf", RODATA|NOPTR)
	DATA(0, U32(math.Float32bits(float32(math.Inf(1)))))

	TEXT("quantizeQ8AVX512", NOSPLIT, "func(x *float32, q *int8, d *float32, nb int)")
	Doc("quantizeQ8AVX512 quantizes nb blocks of 32 float32 values to int8 with one float16-rounded scale per block, as QuantizeQ8 (and quantizeQ8AVX) does.")
	x := Load(Param("x"), GP64())
	q := Load(Param("q"), GP64())
	d := Load(Param("d"), GP64())
	nb := Load(Param("nb"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v := []VecVirtual{ZMM(), ZMM()}
	m, a := ZMM(), ZMM()
	VPXORD(m, m, m)
	for i := range v {
		VMOVUPS(Mem{Base: x}.Offset(64*i), v[i])
		VPANDD_BCST(absMask, v[i], a)
		VMAXPS(m, a, m) // a NaN in a leaves m as it was, like EncodeRow's "if a > amax"
	}
	h := YMM()
	VEXTRACTF32X8(U8(1), m, h)
	VMAXPS(m.AsY(), h, h)
	hx := XMM()
	VEXTRACTF128(U8(1), h, hx)
	VMAXPS(h.AsX(), hx, hx)
	id := avoext.Q8Scale(hx, c127, one, inf, Mem{Base: d})
	idv := ZMM()
	VBROADCASTSS(id, idv)
	for i := range v {
		t, f, s := ZMM(), ZMM(), ZMM()
		k, ok := K(), K()
		VMULPS(idv, v[i], v[i])           // y
		VRNDSCALEPS(U8(3), v[i], t)       // trunc(y)
		VSUBPS(t, v[i], f)                // y - trunc(y), exact
		VPANDD_BCST(absMask, f, f)        // |frac|
		VCMPPS_BCST(U8(0x1d), half, f, k) // |frac| >= 0.5
		VPANDD_BCST(signMask, v[i], s)    // sign of y
		VPORD_BCST(one, s, s)             // ±1
		VADDPS(s, t, k, t)                // rounded half away from zero
		VCMPPS(U8(7), v[i], v[i], ok)     // y is not NaN
		VCVTTPS2DQ_Z(t, ok, t)            // NaN gives 0
		VPMOVSDB(t, Mem{Base: q}.Offset(16*i))
	}
	ADDQ(U32(128), x)
	ADDQ(U32(32), q)
	ADDQ(U32(4), d)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	VZEROUPPER()
	Label("done")
	RET()
}

// pack: func(src *byte, rs int, nb int, dst *byte, dw *byte, bs int) repacks 16 Q8_0 (or
// Q4_0) rows of nb blocks (row stride rs bytes): per block, at dst, 8 vectors whose lane j
// holds 4 consecutive unsigned weights of row j, and at dw the 16 scales as float32; dst
// and dw advance bs bytes per block. The rows are transposed with shuffles: Q8_0 as two
// 8×8 dword transposes (rows j and j+8 in the two halves of a register), Q4_0 as four 4×4
// (rows j, j+4, j+8, j+12 in the four lanes); the scales are gathered.
func pack(q4 bool, iota16, x80, low4, permLo, permHi Mem) {
	name, bb := "q512mmPackQ8", 34
	if q4 {
		name, bb = "q512mmPackQ4", 18
	}
	TEXT(name, NOSPLIT, "func(src *byte, rs int, nb int, dst *byte, dw *byte, bs int)")
	Doc(fmt.Sprintf("%s repacks 16 rows (stride rs bytes) of nb blocks of 32 for the tile kernels: per block, at dst, 8 vectors whose lane j holds 4 consecutive unsigned weights of row j, and at dw the 16 rows' scales as float32; dst and dw advance bs bytes per block.", name))
	src, rs, nb, dst, dw, bs := RSI, RBX, RCX, RDI, RDX, R8
	rs3, rs5, rs7, hi, alt, rs8, pf := R9, R10, R11, R12, R13, R14, RAX
	Load(Param("src"), src)
	Load(Param("rs"), rs)
	Load(Param("nb"), nb)
	Load(Param("dst"), dst)
	Load(Param("dw"), dw)
	Load(Param("bs"), bs)
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	LEAQ(Mem{Base: rs, Index: rs, Scale: 4}, rs5)
	LEAQ(Mem{Base: rs3, Index: rs, Scale: 4}, rs7)
	MOVQ(rs, rs8)
	SHLQ(U8(3), rs8)
	XORQ(alt, alt)
	idx, cst, pLo, pHi := Z31, Z30, Z29, Z28
	VPBROADCASTD(rs.As32(), idx)
	VPMULLD(iota16, idx, idx)
	if q4 {
		VMOVDQU32(low4, cst)
	} else {
		VMOVDQU32(x80, cst)
		VMOVDQU64(permLo, pLo)
		VMOVDQU64(permHi, pHi)
	}
	// rowAt is the address of row base+a (a < 8) at byte disp of the block.
	rowAt := func(base Register, a, disp int) Mem {
		m := Mem{Base: base, Disp: disp}
		switch a {
		case 0:
		case 1, 2, 4:
			m.Index, m.Scale = rs, uint8(a)
		case 3, 6:
			m.Index, m.Scale = rs3, uint8(a/3)
		case 5:
			m.Index, m.Scale = rs5, 1
		case 7:
			m.Index, m.Scale = rs7, 1
		}
		return m
	}
	TESTQ(nb, nb)
	JZ(LabelRef(name + "_done"))
	Label(name + "_loop")
	LEAQ(Mem{Base: src, Index: rs, Scale: 8}, hi)
	// The rows stream from memory: fetch each one's data prefetchPack bytes ahead (the
	// 16 rows are too many streams for the hardware prefetcher to follow at once), rows
	// 0-7 in one block and 8-15 in the next (a block is at most 34 bytes).
	LEAQ(Mem{Base: src, Index: alt, Scale: 1}, pf)
	XORQ(rs8, alt)
	for a := 0; a < 8; a++ {
		PREFETCHT0(rowAt(pf, a, prefetchPack))
	}
	if q4 {
		// Z(a) = rows a, a+4, a+8, a+12 (16 bytes each) in its four lanes.
		for a := 0; a < 4; a++ {
			VMOVDQU(rowAt(src, a, 2), Z(a).AsX())
			VINSERTI32X4(U8(1), rowAt(src, a+4, 2), Z(a), Z(a))
			VINSERTI32X4(U8(2), rowAt(hi, a, 2), Z(a), Z(a))
			VINSERTI32X4(U8(3), rowAt(hi, a+4, 2), Z(a), Z(a))
		}
		VPUNPCKLDQ(Z1, Z0, Z4)
		VPUNPCKHDQ(Z1, Z0, Z5)
		VPUNPCKLDQ(Z3, Z2, Z6)
		VPUNPCKHDQ(Z3, Z2, Z7)
		VPUNPCKLQDQ(Z6, Z4, Z0)
		VPUNPCKHQDQ(Z6, Z4, Z1)
		VPUNPCKLQDQ(Z7, Z5, Z2)
		VPUNPCKHQDQ(Z7, Z5, Z3)
		for t := 0; t < 4; t++ {
			z, h := Z(t), Z(t+4)
			VPSRLD(U8(4), z, h)
			VPANDD(cst, z, z)
			VPANDD(cst, h, h)
			VMOVDQU32(z, Mem{Base: dst, Disp: 64 * t})
			VMOVDQU32(h, Mem{Base: dst, Disp: 64 * (t + 4)})
		}
	} else {
		// Z(a) = rows a and a+8 (32 bytes each) in its two halves.
		for a := 0; a < 8; a++ {
			VMOVDQU(rowAt(src, a, 2), Z(a).AsY())
			VINSERTI64X4(U8(1), rowAt(hi, a, 2), Z(a), Z(a))
		}
		for p := 0; p < 4; p++ {
			VPUNPCKLDQ(Z(2*p+1), Z(2*p), Z(8+2*p))
			VPUNPCKHDQ(Z(2*p+1), Z(2*p), Z(9+2*p))
		}
		for q := 0; q < 2; q++ {
			b := 8 + 4*q
			VPUNPCKLQDQ(Z(b+2), Z(b), Z(4*q))
			VPUNPCKHQDQ(Z(b+2), Z(b), Z(4*q+1))
			VPUNPCKLQDQ(Z(b+3), Z(b+1), Z(4*q+2))
			VPUNPCKHQDQ(Z(b+3), Z(b+1), Z(4*q+3))
		}
		// Z(t) (t < 4) holds dwords t and t+4 of rows 0-3 and 8-11, Z(t+4) those of rows
		// 4-7 and 12-15, a 128-bit lane each.
		for t := 0; t < 4; t++ {
			lo, hi := Z(8+t), Z(12+t)
			VMOVDQA64(Z(t), lo)
			VMOVDQA64(Z(t), hi)
			VPERMT2Q(Z(t+4), pLo, lo)
			VPERMT2Q(Z(t+4), pHi, hi)
			VPXORD(cst, lo, lo)
			VPXORD(cst, hi, hi)
			VMOVDQU32(lo, Mem{Base: dst, Disp: 64 * t})
			VMOVDQU32(hi, Mem{Base: dst, Disp: 64 * (t + 4)})
		}
	}
	KXNORW(K1, K1, K1)
	VPGATHERDD(Mem{Base: src, Index: idx, Scale: 1}, K1, Z16)
	VPMOVDW(Z16, Y17)
	VCVTPH2PS(Y17, Z18)
	VMOVUPS(Z18, Mem{Base: dw})
	ADDQ(U32(bb), src)
	ADDQ(bs, dst)
	ADDQ(bs, dw)
	DECQ(nb)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// Z returns zmm register i.
func Z(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// prepX: func(xq *int8, xd *float32, nb int, dst *byte, off int) lays out nb blocks of
// activations for the tiles: per block of 32, the values, the scale and -off·Σx.
func prepX(ones Mem) {
	TEXT("q512mmPrepX", NOSPLIT, "func(xq *int8, xd *float32, nb int, dst *byte, off int)")
	Doc("q512mmPrepX lays out nb blocks of activations quantized by QuantizeQ8 for the tile kernels: per block, 40 bytes: the 32 int8 values, the float32 scale and the int32 -off·Σx.")
	xq, xd, nb, dst, off := RSI, RBX, RCX, RDI, RDX
	Load(Param("xq"), xq)
	Load(Param("xd"), xd)
	Load(Param("nb"), nb)
	Load(Param("dst"), dst)
	Load(Param("off"), off)
	NEGQ(off)
	TESTQ(nb, nb)
	JZ(LabelRef("prep_done"))
	VMOVDQU(ones, Y15)
	Label("prep_loop")
	VMOVDQU(Mem{Base: xq}, Y0)
	VMOVDQU(Y0, Mem{Base: dst})
	VPXOR(Y1, Y1, Y1)
	avoext.VPDPBUSD(Y0, Y15, Y1)
	VEXTRACTI128(U8(1), Y1, X2)
	VPADDD(X2, X1, X1)
	VPSHUFD(U8(0x4e), X1, X2)
	VPADDD(X2, X1, X1)
	VPSHUFD(U8(0xb1), X1, X2)
	VPADDD(X2, X1, X1)
	VMOVD(X1, EAX)
	IMULL(off.As32(), EAX)
	MOVL(EAX, Mem{Base: dst, Disp: 36})
	MOVL(Mem{Base: xd}, EAX)
	MOVL(EAX, Mem{Base: dst, Disp: 32})
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(xBlock), dst)
	DECQ(nb)
	JNZ(LabelRef("prep_loop"))
	Label("prep_done")
	VZEROUPPER()
	RET()
}

// tile: func(w *byte, x *byte, xs int, nb int, out *float32, os int) adds the products of
// R·16 packed weight rows (per block R·512 bytes of weights, then R·64 bytes of scales)
// and C activation rows laid out by q512mmPrepX (row stride xs bytes) over nb blocks to
// out[c*os/4 + r] (os in bytes), one block after the other: out += (s·dx)·dw.
func tile(R, C int) {
	name := fmt.Sprintf("q512mmTile%dx%d", R, C)
	TEXT(name, NOSPLIT, "func(w *byte, x *byte, xs int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of %d packed weight rows and %d activation rows laid out by q512mmPrepX (stride xs bytes) over nb blocks to out[c*os/4+r] (os in bytes).", name, 16*R, C))
	if 2*R*C+R > 32 {
		panic("too many registers")
	}
	w, x, xs, nb, xs3, xs5, xs7 := RSI, RDI, RBX, RCX, R8, R9, R10
	Load(Param("w"), w)
	Load(Param("x"), x)
	Load(Param("xs"), xs)
	Load(Param("nb"), nb)
	LEAQ(Mem{Base: xs, Index: xs, Scale: 2}, xs3)
	LEAQ(Mem{Base: xs, Index: xs, Scale: 4}, xs5)
	LEAQ(Mem{Base: xs3, Index: xs, Scale: 4}, xs7)
	row := func(c, disp int) Mem {
		m := Mem{Base: x, Disp: disp}
		switch c {
		case 0:
		case 1, 2, 4, 8:
			m.Index, m.Scale = xs, uint8(c)
		case 3, 6:
			m.Index, m.Scale = xs3, uint8(c/3)
		case 5:
			m.Index, m.Scale = xs5, 1
		case 7:
			m.Index, m.Scale = xs7, 1
		default:
			panic("C too large")
		}
		return m
	}
	acc := func(r, c int) VecPhysical { return Z(r*C + c) }
	fac := func(r, c int) VecPhysical { return Z(R*C + r*C + c) }
	wv := func(r int) VecPhysical { return Z(2*R*C + r) }
	// The sums go on from out's values (not from zero, added at the end): block after
	// block in one sequence whatever the k-chunking, as the AMX and matrix-vector
	// kernels compute them.
	out, os := RDX, RAX
	Load(Param("out"), out)
	Load(Param("os"), os)
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VMOVUPS(Mem{Base: out, Disp: 64 * r}, fac(r, c))
		}
		if c+1 < C {
			ADDQ(os, out)
		}
	}
	lp := name + "_loop"
	done := name + "_done"
	TESTQ(nb, nb)
	JZ(LabelRef(done))
	Label(lp)
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VPBROADCASTD(row(c, 36), acc(r, c))
		}
	}
	for t := 0; t < 8; t++ {
		for r := 0; r < R; r++ {
			VMOVDQU32(Mem{Base: w, Disp: r*groupBytes + 64*t}, wv(r))
		}
		for c := 0; c < C; c++ {
			for r := 0; r < R; r++ {
				avoext.VPDPBUSDBcst(row(c, 4*t), wv(r), acc(r, c))
			}
		}
	}
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VCVTDQ2PS(acc(r, c), acc(r, c))
			VMULPS_BCST(row(c, 32), acc(r, c), acc(r, c))
			VFMADD231PS(Mem{Base: w, Disp: R*groupBytes + r*scaleBytes}, acc(r, c), fac(r, c))
		}
	}
	ADDQ(U32(R*(groupBytes+scaleBytes)), w)
	ADDQ(U8(xBlock), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(done)
	Load(Param("out"), out)
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VMOVUPS(fac(r, c), Mem{Base: out, Disp: 64 * r})
		}
		if c+1 < C {
			ADDQ(os, out)
		}
	}
	VZEROUPPER()
	RET()
}
