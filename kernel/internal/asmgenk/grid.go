package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The grid i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_S, IQ1_S, IQ1_M) and TQ2_0, TQ1_0 and
// Q8_K share one kernel shape, gridSuper: per sub-block ib of 32 weights (one block of x),
// 32 unsigned grid bytes g (loaded from the type's grid table by gridEntries), 32 signs
// (a 32-bit pattern, bit j for weight j, spread to bytes for VPSIGNB on x) and an
// integer scale (odd, ≤ 31) for each half; the product is
// d·dmul·Σ_ib dx_ib·Σ_half scale·Σ g·sign·x, the inner sums exact integers. The types
// whose values are signed small integers (IQ1's 8·g ± 1, the ternary types' -1..1, Q8_K's
// int8: gridKind.signed) meet x as |v| and x·sign(v) instead.
//
// Measured (BenchmarkIQ3XXS and the like in kquant_linux_test.go: thread CPU time, one
// thread, shared and loaded 2-vCPU Zen 5, so rough), 2048×2048, m = 1 / m = 16 through
// the 1×4 tiles, in µs: IQ3_XXS 450 / 2870, IQ3_S 555 / 3150, IQ2_XXS 330 / 2450, IQ2_S
// 380 / 2780, IQ1_S 355 / 2860, IQ1_M 390 / 3100, TQ2_0 160 / 1600, TQ1_0 250 / 2170,
// Q8_K 110 / 1350 (IQ2_XS's own kernel in the same runs: 210-285 / 1930-2430). The plain-Go
// unpacked rows they replace took 8-97 ms at m = 1 (BenchmarkMatVecBlocks, wall).

// Constants of the grid kernels (gridConsts).
var gTQ1Pow, gThreesW, gHighByte *Mem

var gIQ1MShift, gIQ1MSignShuf, gIQ1MSignBit, gIQ1SShift, gBits8to10, gSevenD, gEights, gOnesB, gThrees *Mem

var gSignShuf, gSignShufIb, gLow4D, gLow7, gOnesD, gIQ3SShift, gIQ3SQh, gIQ2SQh, gBit8, gBits89, quarter Mem

// gridConsts defines the constants of the grid kernels (iq2Consts must have run).
func gridConsts() {
	// Byte j of each 128-bit lane takes byte j/8 of its lane (lane 1: 2 + j/8), the byte
	// of a broadcast 32-bit sign pattern that holds weight j's sign.
	gSignShuf = GLOBL("kq_gsignshuf", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i/8))
	}
	// Four masks: byte j of each 128-bit lane takes byte 4i + j/8 of its lane (lane 1:
	// 4i + 2 + j/8), the byte of sign pattern i of a lane of four that holds weight j's sign.
	gSignShufIb = GLOBL("kq_gsignshufib", RODATA|NOPTR)
	for i := 0; i < 128; i++ {
		DATA(i, U8(4*(i/32)+i%32/8))
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
	// IQ1_S: index l takes bits 3l..3l+2 of qh (shifted left by 8) as its bits 8..10.
	gIQ1SShift = newConst("kq_giq1sshift", 4, func(i int) uint64 { return uint64(3 * i) })
	// IQ1_M: index l takes bits 4l..4l+2 of its qh word (shifted left by 8) as bits 8..10.
	gIQ1MShift = newConst("kq_giq1mshift", 4, func(i int) uint64 { return uint64(4 * i) })
	// IQ1_M: byte j takes byte j/16 of the qh word (that of group j/8), and its shift bit
	// is bit 3 (group j/8 even) or 7 (odd) of it.
	gIQ1MSignShuf = newConst("kq_giq1msignshuf", 1, func(i int) uint64 { return uint64(i / 16) })
	gIQ1MSignBit = newConst("kq_giq1msignbit", 1, func(i int) uint64 { return uint64(8 << (4 * (i / 8 % 2))) })
	// TQ1_0: the word multipliers 3^n of sub-block ib (tq1Digits): ib < 5 3^ib; ib 5
	// 1 | 3 (lanes), ib 6 9 | 27, ib 7 81 | 1, 1, 3, 3, 9, 9, 27, 27.
	gTQ1Pow = newConst16("kq_gtq1pow", 8*16, func(i int) uint64 {
		ib, w := i/16, i%16
		pow := []uint64{1, 3, 9, 27, 81}
		switch {
		case ib < 5:
			return pow[ib]
		case ib < 7:
			return pow[2*(ib-5)+w/8]
		case w < 8:
			return 81
		}
		return pow[(w-8)/2]
	})
	gThreesW = newConst16("kq_gthreesw", 16, func(int) uint64 { return 3 })
	gHighByte = newConst16("kq_ghighbyte", 16, func(int) uint64 { return 0xff00 })
	gBits8to10 = newConst("kq_gbits8to10", 4, func(int) uint64 { return 0x700 })
	gSevenD = newConst("kq_gsevend", 4, func(int) uint64 { return 7 })
	gEights = newConst("kq_geights", 1, func(int) uint64 { return 8 })
	gOnesB = newConst("kq_gonesb", 1, func(int) uint64 { return 1 })
	gThrees = newConst("kq_gthrees", 1, func(int) uint64 { return 3 })
	quarter = GLOBL("kq_quarter", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, F32(0.25))
	}
}

// newConst defines a 32-byte constant of elements of size bytes, element i val(i).
func newConst(name string, size int, val func(i int) uint64) *Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 32/size; i++ {
		switch size {
		case 1:
			DATA(i, U8(uint8(val(i))))
		default:
			DATA(4*i, U32(uint32(val(i))))
		}
	}
	return &m
}

// newConst16 defines a constant of n uint16, element i val(i).
func newConst16(name string, n int, val func(i int) uint64) *Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < n; i++ {
		DATA(2*i, U16(uint16(val(i))))
	}
	return &m
}

// tq1Digits returns the base-3 digits less 1 (-1..1) of the 32 bytes of v: byte t, times
// the word multiplier 3^n of its word (pow) modulo 256, gives the digit (3·t) >> 8 (ggml's
// TQ1_0 packing). The even bytes' products come from the low bytes of the word products,
// the odd bytes' from the products of the words with their low bytes cleared; each,
// shifted to its word's high byte, meets 3 in VPMULHUW.
func tq1Digits(v VecVirtual, pow Mem) VecVirtual {
	e, o := YMM(), YMM()
	VPMULLW(pow, v, e)
	VPSLLW(U8(8), e, e)
	VPMULHUW(*gThreesW, e, e) // the even bytes' digits, in the low bytes
	VPAND(*gHighByte, v, o)
	VPMULLW(pow, o, o)
	VPMULHUW(*gThreesW, o, o)
	VPSLLW(U8(8), o, o) // the odd bytes' digits, in the high bytes
	VPOR(o, e, e)
	VPSUBB(*gOnesB, e, e)
	return e
}

// gridKind describes one type for gridSuper.
type gridKind struct {
	name, dt string // "IQ3XXS", "IQ3_XXS"
	bytes    int    // bytes of a super-block
	entry    int    // bytes of a grid entry (4 or 8; 0: no grid table)
	dmul     *Mem   // the factor of d (nil: 1)
	dOff     int    // the offset of d
	dF32     bool   // d is a float32 (else float16)
	// dFunc, where not nil, returns d in every lane (IQ1_M's d is spread over 4 words).
	dFunc func(w Register) VecVirtual
	// signed: grid returns the values themselves, signed (IQ1_S's 8·g ± 1, TQ2_0's
	// -1..1, Q8_K's int8), met by x·sign(v) and |v|; signs is nil.
	signed bool
	// prep runs once a super-block and may fill st: IQ3_XXS and IQ2_XXS their eight
	// 32-bit sign patterns and their scales as two equal int16, IQ3_S its scales.
	prep func(w Register, st *gridState)
	// grid returns sub-block ib's 32 grid bytes.
	grid func(w, grid Register, ib int) VecVirtual
	// signs returns sub-block ib's sign bytes shuffled to bytes (gridSigns ends them).
	signs func(w Register, st *gridState, ib int, cs []Op) VecVirtual
	// scale returns sub-block ib's scales for VPMADDWD: 16 int16, the first 8 the first
	// half's scale, the last 8 the second half's (tbl: iq2ScaleTable's address).
	scale func(w Register, st *gridState, tbl Register, ib int) Op
}

// gridState holds what prep decodes of a super-block: the eight 32-bit sign patterns
// and the eight scale dwords, in registers (s, sc) where regs, else in local (bytes 0..31
// and 32..63); stored YMMs read back 4 bytes at a time wait for store forwarding, so the
// row kernel keeps them in registers (the tiles have too few left).
type gridState struct {
	local       Mem
	regs        bool
	s, sc       VecVirtual
	sdup, scdup VecVirtual // the 128-bit lane of s (sc) that holds ib's, in both lanes
}

// storeSigns keeps the sign patterns v.
func (st *gridState) storeSigns(v VecVirtual) {
	if st.regs {
		st.s = v
		return
	}
	VMOVDQU(v, st.local)
}

// storeScales keeps the scale dwords v.
func (st *gridState) storeScales(v VecVirtual) {
	if st.regs {
		st.sc = v
		return
	}
	VMOVDQU(v, st.local.Offset(32))
}

// signBytes returns sub-block ib's sign pattern spread over 32 bytes, byte j holding the
// pattern's byte j/8.
func (st *gridState) signBytes(ib int, cs []Op) VecVirtual {
	v := YMM()
	if !st.regs {
		VPBROADCASTD(st.local.Offset(4*ib), v)
		VPSHUFB(cs[0], v, v)
		return v
	}
	if ib%4 == 0 {
		st.sdup = YMM()
		VPERMQ(U8(0x44+0xaa*(ib/4)), st.s, st.sdup)
	}
	VPSHUFB(gSignShufIb.Offset(32*(ib%4)), st.sdup, v)
	return v
}

// scale returns sub-block ib's scale dword in every dword.
func (st *gridState) scale(ib int) Op {
	v := YMM()
	if !st.regs {
		VPBROADCASTD(st.local.Offset(32+4*ib), v)
		return v
	}
	if ib%4 == 0 {
		st.scdup = YMM()
		VPERMQ(U8(0x44+0xaa*(ib/4)), st.sc, st.scdup)
	}
	VPSHUFD(U8(0x55*(ib%4)), st.scdup, v)
	return v
}

// memSigns returns the sign pattern at src spread over 32 bytes as signBytes does.
func memSigns(src Mem, cs []Op) VecVirtual {
	v := YMM()
	VPBROADCASTD(src, v)
	VPSHUFB(cs[0], v, v)
	return v
}

// gridKinds are the grid types in the order they are generated.
var gridKinds = []gridKind{
	{
		name: "IQ3XXS", dt: "IQ3_XXS", bytes: 98, entry: 4, dmul: &quarter,
		prep: func(w Register, st *gridState) {
			v := YMM()
			VMOVDQU(Mem{Base: w}.Offset(66), v)
			auxSignsScales(v, st)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			return gridEntries(grid, 8, byteIndices(w, 2+8*ib), 4)
		},
		signs: func(w Register, st *gridState, ib int, cs []Op) VecVirtual { return st.signBytes(ib, cs) },
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return st.scale(ib) },
	},
	{
		name: "IQ3S", dt: "IQ3_S", bytes: 110, entry: 4,
		prep: func(w Register, st *gridState) {
			// 2·nibble_ib + 1 in both words of dword ib.
			v := YMM()
			VPBROADCASTD(Mem{Base: w}.Offset(106), v)
			VPSRLVD(gIQ3SShift, v, v)
			VPAND(gLow4D, v, v)
			oddScales(v, st)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx, h := YMM(), YMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+8*ib), idx)
			VPBROADCASTB(Mem{Base: w}.Offset(66+ib), h)
			VPSLLVD(gIQ3SQh, h, h)
			VPAND(gBit8, h, h)
			VPOR(h, idx, idx)
			return gridEntries(grid, 8, vecIndices(idx), 4)
		},
		signs: func(w Register, st *gridState, ib int, cs []Op) VecVirtual {
			return memSigns(Mem{Base: w}.Offset(74+4*ib), cs)
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return st.scale(ib) },
	},
	{
		name: "IQ2XXS", dt: "IQ2_XXS", bytes: 66, entry: 8, dmul: &eighth,
		prep: func(w Register, st *gridState) {
			// The aux words (signs and scale) are the odd 32-bit words of qs.
			a, b := YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(2), a)
			VMOVDQU(Mem{Base: w}.Offset(34), b)
			VSHUFPS(U8(0xdd), b, a, a) // aux 0, 1, 4, 5 | 2, 3, 6, 7
			VPERMQ(U8(0xd8), a, a)
			auxSignsScales(a, st)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			return gridEntries(grid, 4, byteIndices(w, 2+8*ib), 8)
		},
		signs: func(w Register, st *gridState, ib int, cs []Op) VecVirtual { return st.signBytes(ib, cs) },
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return st.scale(ib) },
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
			return gridEntries(grid, 4, vecIndices(idx), 8)
		},
		signs: func(w Register, st *gridState, ib int, cs []Op) VecVirtual {
			return memSigns(Mem{Base: w}.Offset(34+4*ib), cs)
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op {
			si := GP64()
			MOVBQZX(Mem{Base: w}.Offset(74+ib), si)
			SHLQ(U8(5), si)
			return Mem{Base: tbl, Index: si, Scale: 1}
		},
	},
	{
		// block_iq1_s: f16 d, qs[32], qh[8] uint16. Sub-block ib: qh = qh[ib], scale
		// 2·(qh >> 12 & 7) + 1, shift ±1 (- where bit 15 is set), entry l of the grid
		// iq1s_grid[qs[4ib+l] | (qh >> 3l & 7) << 8] (bytes -1, 0, 1): values 8·g + shift.
		name: "IQ1S", dt: "IQ1_S", bytes: 50, entry: 8, dmul: &eighth, signed: true,
		prep: func(w Register, st *gridState) {
			v := YMM()
			VPMOVZXWD(Mem{Base: w}.Offset(34), v)
			VPSRLD(U8(12), v, v)
			VPAND(*gSevenD, v, v)
			oddScales(v, st)
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx, h := XMM(), XMM()
			VPMOVZXBD(Mem{Base: w}.Offset(2+4*ib), idx)
			VPBROADCASTW(Mem{Base: w}.Offset(34+2*ib), h)
			VPSLLD(U8(8), h, h)
			VPSRLVD(gIQ1SShift.Offset(0), h, h)
			VPAND(gBits8to10.Offset(0), h, h)
			VPOR(h, idx, idx)
			g := gridEntries(grid, 4, vecIndices(idx), 8)
			e, v, sh := YMM(), YMM(), YMM()
			VMOVDQU(*gEights, e)
			VPSIGNB(g, e, v) // 8·g
			VPBROADCASTW(Mem{Base: w}.Offset(34+2*ib), sh)
			VPSRAW(U8(15), sh, sh)
			VPOR(*gOnesB, sh, sh) // 1, or -1 where bit 15 is set
			VPADDB(sh, v, v)
			return v
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return st.scale(ib) },
	},
	{
		// block_iq1_m: qs[32], qh[16], scales[8] (four uint16: 3-bit scales, and d's f16
		// in their top nibbles). Sub-block ib: v = scales word ib/2 >> 6·(ib%2), the
		// halves' scales 2·(v & 7) + 1 and 2·(v >> 3 & 7) + 1; entry l: qh byte
		// h = qh[2ib + l/2] >> 4·(l%2), index qs[4ib+l] | (h & 7) << 8 of iq1s_grid, shift
		// -1 where h & 8 is set, else 1: values 8·g + shift.
		name: "IQ1M", dt: "IQ1_M", bytes: 56, entry: 8, dmul: &eighth, signed: true,
		dFunc: func(w Register) VecVirtual {
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
			x, d := XMM(), YMM()
			VMOVD(r, x)
			VPBROADCASTW(x, x)
			VCVTPH2PS(x, d)
			return d
		},
		grid: func(w, grid Register, ib int) VecVirtual {
			idx, h := XMM(), XMM()
			VPMOVZXBD(Mem{Base: w}.Offset(4*ib), idx)
			VPBROADCASTW(Mem{Base: w}.Offset(32+2*ib), h)
			VPSLLD(U8(8), h, h)
			VPSRLVD(gIQ1MShift.Offset(0), h, h)
			VPAND(gBits8to10.Offset(0), h, h)
			VPOR(h, idx, idx)
			g := gridEntries(grid, 4, vecIndices(idx), 8)
			e, v, sh := YMM(), YMM(), YMM()
			VMOVDQU(*gEights, e)
			VPSIGNB(g, e, v) // 8·g
			VPBROADCASTW(Mem{Base: w}.Offset(32+2*ib), sh)
			VPSHUFB(*gIQ1MSignShuf, sh, sh)
			VPAND(*gIQ1MSignBit, sh, sh)
			VPCMPEQB(*gIQ1MSignBit, sh, sh)
			VPOR(*gOnesB, sh, sh) // 1, or -1 where the bit is set
			VPADDB(sh, v, v)
			return v
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op {
			// The byte (v & 7) | (v >> 3 & 7) << 4 indexes iq2ScaleTable.
			v, m := GP64(), GP64()
			MOVWQZX(Mem{Base: w}.Offset(48+2*(ib/2)), v)
			if ib%2 == 1 {
				SHRQ(U8(6), v)
			}
			MOVQ(U32(0x77), m)
			PDEPQ(m, v, v)
			SHLQ(U8(5), v)
			return Mem{Base: tbl, Index: v, Scale: 1}
		},
	},
	{
		// block_tq2_0: qs[64], f16 d. Sub-block ib: (qs[32·(ib/4) + m] >> 2·(ib%4) & 3) - 1.
		name: "TQ20", dt: "TQ2_0", bytes: 66, dOff: 64, signed: true,
		grid: func(w, grid Register, ib int) VecVirtual {
			v := YMM()
			VMOVDQU(Mem{Base: w}.Offset(32*(ib/4)), v)
			if ib%4 > 0 {
				VPSRLW(U8(2*(ib%4)), v, v)
			}
			VPAND(*gThrees, v, v)
			VPSUBB(*gOnesB, v, v)
			return v
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return onesW },
	},
	{
		// block_tq1_0: qs[48], qh[4], f16 d: five base-3 digits in each byte of qs, four in
		// each of qh. Weight 32n + m (n < 5) is digit n of qs[m]; 160 + 16n + m digit n of
		// qs[32+m]; 240 + 4n + j digit n of qh[j].
		name: "TQ10", dt: "TQ1_0", bytes: 54, dOff: 52, signed: true,
		grid: func(w, grid Register, ib int) VecVirtual {
			v := YMM()
			switch {
			case ib < 5:
				VMOVDQU(Mem{Base: w}, v)
			case ib < 7:
				VBROADCASTI128(Mem{Base: w}.Offset(32), v)
			default:
				lo, hi := XMM(), XMM()
				VMOVDQU(Mem{Base: w}.Offset(32), lo)
				VPBROADCASTD(Mem{Base: w}.Offset(48), hi)
				VINSERTI128(U8(1), hi, lo.AsY(), v)
			}
			return tq1Digits(v, gTQ1Pow.Offset(32*ib))
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return onesW },
	},
	{
		// block_q8_K: f32 d, qs[256] int8, bsums[16] (not read).
		name: "Q8K", dt: "Q8_K", bytes: 292, dF32: true, signed: true,
		grid: func(w, grid Register, ib int) VecVirtual {
			v := YMM()
			VMOVDQU(Mem{Base: w}.Offset(4+32*ib), v)
			return v
		},
		scale: func(w Register, st *gridState, tbl Register, ib int) Op { return onesW },
	},
}

// byteIndices returns the grid indices of gridEntries: index e is the byte at w+o+e,
// zero-extended.
func byteIndices(w Register, o int) func(e int) Register {
	return func(e int) Register {
		i := GP64()
		MOVBQZX(Mem{Base: w}.Offset(o+e), i)
		return i
	}
}

// vecIndices returns the grid indices of gridEntries: index e is dword e of v (an XMM or
// YMM), two taken out per VMOVQ or VPEXTRQ and split by MOVL and SHRQ.
func vecIndices(v VecVirtual) func(e int) Register {
	var hi Register
	var r GPVirtual
	return func(e int) Register {
		if e%2 == 1 {
			SHRQ(U8(32), r)
			return r
		}
		x := v.AsX()
		if e >= 4 {
			if e == 4 {
				hi = XMM()
				VEXTRACTI128(U8(1), v, hi)
			}
			x = hi
		}
		r = GP64()
		if e%4 == 0 {
			VMOVQ(x, r)
		} else {
			VPEXTRQ(U8(1), x, r)
		}
		lo := GP64()
		MOVL(r.As32(), lo.As32()) // zero-extends
		return lo
	}
}

// gridEntries returns the n grid entries (4 or 8 bytes: entry; n = 32/entry) at the
// indices idx(0..n-1), each index formed just before its load, loaded one by one (VMOVD and
// VPINSRD, or VMOVQ and VPINSRQ) into two XMMs joined by VINSERTI128; AVX2's gathers are slower on Zen 5 (IQ3_XXS 2048×2048: 605 µs
// with VPGATHERDD against 410).
func gridEntries(grid Register, n int, idx func(e int) Register, entry int) VecVirtual {
	per := n / 2
	var x [2]VecVirtual
	for h := 0; h < 2; h++ {
		x[h] = XMM()
		for e := 0; e < per; e++ {
			m := Mem{Base: grid, Index: idx(per*h + e), Scale: uint8(entry)}
			switch {
			case e == 0 && entry == 4:
				VMOVD(m, x[h])
			case e == 0:
				VMOVQ(m, x[h])
			case entry == 4:
				VPINSRD(U8(e), m, x[h], x[h])
			default:
				VPINSRQ(U8(e), m, x[h], x[h])
			}
		}
	}
	g := YMM()
	VINSERTI128(U8(1), x[1], x[0].AsY(), g)
	return g
}

// oddScales keeps 2·v + 1 (v: eight dwords) in st, the result in both 16-bit halves of
// each dword.
func oddScales(v VecVirtual, st *gridState) {
	u := YMM()
	VPADDD(v, v, v)
	VPSLLD(U8(16), v, u)
	VPOR(u, v, v)
	VPOR(gOnesD, v, v)
	st.storeScales(v)
}

// auxSignsScales takes the eight aux words of an IQ3_XXS or IQ2_XXS super-block (in v): bits 7l..7l+6 of word ib index ksigns_iq2xs for the signs of
// weights 8l..8l+7 of sub-block ib, bits 28..31 its scale s. The sign byte is the 7 bits
// and their parity as bit 7 (ksigns_iq2xs[i] = i | parity(i) << 7); the four sign bytes of
// each word are kept in st, and 2s + 1 (oddScales).
func auxSignsScales(v VecVirtual, st *gridState) {
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
	st.storeSigns(s)
	sc := YMM()
	VPSRLD(U8(28), v, sc)
	oddScales(sc, st)
}

// gridSigns ends the sign bytes v (byte j: the byte of the 32-bit sign pattern that
// holds weight j's sign) for VPSIGNB: 127 where the weight is positive, 128..255
// (negative as int8) where negated. cs: gSignShuf, iq2BitSel, iq2Seven7F, as registers
// or memory.
func gridSigns(v VecVirtual, cs []Op) VecVirtual {
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
func gridSuper(g gridKind, w, grid Register, C int, xrow, drow func(c int) Mem, t []VecVirtual, st *gridState, tbl Register, cs []Op) {
	if g.prep != nil {
		g.prep(w, st)
	}
	for ib := 0; ib < 8; ib++ {
		gv := g.grid(w, grid, ib)
		var sg VecVirtual
		if g.signed {
			sg, gv = gv, YMM()
			VPSIGNB(sg, sg, gv) // |v|
		} else {
			sg = gridSigns(g.signs(w, st, ib, cs), cs)
		}
		sc := g.scale(w, st, tbl, ib)
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
	if g.dFunc != nil {
		d = g.dFunc(w)
	} else if g.dF32 {
		VBROADCASTSS(Mem{Base: w}.Offset(g.dOff), d)
	} else {
		VPBROADCASTW(Mem{Base: w}.Offset(g.dOff), d.AsX())
		VCVTPH2PS(d.AsX(), d)
	}
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

// gridSig is the Go signature of kind g's row kernel (no grid parameter without a table).
func gridSig(g gridKind) string {
	if g.entry == 0 {
		return "func(w *byte, xq *int8, xd *float32, nsb int) float32"
	}
	return fmt.Sprintf("func(w *byte, xq *int8, xd *float32, nsb int, grid %s) float32", gridGoType(g))
}

// gridRow: func(w *byte, xq *int8, xd *float32, nsb int, grid *uintNN) float32
// One row of kind g (nsb super-blocks: f16 d first) against a quantized row; gridSuper
// gives the layout and the order of the sums. Each super-block's sum t is multiplied by
// d·dmul into the accumulator acc, whose lanes are added at the end (avoext.HSum8). The
// plain Go twin is dotGridGeneric, in the same order.
func gridRow(g gridKind) {
	name := fmt.Sprintf("dot%sAVX", g.name)
	TEXT(name, NOSPLIT, gridSig(g))
	doc := fmt.Sprintf("%s returns the dot product of nsb %s super-blocks with a row quantized by QuantizeQ8", name, g.dt)
	if g.entry != 0 {
		doc += fmt.Sprintf(" (grid: tensor.%sGrid)", g.name)
	}
	Doc(doc + ".")
	local := AllocLocal(64)
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	var grid Register
	if g.entry != 0 {
		grid = Load(Param("grid"), GP64())
	}
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
	gridSuper(g, w, grid, 1, func(int) Mem { return Mem{Base: xq} }, func(int) Mem { return Mem{Base: xd} }, []VecVirtual{t}, &gridState{local: local, regs: true}, tbl, cs)
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
	doc := fmt.Sprintf("%s writes the dot products of nsb %s super-blocks of one row with %d int8-quantized rows to out[c*os/4]", name, g.dt, C)
	if g.entry != 0 {
		doc += fmt.Sprintf(" (xc: the grid table, tensor.%sGrid)", g.name)
	}
	Doc(doc + ".")
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
		func(c int) Mem { return avoext.RowAt(xd, xds, xds3, c) }, t, &gridState{local: local, regs: C <= 2}, tbl, gridSignConsts(false))
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
