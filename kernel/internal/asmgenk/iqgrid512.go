package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The VNNI order of the grid i-quants IQ3_XXS, IQ2_XXS, IQ3_S and IQ2_S (kernel's
// iqgrid.go; -iqgrid writes iqgrid_amd64.s): per block of 32 the exact int32 sum
// T_b = Σ_half scale·Σ g·sign·x, then acc = float32(T_b)·((d·dmul)·dx_b) + acc, block
// after block. The one-row kernel (gridRow32) decodes as gridSuper does; the unpacker
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

// hsum8x8D returns the vector of the 8 sums of the int32 lanes of P[0..7] (lane i: Σ P[i]),
// by VPHADDD and one cross-lane add (exact: integers).
func hsum8x8D(P [8]VecVirtual) VecVirtual {
	var h [4]VecVirtual
	for i := range h {
		h[i] = YMM()
		VPHADDD(P[2*i+1], P[2*i], h[i])
	}
	q0, q1 := YMM(), YMM()
	VPHADDD(h[1], h[0], q0) // [Σ lo P0..P3 | Σ hi P0..P3]
	VPHADDD(h[3], h[2], q1)
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
// multiply-adds into one scalar accumulator, block after block (both vectors go through
// the stack and come back a lane at a time).
func gridRow32(g gridKind) {
	name := fmt.Sprintf("dot%s32AVX512", g.name)
	TEXT(name, NOSPLIT, gridSig(g))
	Doc(fmt.Sprintf("%s returns the dot product of nsb %s super-blocks with a row quantized by QuantizeQ8 (grid: tensor.%sGrid) in the VNNI order of dotGrid32Generic: per block of 32 the exact integer sum with its scales, times (d·dmul)·dx, fused into one scalar.", name, g.dt, g.name))
	local := AllocLocal(128)
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
	st := &gridState{local: local, regs: true}
	if g.prep != nil {
		g.prep(w, st)
	}
	var P [8]VecVirtual
	for ib := 0; ib < 8; ib++ {
		P[ib] = gridBlockSums(g, w, grid, xq, tbl, st, cs, ib)
	}
	t := hsum8x8D(P)
	VCVTDQ2PS(t, t)
	d := gridD(g, w)
	VMULPS(Mem{Base: xd}, d, d)
	VMOVUPS(t, local.Offset(64))
	VMOVUPS(d, local.Offset(96))
	for ib := 0; ib < 8; ib++ {
		v := XMM()
		VMOVSS(local.Offset(64+4*ib), v)
		VFMADD231SS(local.Offset(96+4*ib), v, acc)
	}
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
		for ib := 0; ib < 8; ib++ {
			gv := g.grid(p, grid, ib)
			sg := gridSigns(g.signs(p, st, ib, cs), cs)
			VPSIGNB(sg, gv, gv)
			VPADDB(c64, gv, gv)
			VMOVDQU(gv, scr.Offset(256*r+32*ib))
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
		gridUnpack512(gridKindByName(n))
	}
}
