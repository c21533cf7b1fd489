package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The VNNI order of IQ1_S and IQ1_M (kernel's iq1.go; -iq1 writes iq1_amd64.s): the values
// are v = 8·g + δ (g in {-1, 0, 1} from the grid, δ = ±1 the group's shift: llama.cpp's
// g ± 1/8 times 8, so that they are integers), per block of 32 the exact int32 sum
// T_b = Σ_half (2s+1)·Σ v·x = Σ_half (2s+1)·(8·Σ g·x + Σ_group δ·Σ x), then
// acc = float32(T_b)·((d/8)·dx_b) + acc, block after block. The one-row kernels
// (iq1Row32, iq1Row32x2: iq1Sum32) take the values from gridKinds' grid functions (those
// of the AVX2 kernels) and meet them as |v| and x·sign(v): IQ1_S (one scale a block) by
// VPDPBUSD and one VPMULLD by 2s+1 once the 8 blocks' sums are folded into one vector
// (hsum8x8D), IQ1_M (a scale a half) by VPMADDUBSW and VPMADDWD with its halves' scales.
// The unpackers (iq1Unpack512) write 8 rows' super-blocks in the q6KPBlock format (u =
// v + 64, 55..73) for the kp512 Q6_K tiles, which sum in that order.

// iq1Kinds are the types of -iq1, in the order they are generated.
var iq1Kinds = []string{"IQ1S", "IQ1M"}

// gIQ1MScShift: IQ1_M's block ib takes its scales from scales word ib/2 shifted right by
// 6·(ib%2) (dword ib: 0 or 6).
var gIQ1MScShift *Mem

// iq1Consts defines the constants of -iq1 beyond gridConsts'.
func iq1Consts() {
	gIQ1MScShift = newConst("kq_iq1mscshift", 4, func(i int) uint64 { return uint64(6 * (i % 2)) })
}

// iq1D returns d/8 of the super-block at w in every lane of a YMM (IQ1_M's d from the top
// nibbles of its four scales words: gridKind.dFunc).
func iq1D(g gridKind, w Register) VecVirtual {
	var d VecVirtual
	if g.dFunc != nil {
		d = g.dFunc(w)
	} else {
		d = YMM()
		VPBROADCASTW(Mem{Base: w}.Offset(g.dOff), d.AsX())
		VCVTPH2PS(d.AsX(), d)
	}
	VMULPS(*g.dmul, d, d)
	return d
}

// iq1Sum32 decodes the super-block at w (kind g) against the activations at xq and dx at
// xd and returns the 8 blocks' T_b as float32 (exact: |T_b| ≤ 15·9·127·32 < 2^20) and
// (d/8)·dx_b (one VMULPS).
func iq1Sum32(g gridKind, w, grid, xq, xd, tbl Register) (t, f VecVirtual) {
	st := &gridState{regs: true}
	if g.prep != nil {
		g.prep(w, st) // IQ1_S: 2s+1 in both words of dword ib
	}
	t = hsum8x8D(func(ib int) VecVirtual {
		v := g.grid(w, grid, ib) // 8·g ± 1
		a, x := YMM(), YMM()
		VPABSB(v, a)
		VMOVDQU(Mem{Base: xq}.Offset(32*ib), x)
		VPSIGNB(v, x, x)      // x·sign(v): v is never 0
		if g.name == "IQ1M" { // a scale a half: |v·x| ≤ 9·128, two a word
			VPMADDUBSW(x, a, x)
			VPMADDWD(g.scale(w, st, tbl, ib), x, x)
			return x
		}
		z := YMM()
		VPXOR(z, z, z)
		avoext.VPDPBUSD(x, a, z)
		return z
	})
	if g.name != "IQ1M" {
		sc := YMM()
		VPSRLD(U8(16), st.sc, sc)
		VPMULLD(sc, t, t)
	}
	VCVTDQ2PS(t, t)
	f = iq1D(g, w)
	VMULPS(Mem{Base: xd}, f, f)
	return t, f
}

// iq1Row32: func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32
// One row of kind g in the VNNI order: per super-block the 8 blocks' T_b and (d/8)·dx_b
// (iq1Sum32), then 8 fused multiply-adds into one scalar accumulator, block after block
// (gridChain).
func iq1Row32(g gridKind) {
	name := fmt.Sprintf("dot%s32AVX512", g.name)
	TEXT(name, NOSPLIT, gridSig(g))
	Doc(fmt.Sprintf("%s returns the dot product of nsb %s super-blocks with a row quantized by QuantizeQ8 (grid: tensor.IQ1SGrid) in the VNNI order of dotIQ132Generic: per block of 32 the exact integer sum with its scales, times (d/8)·dx, fused into one scalar.", name, g.dt))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc := XMM()
	VXORPS(acc, acc, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	t, d := iq1Sum32(g, w, grid, xq, xd, tbl)
	gridChain(t, d, acc)
	ADDQ(U32(g.bytes), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	Store(acc, ReturnIndex(0))
	RET()
}

// iq1Row32x2: func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uint64, out *float32)
// iq1Row32 for two weight rows (at w and w+ws), writing out[0] and out[1], each summed in
// iq1Row32's order (the same bits): the two chains run in lanes 0 and 1 of one register,
// as gridRow32x2's do.
func iq1Row32x2(g gridKind) {
	name := fmt.Sprintf("dot%s32x2AVX512", g.name)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uint64, out *float32)")
	Doc(fmt.Sprintf("%s writes to out[0] and out[1] the dot products of two rows of nsb %s super-blocks (at w and w+ws) with a row quantized by QuantizeQ8, each as dot%s32AVX512 computes it (grid: tensor.IQ1SGrid).", name, g.dt, g.name))
	w0 := Load(Param("w"), GP64())
	w1 := Load(Param("ws"), GP64())
	ADDQ(w0, w1)
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc := XMM()
	VXORPS(acc, acc, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for _, w := range []Register{w0, w1} {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	}
	ta, fa := iq1Sum32(g, w0, grid, xq, xd, tbl)
	tb, fb := iq1Sum32(g, w1, grid, xq, xd, tbl)
	var tc, fc [2][2]Register // [lo/hi unpack][128-bit half]
	for i, pair := range [][2]VecVirtual{{ta, tb}, {fa, fb}} {
		lo, hi := YMM(), YMM()
		VUNPCKLPS(pair[1], pair[0], lo) // [a0, b0, a1, b1 | a4, b4, a5, b5]
		VUNPCKHPS(pair[1], pair[0], hi) // [a2, b2, a3, b3 | a6, b6, a7, b7]
		for u, v := range []VecVirtual{lo, hi} {
			x := XMM()
			VEXTRACTF128(U8(1), v, x)
			if i == 0 {
				tc[u] = [2]Register{v.AsX(), x}
			} else {
				fc[u] = [2]Register{v.AsX(), x}
			}
		}
	}
	for b := 0; b < 8; b++ {
		u, h := b%4/2, b/4 // block b: unpack u, half h, lanes 2·(b%2), +1
		tx, fx := tc[u][h], fc[u][h]
		if b%2 == 1 {
			tx, fx = XMM(), XMM()
			VMOVHLPS(tc[u][h], tc[u][h], tx)
			VMOVHLPS(fc[u][h], fc[u][h], fx)
		}
		VFMADD231PS(fx, tx, acc)
	}
	ADDQ(U32(g.bytes), w0)
	ADDQ(U32(g.bytes), w1)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	out := Load(Param("out"), GP64())
	VMOVLPS(acc, Mem{Base: out})
	VZEROUPPER()
	RET()
}

// iq1MScaleWords returns IQ1_M's three scale vectors of the super-block at w for the
// q6KPBlock format (dword ib: the low half's 2s+1 twice, the high half's twice, then low
// | high << 16; block ib's scales are bits 0-2 and 3-5 of scales word ib/2 >> 6·(ib%2)).
func iq1MScaleWords(w Register) [3]VecVirtual {
	v := YMM()
	VPMOVZXWD(Mem{Base: w}.Offset(48), v.AsX()) // the 4 words as dwords
	VPMOVZXDQ(v.AsX(), v)                       // as qwords
	VPSHUFD(U8(0xa0), v, v)                     // dword ib: word ib/2
	VPSRLVD(*gIQ1MScShift, v, v)
	lo, hi, ones := YMM(), YMM(), YMM()
	VPAND(*gSevenD, v, lo)
	VPSRLD(U8(3), v, hi)
	VPAND(*gSevenD, hi, hi)
	VPCMPEQD(ones, ones, ones)
	VPSRLD(U8(31), ones, ones) // dwords 1
	var out [3]VecVirtual
	for i, s := range []VecVirtual{lo, hi} {
		VPADDD(s, s, s)
		VPOR(ones, s, s)
		u := YMM()
		VPSLLD(U8(16), s, u)
		VPOR(s, u, u)
		out[i] = u
	}
	lh := YMM()
	VPSLLD(U8(16), hi, lh)
	VPOR(lo, lh, lh)
	out[2] = lh
	return out
}

// iq1MDBits returns the f16 bits of IQ1_M's d at w: the top nibbles of its four scales
// words, word i's in bits 4i..4i+3.
func iq1MDBits(w Register) GPVirtual {
	r, t := GP32(), GP32()
	MOVWLZX(Mem{Base: w}.Offset(48), r)
	SHRL(U8(12), r)
	for i := 1; i < 4; i++ {
		MOVWLZX(Mem{Base: w}.Offset(48+2*i), t)
		if i < 3 {
			SHRL(U8(12-4*i), t)
		}
		ANDL(U32(0xf<<(4*i)), t)
		ORL(t, r)
	}
	return r
}

// iq1Unpack512: func(dst, w *byte, off *int64, nsb int, grid *uint64)
// nsb super-blocks of 8 rows of kind g (row r at w + off[r]) into dst in the q6KPBlock
// format (384 bytes a block of 32: value e of row r at 32·(e/4) + 4r + e%4 as u = v + 64,
// the scales' words at 256, 288, 320 + 4r, d/8 at 352 + 4r), as gridUnpack512 writes the
// grid i-quants: each row's 8 blocks decoded by the grid functions (VPADDB 64) into a
// 2 KiB stack scratch with its scale vectors (IQ1_M: and its d's bits), then each two
// blocks of the 8 rows transposed by dwords (iq2XSTranspose8), the scale vectors by
// transpose8x8D, and d/8 of the 8 rows stored in every block. Each row's next piece (4
// super-blocks on, kp512KB) is prefetched.
func iq1Unpack512(g gridKind) {
	name := fmt.Sprintf("%sUnpackAVX512", lowerFirst(g.name))
	TEXT(name, 0, "func(dst, w *byte, off *int64, nsb int, grid *uint64)")
	Doc(fmt.Sprintf("%s decodes nsb super-blocks of 8 %s rows (row r at w+off[r]) into dst in the q6KPBlock format, as gridUnpack8 does (grid: tensor.IQ1SGrid).", name, g.dt))
	const scrSc, scrD = 2048, 2048 + 3*256
	scr := AllocLocal(scrD + 16)
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	c64 := YMM()
	t := GP32()
	MOVL(U32(0x40404040), t)
	VPBROADCASTD(t, c64)
	m := g.name == "IQ1M"
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for r := 0; r < 8; r++ {
		p := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), p)
		ADDQ(w, p)
		for o := 0; o < 4*g.bytes; o += 64 {
			PREFETCHT0(Mem{Base: p}.Offset(4*g.bytes + o))
		}
		st := &gridState{regs: true}
		if g.prep != nil {
			g.prep(p, st)
		}
		var even VecVirtual
		for ib := 0; ib < 8; ib++ {
			v := g.grid(p, grid, ib)
			VPADDB(c64, v, v)
			if ib%2 == 0 {
				even = v
				continue
			}
			// One 64-byte store for blocks ib-1, ib, as gridUnpack512.
			z := ZMM()
			VINSERTI64X4(U8(1), v, even.AsZ(), z)
			VMOVDQU64(z, scr.Offset(256*r+32*(ib-1)))
		}
		if m {
			for i, s := range iq1MScaleWords(p) {
				VMOVDQU(s, scr.Offset(scrSc+256*i+32*r))
			}
			MOVW(iq1MDBits(p).As16(), scr.Offset(scrD+2*r))
		} else {
			VMOVDQU(st.sc, scr.Offset(scrSc+32*r))
		}
	}
	for a := 0; a < 8; a += 2 {
		var R [8]VecVirtual
		for r := 0; r < 8; r++ {
			R[r] = ZMM()
			VMOVDQU64(scr.Offset(256*r+32*a), R[r])
		}
		iq2XSTranspose8(R, dst, a)
	}
	for i := 0; i < 3; i++ {
		if i > 0 && !m {
			break
		}
		var S [8]VecVirtual
		for r := 0; r < 8; r++ {
			S[r] = YMM()
			VMOVDQU(scr.Offset(scrSc+256*i+32*r), S[r])
		}
		T := transpose8x8D(S)
		for ib := 0; ib < 8; ib++ {
			for j := 0; j < 3; j++ {
				if m && j != i {
					continue
				}
				VMOVDQU(T[ib], Mem{Base: dst}.Offset(384*ib+256+32*j))
			}
		}
	}
	d := YMM()
	if m {
		VMOVDQU(scr.Offset(scrD), d.AsX())
	} else {
		VPMOVQW(iq2RowsQ(w, offp, g.dOff), d.AsX())
	}
	VCVTPH2PS(d.AsX(), d)
	VMULPS(*g.dmul, d, d)
	for ib := 0; ib < 8; ib++ {
		VMOVUPS(d, Mem{Base: dst}.Offset(384*ib+352))
	}
	ADDQ(U32(g.bytes), w)
	ADDQ(U32(8*384), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// iq1512 generates iq1_amd64.s: the one-row kernels and unpackers of iq1Kinds.
func iq1512() {
	iq2Consts()
	gridConsts()
	iq1Consts()
	for _, n := range iq1Kinds {
		iq1Row32(gridKindByName(n))
	}
	for _, n := range iq1Kinds {
		iq1Row32x2(gridKindByName(n))
	}
	for _, n := range iq1Kinds {
		iq1Unpack512(gridKindByName(n))
	}
}
