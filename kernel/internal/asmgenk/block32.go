package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The blocks of 32 without a kernel of their own (IQ4_NL, Q5_0, Q4_1, Q5_1) share one
// kernel shape, block32: each block of 32 weights (f16 d first) meets one block of x; its
// 32 integer values v meet x through VPMADDUBSW (|v| and x·sign(v) where v is signed)
// and VPMADDWD by ones (int32 lane l: Σ of 4 v·x, exact), and lane l is converted to
// float32 and added to the accumulator lane l times d·dx (a fused multiply-add). Q4_1 and
// Q5_1 add their offset m times the block's dx·Σx (xs) to a float32 sum of their own,
// added to the lanes' sum at the end.
//
// Measured (BenchmarkQ41 and the like in kquant_linux_test.go: thread CPU time, one
// thread, shared and loaded 2-vCPU Zen 5, so rough), 2048×2048, m = 1 / m = 16 through
// the 1×4 tiles, in µs: IQ4_NL 270 / 2080, Q5_0 320 / 2440, Q4_1 250 / 2060, Q5_1 325 /
// 2490 (IQ2_XS 283 / 2380 in the same run); the plain-Go unpacked rows they replace took
// 8-23 ms at m = 1 (BenchmarkMatVecBlocks, wall).

// b32Kind describes one block type for block32.
type b32Kind struct {
	name, dt string // "Q5_0", "Q5_0"
	bytes    int    // bytes of a block
	mins     bool   // an f16 offset m follows d
	signed   bool   // the values are signed (VPSIGNB)
	// values returns the block's 32 values (weight j in byte j).
	values func(w Register) VecVirtual
}

var b32Kinds = []b32Kind{
	{name: "IQ4NL", dt: "IQ4_NL", bytes: 18, signed: true, values: func(w Register) VecVirtual {
		v, t := nibbles(Mem{Base: w}.Offset(2)), YMM()
		VMOVDQU(iq4Table, t)
		VPSHUFB(v, t, v)
		return v
	}},
	{name: "Q50", dt: "Q5_0", bytes: 22, signed: true, values: func(w Register) VecVirtual {
		v := nibbles(Mem{Base: w}.Offset(6))
		fifthBits(Mem{Base: w}.Offset(2), v)
		VPSUBB(bit5, v, v) // less 16
		return v
	}},
	{name: "Q41", dt: "Q4_1", bytes: 20, mins: true, values: func(w Register) VecVirtual {
		return nibbles(Mem{Base: w}.Offset(4))
	}},
	{name: "Q51", dt: "Q5_1", bytes: 24, mins: true, values: func(w Register) VecVirtual {
		v := nibbles(Mem{Base: w}.Offset(8))
		fifthBits(Mem{Base: w}.Offset(4), v)
		return v
	}},
}

// nibbles returns the 32 nibbles of the 16 bytes at m: the low ones in bytes 0..15, the
// high ones in 16..31 (ggml's order of the weights).
func nibbles(m Mem) VecVirtual {
	lo, hi, v := XMM(), XMM(), YMM()
	VMOVDQU(m, lo)
	VPSRLW(U8(4), lo, hi)
	VINSERTI128(U8(1), hi, lo.AsY(), v)
	VPAND(low4, v, v)
	return v
}

// fifthBits adds 16 to byte j of v where bit j of the 32-bit word at m is set.
func fifthBits(m Mem, v VecVirtual) {
	h := YMM()
	VPBROADCASTD(m, h)
	VPSHUFB(gSignShuf, h, h)
	VPAND(iq2BitSel, h, h)
	VPCMPEQB(iq2BitSel, h, h)
	VPAND(bit5, h, h)
	VPOR(h, v, v)
}

// block32Block adds the block of kind k at w (its values decoded once) times C
// activation rows to acc[c] (and the offsets to msum[c]): row c's 32 int8 values at
// xrow(c), its scale at drow(c), its scale·Σx at xsrow(c).
func block32Block(k b32Kind, w Register, C int, xrow, drow, xsrow func(c int) Mem, acc, msum []VecVirtual) {
	v := k.values(w)
	a := v
	if k.signed {
		a = YMM()
		VPSIGNB(v, v, a) // |v|
	}
	dm := XMM()
	if k.mins {
		VMOVD(Mem{Base: w}, dm) // d, m
	} else {
		VPBROADCASTW(Mem{Base: w}, dm)
	}
	VCVTPH2PS(dm, dm)
	d := YMM()
	VBROADCASTSS(dm, d)
	var m VecVirtual
	if k.mins {
		m = XMM()
		VMOVSHDUP(dm, m)
	}
	for c := 0; c < C; c++ {
		x, f := YMM(), YMM()
		VMOVDQU(xrow(c), x)
		if k.signed {
			VPSIGNB(v, x, x)
		}
		VPMADDUBSW(x, a, x)
		VPMADDWD(onesW, x, x)
		VCVTDQ2PS(x, x)
		VBROADCASTSS(drow(c), f)
		VMULPS(d, f, f) // d·dx
		VFMADD231PS(x, f, acc[c])
		if k.mins {
			VFMADD231SS(xsrow(c), m, msum[c]) // msum += m·xs
		}
	}
}

// block32Row: func(w *byte, xq *int8, xd *float32, xs *float32, nb int) float32
// One row of kind k (nb blocks of 32) against a quantized row (xs: each block's dx·Σx,
// read by Q4_1 and Q5_1 only); block32Block gives the order of the sums, the lanes are
// added at the end (avoext.HSum8) and then the offsets' sum. The plain Go twin is
// dotBlock32Generic, in the same order.
func block32Row(k b32Kind) {
	name := fmt.Sprintf("dot%sAVX", k.name)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nb int) float32")
	Doc(fmt.Sprintf("%s returns the dot product of nb %s blocks with a row quantized by QuantizeQ8 (xs: scale·Σq per block, read where the type has offsets).", name, k.dt))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nb := Load(Param("nb"), GP64())
	acc, msum := YMM(), XMM()
	VXORPS(acc, acc, acc)
	VXORPS(msum, msum, msum)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	block32Block(k, w, 1, func(int) Mem { return Mem{Base: xq} }, func(int) Mem { return Mem{Base: xd} },
		func(int) Mem { return Mem{Base: xs} }, []VecVirtual{acc}, []VecVirtual{msum})
	ADDQ(U32(k.bytes), w)
	ADDQ(U32(32), xq)
	ADDQ(U32(4), xd)
	ADDQ(U32(4), xs)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VADDSS(msum, x, x)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// block32Tile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One row of kind k (nsb: its number of blocks of 32) against C rows quantized by QuantizeQ8 (strides in
// bytes; xc: each block's dx·Σx, with the stride of xd), writing row c's dot product to
// out[c*os/4]. The values are decoded once for the C rows, and each row is summed with
// the operations of block32Row in their order: bit-identical to it.
func block32Tile(k b32Kind, C int) {
	name := fmt.Sprintf("dot%s_1x%d", k.name, C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb %s blocks of one row with %d int8-quantized rows to out[c*os/4].", name, k.dt, C))
	w, xq, xd, xc, xs, xs3, xds, xds3, nb := avoext.SuperTileParams()
	acc, msum := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], msum[c] = YMM(), XMM()
		VXORPS(acc[c], acc[c], acc[c])
		VXORPS(msum[c], msum[c], msum[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	block32Block(k, w, C,
		func(c int) Mem { return avoext.RowAt(xq, xs, xs3, c) },
		func(c int) Mem { return avoext.RowAt(xd, xds, xds3, c) },
		func(c int) Mem { return avoext.RowAt(xc, xds, xds3, c) }, acc, msum)
	ADDQ(U32(k.bytes), w)
	ADDQ(U32(32), xq)
	ADDQ(U32(4), xd)
	ADDQ(U32(4), xc)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	b32StoreSums(acc, msum)
	VZEROUPPER()
	RET()
}

// b32StoreSums writes, for each row c, the sum of the 8 lanes of acc[c] (in HSum8's
// order) plus msum[c] to out[c*os/4] (the parameters out and os).
func b32StoreSums(acc, msum []VecVirtual) {
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	for c := range acc {
		x := avoext.HSum8(acc[c])
		VADDSS(msum[c], x, x)
		VMOVSS(x, Mem{Base: o})
		if c+1 < len(acc) {
			ADDQ(os, o)
		}
	}
}
