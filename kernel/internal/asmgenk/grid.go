package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The grid i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_S) share one kernel shape, gridSuper:
// per sub-block ib of 32 weights (one block of x), 32 unsigned grid bytes g (gathered
// from the type's grid table), 32 signs (a 32-bit pattern, bit j for weight j, spread to
// bytes for VPSIGNB on x) and an integer scale (odd, ≤ 31) for each half; the product is
// d·dmul·Σ_ib dx_ib·Σ_half scale·Σ g·sign·x, the inner sums exact integers.

// Constants of the grid kernels (gridConsts).
var gSignShuf, gLow4D, gLow7, gOnesD, gIQ3SShift, gIQ3SQh, gIQ2SQh, gBit8, gBits89, quarter Mem

// gridConsts defines the constants of the grid kernels (iq2Consts must have run).
func gridConsts() {
	// Byte j of each 128-bit lane takes byte j/8 of its lane (lane 1: 2 + j/8), the byte
	// of a broadcast 32-bit sign pattern that holds weight j's sign.
	gSignShuf = GLOBL("kq_gsignshuf", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i/8))
	}
	gLow4D = GLOBL("kq_glow4d", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(15))
	}
	gLow7 = GLOBL("kq_glow7", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x7f))
	}
	gOnesD = GLOBL("kq_gonesd", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x00010001))
	}
	// IQ3_S: the scale nibble of sub-block i is bits 4i..4i+3 of the scales word.
	gIQ3SShift = GLOBL("kq_giq3sshift", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(uint32(4*i)))
	}
	// IQ3_S: index k takes bit k of qh[ib] as its bit 8 (shift left by 8 - k).
	gIQ3SQh = GLOBL("kq_giq3sqh", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(uint32(8-i)))
	}
	// IQ2_S: index l takes bits 2l, 2l+1 of qh[ib] as its bits 8, 9 (shift left 8 - 2l).
	gIQ2SQh = GLOBL("kq_giq2sqh", RODATA|NOPTR)
	for i := 0; i < 4; i++ {
		DATA(4*i, U32(uint32(8-2*i)))
	}
	gBit8 = GLOBL("kq_gbit8", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x100))
	}
	gBits89 = GLOBL("kq_gbits89", RODATA|NOPTR)
	for i := 0; i < 4; i++ {
		DATA(4*i, U32(0x300))
	}
	quarter = GLOBL("kq_quarter", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, F32(0.25))
	}
}

// gridKind describes one grid i-quant for gridSuper.
type gridKind struct {
	name, dt string // "IQ3XXS", "IQ3_XXS"
	bytes    int    // bytes of a super-block
	entry    int    // bytes of a grid entry (4 or 8)
	dmul     *Mem   // the factor of d (nil: 1)
	// prep runs once a super-block and may fill local (64 bytes): IQ3_XXS and IQ2_XXS
	// store their eight 32-bit sign patterns (bytes 0..31) and their scales as two
	// equal int16 (bytes 32..63), IQ3_S its scales.
	prep func(w Register, local Mem)
	// grid returns sub-block ib's 32 grid bytes.
	grid func(w, grid Register, ib int) VecVirtual
	// signs returns the address of sub-block ib's 32-bit sign pattern.
	signs func(w Register, local Mem, ib int) Mem
	// scale returns sub-block ib's scales for VPMADDWD: 16 int16, the first 8 the first
	// half's scale, the last 8 the second half's (tbl: iq2ScaleTable's address).
	scale func(w Register, local Mem, tbl Register, ib int) Op
}

// gridKinds are the grid types in the order they are generated.
var gridKinds = []gridKind{
	{
		name: "IQ3XXS", dt: "IQ3_XXS", bytes: 98, entry: 4, dmul: &quarter,
		prep: func(w Register, local Mem) {
			v := YMM()
			VMOVDQU(Mem{Base: w}.Offset(66), v)
			auxSignsScales(v, local)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx := YMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+8*ib), idx)
			return gather4(grid, idx)
		},
		signs: func(w Register, local Mem, ib int) Mem { return local.Offset(4 * ib) },
		scale: func(w Register, local Mem, tbl Register, ib int) Op { return bcastScale(local, ib) },
	},
	{
		name: "IQ3S", dt: "IQ3_S", bytes: 110, entry: 4,
		prep: func(w Register, local Mem) {
			// 2·nibble_ib + 1 in both words of dword ib.
			v := YMM()
			VPBROADCASTD(Mem{Base: w}.Offset(106), v)
			VPSRLVD(gIQ3SShift, v, v)
			VPAND(gLow4D, v, v)
			oddScales(v, local)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx, h := YMM(), YMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+8*ib), idx)
			VPBROADCASTB(Mem{Base: w}.Offset(66+ib), h)
			VPSLLVD(gIQ3SQh, h, h)
			VPAND(gBit8, h, h)
			VPOR(h, idx, idx)
			return gather4(grid, idx)
		},
		signs: func(w Register, local Mem, ib int) Mem { return Mem{Base: w}.Offset(74 + 4*ib) },
		scale: func(w Register, local Mem, tbl Register, ib int) Op { return bcastScale(local, ib) },
	},
	{
		name: "IQ2XXS", dt: "IQ2_XXS", bytes: 66, entry: 8, dmul: &eighth,
		prep: func(w Register, local Mem) {
			// The aux words (signs and scale) are the odd 32-bit words of qs.
			a, b := YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(2), a)
			VMOVDQU(Mem{Base: w}.Offset(34), b)
			VSHUFPS(U8(0xdd), b, a, a) // aux 0, 1, 4, 5 | 2, 3, 6, 7
			VPERMQ(U8(0xd8), a, a)
			auxSignsScales(a, local)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx := XMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+8*ib), idx)
			return gather8(grid, idx)
		},
		signs: func(w Register, local Mem, ib int) Mem { return local.Offset(4 * ib) },
		scale: func(w Register, local Mem, tbl Register, ib int) Op { return bcastScale(local, ib) },
	},
	{
		name: "IQ2S", dt: "IQ2_S", bytes: 82, entry: 8, dmul: &eighth,
		grid: func(w, grid Register, ib int) VecVirtual {
			idx, h := XMM(), XMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+4*ib), idx)
			VPBROADCASTB(Mem{Base: w}.Offset(66+ib), h)
			VPSLLVD(gIQ2SQh, h, h)
			VPAND(gBits89, h, h)
			VPOR(h, idx, idx)
			return gather8(grid, idx)
		},
		signs: func(w Register, local Mem, ib int) Mem { return Mem{Base: w}.Offset(34 + 4*ib) },
		scale: func(w Register, local Mem, tbl Register, ib int) Op {
			si := GP64()
			MOVBQZX(Mem{Base: w}.Offset(74+ib), si)
			SHLQ(U8(5), si)
			return Mem{Base: tbl, Index: si, Scale: 1}
		},
	},
}

// gather4 returns the eight 4-byte grid entries at the dword indices idx.
func gather4(grid Register, idx VecVirtual) VecVirtual {
	m, g := YMM(), YMM()
	VPCMPEQD(m, m, m)
	VPXOR(g, g, g)
	VPGATHERDD(m, Mem{Base: grid, Index: idx, Scale: 4}, g)
	return g
}

// gather8 returns the four 8-byte grid entries at the dword indices idx (an XMM).
func gather8(grid Register, idx VecVirtual) VecVirtual {
	m, g := YMM(), YMM()
	VPCMPEQD(m, m, m)
	VPXOR(g, g, g)
	VPGATHERDQ(m, Mem{Base: grid, Index: idx, Scale: 8}, g)
	return g
}

// bcastScale returns sub-block ib's scale words from local (stored by oddScales).
func bcastScale(local Mem, ib int) Op {
	s := YMM()
	VPBROADCASTD(local.Offset(32+4*ib), s)
	return s
}

// oddScales stores 2·v + 1 (v: eight dwords) to local bytes 32..63 with the result in
// both 16-bit halves of each dword.
func oddScales(v VecVirtual, local Mem) {
	u := YMM()
	VPADDD(v, v, v)
	VPSLLD(U8(16), v, u)
	VPOR(u, v, v)
	VPOR(gOnesD, v, v)
	VMOVDQU(v, local.Offset(32))
}

// auxSignsScales takes the eight aux words of an IQ3_XXS or IQ2_XXS super-block (in v): bits 7l..7l+6 of word ib index ksigns_iq2xs for the signs of
// weights 8l..8l+7 of sub-block ib, bits 28..31 its scale s. The sign byte is the 7 bits
// and their parity as bit 7 (ksigns_iq2xs[i] = i | parity(i) << 7); the four sign bytes of
// each word are stored to local bytes 0..31, and 2s + 1 (oddScales) to 32..63.
func auxSignsScales(v VecVirtual, local Mem) {
	par := YMM()
	VMOVDQU(iq2Parity, par)
	var s VecVirtual
	for l := 0; l < 4; l++ {
		t, u := YMM(), YMM()
		if l == 0 {
			VPAND(gLow7, v, t)
		} else {
			VPSRLD(U8(7*l), v, t)
			VPAND(gLow7, t, t)
		}
		VPSRLD(U8(4), t, u)
		VPXOR(t, u, u) // bits 0-3: the parity of the 7 bits folded to 4
		VPSHUFB(u, par, u)
		VPOR(u, t, t)
		if l == 0 {
			s = t
			continue
		}
		VPSLLD(U8(8*l), t, t)
		VPOR(t, s, s)
	}
	VMOVDQU(s, local)
	sc := YMM()
	VPSRLD(U8(28), v, sc)
	oddScales(sc, local)
}

// gridSigns spreads the 32-bit sign pattern at src to 32 bytes for VPSIGNB: 127 where
// the weight is positive, 128..255 (negative as int8) where negated. cs: gSignShuf,
// iq2BitSel, iq2Seven7F, as registers or memory.
func gridSigns(src Mem, cs []Op) VecVirtual {
	v := YMM()
	VPBROADCASTD(src, v)
	VPSHUFB(cs[0], v, v)
	VPAND(cs[1], v, v)
	VPADDB(cs[2], v, v)
	return v
}

// gridSignConsts returns gridSigns' constants, in registers where regs.
func gridSignConsts(regs bool) []Op {
	ms := []Mem{gSignShuf, iq2BitSel, iq2Seven7F}
	cs := make([]Op, len(ms))
	for i, m := range ms {
		cs[i] = m
		if regs {
			r := YMM()
			VMOVDQU(m, r)
			cs[i] = r
		}
	}
	return cs
}

// gridSuper sums the super-block at w of kind g against C activation rows (row c's 256
// int8 values at xrow(c), its eight block scales at drow(c)) into t[c], eight float32
// lanes: for each sub-block ib = 0..7, the grid bytes meet x·sign through VPMADDUBSW and
// the halves' scales through VPMADDWD (int32 lane l: scale·Σ of 4 g·x, exact; lanes 0-3
// the first half, 4-7 the second), and lane l is converted to float32 and, times dx_ib,
// added to t[c] lane l (ib = 0 sets it; each add one fused multiply-add).
func gridSuper(g gridKind, w, grid Register, C int, xrow, drow func(c int) Mem, t []VecVirtual, local Mem, tbl Register, cs []Op) {
	if g.prep != nil {
		g.prep(w, local)
	}
	for ib := 0; ib < 8; ib++ {
		gv := g.grid(w, grid, ib)
		sg := gridSigns(g.signs(w, local, ib), cs)
		sc := g.scale(w, local, tbl, ib)
		for c := 0; c < C; c++ {
			x, f := YMM(), YMM()
			VMOVDQU(xrow(c).Offset(32*ib), x)
			VPSIGNB(sg, x, x)
			VPMADDUBSW(x, gv, x)
			VPMADDWD(sc, x, x)
			VCVTDQ2PS(x, x)
			VBROADCASTSS(drow(c).Offset(4*ib), f)
			if ib == 0 {
				VMULPS(f, x, t[c])
			} else {
				VFMADD231PS(x, f, t[c])
			}
		}
	}
}

// gridAddD adds each row's super-block sum t[c] times d·dmul (an exact power of two
// multiply) to acc[c].
func gridAddD(g gridKind, w Register, t, acc []VecVirtual) {
	d := YMM()
	VPBROADCASTW(Mem{Base: w}, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	if g.dmul != nil {
		VMULPS(*g.dmul, d, d)
	}
	for c := range t {
		VFMADD231PS(t[c], d, acc[c])
	}
}

// gridGoType is the Go type of the grid parameter of kind g's row kernel.
func gridGoType(g gridKind) string {
	if g.entry == 4 {
		return "*uint32"
	}
	return "*uint64"
}

// gridRow: func(w *byte, xq *int8, xd *float32, nsb int, grid *uintNN) float32
// One row of kind g (nsb super-blocks: f16 d first) against a quantized row; gridSuper
// gives the layout and the order of the sums. Each super-block's sum t is multiplied by
// d·dmul into the accumulator acc, whose lanes are added at the end (avoext.HSum8). The
// plain Go twin is dotGridGeneric, in the same order.
func gridRow(g gridKind) {
	name := fmt.Sprintf("dot%sAVX", g.name)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(w *byte, xq *int8, xd *float32, nsb int, grid %s) float32", gridGoType(g)))
	Doc(fmt.Sprintf("%s returns the dot product of nsb %s super-blocks with a row quantized by QuantizeQ8 (grid: tensor.%sGrid).", name, g.dt, g.name))
	local := AllocLocal(64)
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc, t := YMM(), YMM()
	VXORPS(acc, acc, acc)
	cs := gridSignConsts(true)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	gridSuper(g, w, grid, 1, func(int) Mem { return Mem{Base: xq} }, func(int) Mem { return Mem{Base: xd} }, []VecVirtual{t}, local, tbl, cs)
	gridAddD(g, w, []VecVirtual{t}, []VecVirtual{acc})
	ADDQ(U32(g.bytes), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// gridTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One row of kind g against C rows quantized by QuantizeQ8 (strides in bytes; xc: the
// grid table), writing row c's dot product to out[c*os/4]. The grid bytes, signs and
// scales are decoded once for the C rows (gridSuper), and each row is summed with the
// operations of gridRow in their order: bit-identical to it.
func gridTile(g gridKind, C int) {
	name := fmt.Sprintf("dot%s_1x%d", g.name, C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb %s super-blocks of one row with %d int8-quantized rows to out[c*os/4] (xc: the grid table, tensor.%sGrid).", name, g.dt, C, g.name))
	local := AllocLocal(64)
	w, xq, xd, grid, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc, t := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], t[c] = YMM(), YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl) // LEAQ leaves the flags of SuperTileParams' TESTQ
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	gridSuper(g, w, grid, C,
		func(c int) Mem { return avoext.RowAt(xq, xs, xs3, c) },
		func(c int) Mem { return avoext.RowAt(xd, xds, xds3, c) }, t, local, tbl, gridSignConsts(false))
	gridAddD(g, w, t, acc)
	ADDQ(U32(g.bytes), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}
