package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The VNNI order of the grid i-quants IQ3_XXS, IQ2_XXS, IQ3_S and IQ2_S (kernel's
// iqgrid.go; -iqgrid writes iqgrid_amd64.s): per block of 32 the exact int32 sum
// T_b = Σ_half scale·Σ g·sign·x, then acc = float32(T_b)·((d·dmul)·dx_b) + acc, block
// after block. The one-row kernels (gridRow32, gridRow32x2: gridSum32) decode as
// gridSuper does (grid bytes, VPSIGNB of x) and take each block's Σ g·x by VPDPBUSD (IQ2_S,
// two scales a block: VPMADDUBSW and VPMADDWD with them), the scales by VPMULLD once the
// 8 blocks' sums are folded into one vector (hsum8x8D); the unpacker
// (gridUnpack512) writes 8 rows' super-blocks in the q6KPBlock format (u = g·sign + 64)
// for the kp512 Q6_K tiles, which sum in that order.

// iqGridKinds are the types of the VNNI order, in the order they are generated.
var iqGridKinds = []string{"IQ3XXS", "IQ2XXS", "IQ3S", "IQ2S"}

// gridKindByName returns the gridKinds entry named name.
func gridKindByName(name string) gridKind {
	for _, g := range gridKinds {
		if g.name == name {
			return g
		}
	}
	panic("gridKindByName: " + name)
}

// gridBlockSums decodes sub-block ib of the super-block at w (kind g) against the 32
// activations at xq+32·ib and returns 8 int32 lanes whose sum is T_ib: VPSIGNB puts the
// signs on x, VPMADDUBSW meets it with the grid bytes (|g·x| ≤ 62·127, two a word: no
// saturation) and VPMADDWD with the halves' scales.
func gridBlockSums(g gridKind, w, grid, xq, tbl Register, st *gridState, cs []Op, ib int) VecVirtual {
	gv := g.grid(w, grid, ib)
	sg := gridSigns(g.signs(w, st, ib, cs), cs)
	sc := g.scale(w, st, tbl, ib)
	x := YMM()
	VMOVDQU(Mem{Base: xq}.Offset(32*ib), x)
	VPSIGNB(sg, x, x)
	VPMADDUBSW(x, gv, x)
	VPMADDWD(sc, x, x)
	return x
}

// hsum8x8D returns the vector of the 8 sums of the int32 lanes of P(0..7) (lane i: Σ
// P(i)), by VPHADDD as soon as two are made (few live registers) and one cross-lane add
// (exact: integers).
func hsum8x8D(P func(i int) VecVirtual) VecVirtual {
	var h [4]VecVirtual
	var q [2]VecVirtual
	for i := range h {
		a := P(2 * i)
		b := P(2*i + 1)
		h[i] = YMM()
		VPHADDD(b, a, h[i])
		if i%2 == 1 {
			q[i/2] = YMM()
			VPHADDD(h[i], h[i-1], q[i/2]) // [Σ lo P(4j..4j+3) | Σ hi]
		}
	}
	q0, q1 := q[0], q[1]
	lo, hi := YMM(), YMM()
	VPERM2I128(U8(0x20), q1, q0, lo)
	VPERM2I128(U8(0x31), q1, q0, hi)
	VPADDD(hi, lo, lo)
	return lo
}

// gridD returns d·dmul of the super-block at w (f16 d at 0) in every lane of a YMM.
func gridD(g gridKind, w Register) VecVirtual {
	d := YMM()
	VPBROADCASTW(Mem{Base: w}.Offset(g.dOff), d.AsX())
	VCVTPH2PS(d.AsX(), d)
	if g.dmul != nil {
		VMULPS(*g.dmul, d, d)
	}
	return d
}

// gridRow32: func(w *byte, xq *int8, xd *float32, nsb int, grid *uintNN) float32
// One row of kind g in the VNNI order: per super-block the 8 blocks' T_b (gridBlockSums,
// hsum8x8D), converted to float32, and (d·dmul)·dx_b (one VMULPS), then 8 fused
// multiply-adds into one scalar accumulator, block after block (gridChain).
func gridRow32(g gridKind) {
	name := fmt.Sprintf("dot%s32AVX512", g.name)
	TEXT(name, NOSPLIT, gridSig(g))
	Doc(fmt.Sprintf("%s returns the dot product of nsb %s super-blocks with a row quantized by QuantizeQ8 (grid: tensor.%sGrid) in the VNNI order of dotGrid32Generic: per block of 32 the exact integer sum with its scales, times (d·dmul)·dx, fused into one scalar.", name, g.dt, g.name))
	local := AllocLocal(64)
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc := XMM()
	VXORPS(acc, acc, acc)
	cs := gridSignConsts(true)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	t, d := gridSum32(g, w, grid, xq, xd, tbl, local, cs)
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

// gridChain adds the 8 products lane b of t times lane b of f to acc (lane 0), one fused
// multiply-add after the other, b = 0..7: each lane is brought to lane 0 by VPSRLDQ
// (lanes 4..7 after VEXTRACTF128), off the accumulator's chain.
func gridChain(t, f VecVirtual, acc VecVirtual) {
	for h := 0; h < 2; h++ {
		th, fh := t.AsX(), f.AsX()
		if h == 1 {
			th, fh = XMM(), XMM()
			VEXTRACTF128(U8(1), t, th)
			VEXTRACTF128(U8(1), f, fh)
		}
		for b := 0; b < 4; b++ {
			tb, fb := th, fh
			if b > 0 {
				tb, fb = XMM(), XMM()
				VPSRLDQ(U8(4*b), th, tb)
				VPSRLDQ(U8(4*b), fh, fb)
			}
			VFMADD231SS(fb, tb, acc)
		}
	}
}

// gridSum32 decodes the super-block at w (kind g) against the activations at xq and dx
// at xd and returns the 8 blocks' T_b as float32 (exact: |T_b| < 2^23) and
// (d·dmul)·dx_b (one VMULPS). Where a block has one scale, Σ g·x comes from VPDPBUSD
// (u8 grid bytes, s8 signed x) and T_b = (2s+1)·Σ from one VPMULLD after hsum8x8D;
// IQ2_S takes gridBlockSums (the halves' scales by VPMADDWD). Measured at m = 1 (see
// kernel/iqgrid.go), the VPDPBUSD form against gridBlockSums for all: IQ3_XXS 28.9 /
// 27.3, IQ2_XXS 31.2 / 31.2, IQ3_S 21.4 / 21.5 cpu-GFLOP/s (noise about ±5%).
func gridSum32(g gridKind, w, grid, xq, xd, tbl Register, local Mem, cs []Op) (t, f VecVirtual) {
	st := &gridState{local: local, regs: true}
	if g.prep != nil {
		g.prep(w, st)
	}
	if g.name == "IQ2S" { // a scale for each half: VPMADDWD
		t = hsum8x8D(func(ib int) VecVirtual { return gridBlockSums(g, w, grid, xq, tbl, st, cs, ib) })
	} else { // one scale a block: Σ g·x by VPDPBUSD, times 2s+1 (VPMULLD) once summed
		t = hsum8x8D(func(ib int) VecVirtual {
			gv := g.grid(w, grid, ib)
			sg := gridSigns(g.signs(w, st, ib, cs), cs)
			x, z := YMM(), YMM()
			VMOVDQU(Mem{Base: xq}.Offset(32*ib), x)
			VPSIGNB(sg, x, x)
			VPXOR(z, z, z)
			avoext.VPDPBUSD(x, gv, z)
			return z
		})
		sc := YMM()
		VPSRLD(U8(16), st.sc, sc)
		VPMULLD(sc, t, t)
	}
	VCVTDQ2PS(t, t)
	f = gridD(g, w)
	VMULPS(Mem{Base: xd}, f, f)
	return t, f
}

// gridRow32x2: func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uintNN, out *float32)
// gridRow32 for two weight rows (at w and w+ws) against one activation row, writing
// out[0] and out[1], each summed in gridRow32's order (the same bits): the two rows'
// chains of fused multiply-adds run in lanes 0 and 1 of one register, their T_b and
// (d·dmul)·dx_b interleaved by VUNPCKLPS/VUNPCKHPS so that one 128-bit chunk holds
// blocks b and b+1 of both rows (block b+1 brought down by VMOVHLPS), half the shuffles
// and fused multiply-adds of two gridRow32 calls.
func gridRow32x2(g gridKind) {
	name := fmt.Sprintf("dot%s32x2AVX512", g.name)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid %s, out *float32)", gridGoType(g)))
	Doc(fmt.Sprintf("%s writes to out[0] and out[1] the dot products of two rows of nsb %s super-blocks (at w and w+ws) with a row quantized by QuantizeQ8, each as dot%s32AVX512 computes it (grid: tensor.%sGrid).", name, g.dt, g.name, g.name))
	local := AllocLocal(64)
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
	cs := gridSignConsts(true)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for _, w := range []Register{w0, w1} {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch))
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	}
	ta, fa := gridSum32(g, w0, grid, xq, xd, tbl, local, cs)
	tb, fb := gridSum32(g, w1, grid, xq, xd, tbl, local, cs)
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

// gridScaleWords returns the three scale vectors of the super-block at w for the
// q6KPBlock format (dword ib: the low half's 2s+1 twice, the high half's twice, then low
// | high << 16), from prep's st.sc where the halves share a scale, else (IQ2_S) from its
// scale bytes.
func gridScaleWords(g gridKind, w Register, st *gridState) [3]VecVirtual {
	if g.name != "IQ2S" {
		return [3]VecVirtual{st.sc, st.sc, st.sc}
	}
	v, lo, hi, ones := YMM(), YMM(), YMM(), YMM()
	VPMOVZXBD(Mem{Base: w}.Offset(74), v)
	VPAND(gLow4D, v, lo)
	VPSRLD(U8(4), v, hi)
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

// transpose8x8D transposes the 8×8 int32 matrix whose row r is S[r]: lane r of the
// result's vector i is lane i of S[r].
func transpose8x8D(S [8]VecVirtual) [8]VecVirtual {
	var t [8]VecVirtual
	for i := 0; i < 4; i++ {
		t[2*i], t[2*i+1] = YMM(), YMM()
		VPUNPCKLDQ(S[2*i+1], S[2*i], t[2*i])
		VPUNPCKHDQ(S[2*i+1], S[2*i], t[2*i+1])
	}
	var u [8]VecVirtual
	for h := 0; h < 2; h++ { // rows 4h..4h+3
		a, b := t[4*h], t[4*h+2]   // dwords 0, 1 (4, 5) of rows 4h, 4h+1 and 4h+2, 4h+3
		c, e := t[4*h+1], t[4*h+3] // dwords 2, 3 (6, 7)
		for i, v := range []VecVirtual{YMM(), YMM(), YMM(), YMM()} {
			u[4*h+i] = v
		}
		VPUNPCKLQDQ(b, a, u[4*h])
		VPUNPCKHQDQ(b, a, u[4*h+1])
		VPUNPCKLQDQ(e, c, u[4*h+2])
		VPUNPCKHQDQ(e, c, u[4*h+3])
	}
	var out [8]VecVirtual
	for i := 0; i < 4; i++ {
		out[i], out[4+i] = YMM(), YMM()
		VPERM2I128(U8(0x20), u[4+i], u[i], out[i])
		VPERM2I128(U8(0x31), u[4+i], u[i], out[4+i])
	}
	return out
}

// gridUnpack512: func(dst, w *byte, off *int64, nsb int, grid *uintNN)
// nsb super-blocks of 8 rows of kind g (row r at w + off[r]) into dst in the q6KPBlock
// format (384 bytes a block of 32: value e of row r at 32·(e/4) + 4r + e%4 as u = g·sign
// + 64 (≥ 2, ≤ 126), the scales' words at 256, 288, 320 + 4r, d·dmul at 352 + 4r). Per
// super-block each row's 8 blocks are decoded as gridSuper decodes them (VPSIGNB of the
// grid bytes, VPADDB 64) into a 2 KiB stack scratch, with its scale vectors; then each
// two blocks of the 8 rows are transposed by dwords (iq2XSTranspose8), the scale vectors
// by transpose8x8D, and d of the 8 rows (iq2RowsQ) stored in every block. Each row's
// next piece (4 super-blocks on, kp512KB) is prefetched.
func gridUnpack512(g gridKind) {
	name := fmt.Sprintf("%sUnpackAVX512", lowerFirst(g.name))
	TEXT(name, 0, fmt.Sprintf("func(dst, w *byte, off *int64, nsb int, grid %s)", gridGoType(g)))
	Doc(fmt.Sprintf("%s decodes nsb super-blocks of 8 %s rows (row r at w+off[r]) into dst in the q6KPBlock format, as gridUnpack8 does (grid: tensor.%sGrid).", name, g.dt, g.name))
	scr := AllocLocal(8*256 + 3*8*32)
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	offp := Load(Param("off"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	c64 := YMM()
	t := GP32()
	MOVL(U32(0x40404040), t)
	VPBROADCASTD(t, c64)
	cs := gridSignConsts(true)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for r := 0; r < 8; r++ {
		p := GP64()
		MOVQ(Mem{Base: offp}.Offset(8*r), p)
		ADDQ(w, p)
		PREFETCHT0(Mem{Base: p}.Offset(4 * g.bytes))
		PREFETCHT0(Mem{Base: p}.Offset(4*g.bytes + 64))
		st := &gridState{regs: true}
		if g.prep != nil {
			g.prep(p, st)
		}
		var even VecVirtual
		for ib := 0; ib < 8; ib++ {
			gv := g.grid(p, grid, ib)
			sg := gridSigns(g.signs(p, st, ib, cs), cs)
			VPSIGNB(sg, gv, gv)
			VPADDB(c64, gv, gv)
			if ib%2 == 0 {
				even = gv
				continue
			}
			// One 64-byte store for blocks ib-1, ib: the transposes' 64-byte loads
			// then take it from the store buffer.
			z := ZMM()
			VINSERTI64X4(U8(1), gv, even.AsZ(), z)
			VMOVDQU64(z, scr.Offset(256*r+32*(ib-1)))
		}
		for i, s := range gridScaleWords(g, p, st) {
			VMOVDQU(s, scr.Offset(2048+256*i+32*r))
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
		if i > 0 && g.name != "IQ2S" {
			break
		}
		var S [8]VecVirtual
		for r := 0; r < 8; r++ {
			S[r] = YMM()
			VMOVDQU(scr.Offset(2048+256*i+32*r), S[r])
		}
		T := transpose8x8D(S)
		for ib := 0; ib < 8; ib++ {
			for j := 0; j < 3; j++ {
				if g.name == "IQ2S" && j != i {
					continue
				}
				VMOVDQU(T[ib], Mem{Base: dst}.Offset(384*ib+256+32*j))
			}
		}
	}
	dv := iq2RowsQ(w, offp, g.dOff)
	d := YMM()
	VPMOVQW(dv, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	if g.dmul != nil {
		VMULPS(*g.dmul, d, d)
	}
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

// lowerFirst returns s with its first letter in lower case ("IQ3XXS" → "iq3XXS").
func lowerFirst(s string) string {
	return "iq" + s[2:]
}

// iqGrid512 generates iqgrid_amd64.s: the one-row kernels and unpackers of iqGridKinds.
func iqGrid512() {
	iq2Consts()
	gridConsts()
	for _, n := range iqGridKinds {
		gridRow32(gridKindByName(n))
	}
	for _, n := range iqGridKinds {
		gridRow32x2(gridKindByName(n))
	}
	for _, n := range iqGridKinds {
		gridUnpack512(gridKindByName(n))
	}
}
