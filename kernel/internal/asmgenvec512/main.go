// Command asmgenvec512 generates the AVX-512 (VNNI, VBMI) matrix-vector kernels of
// package kernel for Q4_0 and Q8_0 weights with avo (github.com/mmcloughlin/avo). Run it
// through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/quantvec512_amd64.s and kernel/quantvec512_stubs_amd64.go.
//
// The kernels compute exactly what the matrix-matrix kernels (AMX tiles, VNNI tiles)
// compute for each output row, so that a sequence's logits do not depend on the batch it
// runs in: per block of 32, in order, the exact int32 sum s = Σ w·x, t = float32(s)·dx
// (one rounding), acc = fma(t, dw, acc).
//
// Each kernel takes R weight rows (R = 1..16, one output row per float lane) against one
// activation row that the Go code has laid out per call in units (4 blocks of 32 for
// Q4_0, 2 for Q8_0). Per unit and row the weights are read with one 64-byte load and one
// small load (the unit is 72 or 68 bytes, not aligned); a byte permutation from the two
// (VPERMT2B) gathers the quantized values. VPDPBUSD multiplies the unsigned weights (Q4_0
// nibbles, 0..15, the high ones shifted down by one VGF2P8AFFINEQB, or Q8_0 bytes with the
// sign bit flipped, w+128) by the signed activations and adds them to an int32 vector that
// starts at the offset correction (-8·Σx or -128·Σx over the values each lane takes), so
// each lane ends as an exact Σ w·x over part of one block. A tree over pairs of rows sums
// the lanes of each block (exact, in any order): for Q4_0 a saturating pack to int16
// (the partial sums fit) and VPMADDWD by ones, for Q8_0 dword and qword interleaves and
// adds; 128-bit shuffles finish it and transpose the result into one int32 vector per
// block whose lane r is row r's block sum. The f16 scales of the rows are gathered by masked byte
// permutations (VPERMI2B) into the same layout. Per block one VCVTDQ2PS, one VMULPS by the
// broadcast dx and one VFMADD231PS with the rows' dw add it to the accumulator. Every unit
// prefetches the two lines of the same unit in the next R rows, which the next call reads.
package main

import (
	"fmt"
	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// maxRows is the largest number of rows of one kernel call (one per float32 lane).
const maxRows = 16

func main() {
	ConstraintExpr("!purego")

	// Q4_0: output byte 16·b+i is nibble byte i of block b (at 18·b+2+i in the unit).
	q4nib := GLOBL("qv512q4nib", RODATA|NOPTR)
	for b := 0; b < 4; b++ {
		for i := 0; i < 16; i++ {
			DATA(16*b+i, U8(18*b+2+i))
		}
	}
	// Q8_0: output byte 32·b+i is value i of block b (at 34·b+2+i in the unit).
	q8val := GLOBL("qv512q8val", RODATA|NOPTR)
	for b := 0; b < 2; b++ {
		for i := 0; i < 32; i++ {
			DATA(32*b+i, U8(34*b+2+i))
		}
	}
	q4grp := grpConsts("q4", 4, 18)
	q8grp := grpConsts("q8", 2, 34)
	// The byte indexes (VPERMI2B) that take the f16 scales of block c of rows 0..7 and
	// 8..15 (128-bit chunk c of the two gathered vectors) to the low 256 bits.
	blk := GLOBL("qv512blk", RODATA|NOPTR)
	for c := 0; c < 4; c++ {
		for i := 0; i < 64; i++ {
			v := 0
			switch {
			case i < 16:
				v = 16*c + i
			case i < 32:
				v = 64 + 16*c + i - 16
			}
			DATA(64*c+i, U8(v))
		}
	}
	for r := 1; r <= maxRows; r++ {
		kernel(true, r, q4nib, q4grp, blk)
	}
	for r := 1; r <= maxRows; r++ {
		kernel(false, r, q8val, q8grp, blk)
	}
	Generate()
}

// grpConsts returns the byte indexes (for VPERMI2B, the first table row 2p', the second
// row 2p'+1 of a group of 8) that put the f16 scale of block c (of bb bytes) of row r' of
// 8 at word 8c+r'.
func grpConsts(tn string, bpu, bb int) Mem {
	grp := GLOBL("qv512"+tn+"grp", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		v := 0
		if c := i / 16; c < bpu {
			r, h := i%16/2, i%2
			v = 64*(r%2) + bb*c + h
		}
		DATA(i, U8(v))
	}
	return grp
}

// vgf2p8affineqb emits VGF2P8AFFINEQB (not in avo v0.5.0): each byte of x times the 8×8
// bit matrix of the corresponding qword of m (the imm8 constant 0).
func vgf2p8affineqb(m, x, dst Register) {
	Instruction(&ir.Instruction{
		Opcode:   "VGF2P8AFFINEQB",
		Operands: []Op{U8(0), m, x, dst},
		Inputs:   []Op{m, x},
		Outputs:  []Op{dst},
		ISA:      []string{"GFNI", "AVX512F"},
	})
}

// kernel: func(w *byte, ws int, xl *byte, nu int, tmask uint64, out *float32)
// R rows of Q4_0 (q4) or Q8_0 weights starting at w (stride ws bytes) against an
// activation row laid out by the Go code: nu full units, then, where tmask ≠ 0, one
// partial unit whose weight bytes are those set in tmask (the layout is zero past the
// last block). Writes the R dot products to out[0..R).
//
// Activation layout per unit: Q4_0 (4 blocks, 256 bytes): x of elements 0..15 of each
// block (64 bytes), of elements 16..31 (64 bytes), 16 int32 corrections -8·Σx over the 8
// values of each lane, the 4 float32 dx, zeros; Q8_0 (2 blocks, 192 bytes): the 64 x, 16
// int32 corrections -128·Σx over 4 values, the 2 float32 dx, zeros.
//
// Lane l of a row's int32 vector holds part of block l/4 (Q4_0) or l/8 (Q8_0). The
// reduction pairs rows 2j, 2j+1 and then those pairs, so that lane 4c+q of a group of 4
// rows holds row q's sum over the lanes of 128-bit chunk c; 128-bit shuffles finish the
// block sums (Q8_0: two chunks per block) and transpose them to lanes = rows. The f16
// scales of rows 0..7 and 8..15 are gathered (four masked VPERMI2B each, one per pair of
// rows) at word 8c+r', and one VPERMI2B per block takes its 16 to the low half.
//
// Every unit prefetches, row by row, the lines of the same unit of the next call's rows.
func kernel(q4 bool, R int, valIdx, grpIdx, blkIdx Mem) {
	tn, ub, xb, bpu := "Q8_0", 68, 192, 2
	if q4 {
		tn, ub, xb, bpu = "Q4_0", 72, 256, 4
	}
	corrOff, dxOff := xb-128, xb-64
	name := fmt.Sprintf("qv512%s_%d", tn, R)
	TEXT(name, NOSPLIT, "func(w *byte, ws int, xl *byte, nu int, tmask uint64, out *float32)")
	Doc(fmt.Sprintf("%s writes the dot products of %d %s rows (stride ws bytes) with one activation row laid out by qv512Prep (nu full units, then a partial one with the weight bytes of tmask) to out[0..%d).", name, R, tn, R))

	// Rows 8h+q are at base[h] + q·ws: q·ws from an index register (ws, 3ws, 5ws, 7ws)
	// times a scale.
	var base, pfb [2]Register
	base[0] = Load(Param("w"), GP64())
	ws := Load(Param("ws"), GP64())
	var ws3, ws5, ws7 GPVirtual
	if R > 3 {
		ws3 = GP64()
		LEAQ(Mem{Base: ws, Index: ws, Scale: 2}, ws3)
	}
	if R > 5 {
		ws5 = GP64()
		LEAQ(Mem{Base: ws, Index: ws, Scale: 4}, ws5)
	}
	if R > 7 {
		ws7 = GP64()
		LEAQ(Mem{Base: ws3, Index: ws, Scale: 4}, ws7)
	}
	if R > 8 {
		base[1] = GP64()
		LEAQ(Mem{Base: base[0], Index: ws, Scale: 8}, base[1])
	}
	// pfb: where the next call (the next R rows) reads.
	t := GP64()
	IMUL3Q(U32(R), ws, t)
	for h := 0; h < 2 && 8*h < R; h++ {
		pfb[h] = GP64()
		LEAQ(Mem{Base: base[h], Index: t, Scale: 1}, pfb[h])
	}
	rowMem := func(b [2]Register, r, disp int) Mem {
		m := Mem{Base: b[r/8], Disp: disp}
		switch r % 8 {
		case 1:
			m.Index, m.Scale = ws, 1
		case 2:
			m.Index, m.Scale = ws, 2
		case 3:
			m.Index, m.Scale = ws3, 1
		case 4:
			m.Index, m.Scale = ws, 4
		case 5:
			m.Index, m.Scale = ws5, 1
		case 6:
			m.Index, m.Scale = ws3, 2
		case 7:
			m.Index, m.Scale = ws7, 1
		}
		return m
	}
	xl := Load(Param("xl"), GP64())
	nu := Load(Param("nu"), GP64())

	vidx := ZMM()
	VMOVDQU64(valIdx, vidx)
	// kg[p']: the bytes of rows 2p', 2p'+1 (of 8) in the gathered scales.
	var kg [4]OpmaskVirtual
	g := GP64()
	for p := 0; p < 4 && 2*p < R; p++ {
		var m uint64
		for c := 0; c < bpu; c++ {
			m |= 0xf << (16*c + 4*p)
		}
		kg[p] = K()
		MOVQ(U64(m), g)
		KMOVQ(g, kg[p])
	}
	var ones VecVirtual // Q4_0: int16 1 in every word
	if q4 {
		ones = ZMM()
		MOVL(U32(0x00010001), g.As32())
		VPBROADCASTD(g.As32(), ones)
	}
	cst := ZMM() // low4 (Q4_0) or 0x80 (Q8_0) in every byte
	if q4 {
		MOVL(U32(0x0f0f0f0f), g.As32())
	} else {
		MOVL(U32(0x80808080), g.As32())
	}
	VPBROADCASTD(g.As32(), cst)
	var shr4 VecVirtual // the bit matrix of a byte shift right by 4 (Q4_0 high nibbles)
	if q4 {
		shr4 = ZMM()
		MOVQ(U64(0x1020408000000000), g)
		VPBROADCASTQ(g, shr4)
	}
	acc := ZMM()
	VPXORD(acc, acc, acc)

	// load reads the first 64 bytes of row r's unit (k: only the bytes in k, zero-masked).
	load := func(r int, k Register) VecVirtual {
		raw := ZMM()
		if k == nil {
			// Both lines the unit of row r of the next call may touch (units of 72 or 68
			// bytes skip a line now and then).
			PREFETCHT0(rowMem(pfb, r, 0))
			PREFETCHT0(rowMem(pfb, r, 64))
			VMOVDQU64(rowMem(base, r, 0), raw)
		} else {
			VMOVDQU8_Z(rowMem(base, r, 0), k, raw)
		}
		return raw
	}
	// dot reads the rest of row r's unit (none in the partial unit), permutes its
	// quantized bytes (destroying raw) and returns its exact partial sums Σ w·x.
	dot := func(r int, k Register, raw VecVirtual) VecVirtual {
		d, t2 := ZMM(), ZMM()
		switch {
		case k != nil:
			VPXORD(t2, t2, t2)
		case q4:
			VMOVQ(rowMem(base, r, 64), t2.AsX())
		default:
			VMOVD(rowMem(base, r, 64), t2.AsX())
		}
		VPERMT2B(t2, vidx, raw) // the unit's quantized bytes
		VMOVDQU64(Mem{Base: xl}.Offset(corrOff), d)
		if q4 {
			hi, lo := ZMM(), ZMM()
			vgf2p8affineqb(shr4, raw, hi)
			VPANDD(cst, raw, lo)
			avoext.VPDPBUSD(Mem{Base: xl}, lo, d)
			avoext.VPDPBUSD(Mem{Base: xl}.Offset(64), hi, d)
		} else {
			VPXORD(cst, raw, raw)
			avoext.VPDPBUSD(Mem{Base: xl}, raw, d)
		}
		return d
	}
	// pair adds neighbouring lanes of a and b (level lvl 0: single rows, 1: pairs of
	// rows; b nil: a in both places): per 128-bit chunk, lvl 0 gives a's two pair sums
	// and b's in lanes (Q8_0: 0, 2 and 1, 3; Q4_0: 0, 1 and 2, 3), lvl 1 the chunk sums
	// of the four rows in lanes 0..3.
	pair := func(a, b VecVirtual, lvl int) VecVirtual {
		if b == nil {
			b = a
		}
		if q4 {
			// The lanes of a Q4_0 row hold |Σ8 (n-8)·x| ≤ 8192, pairs of them ≤ 16384:
			// they fit int16, so one saturating pack (exact here) and one VPMADDWD by
			// ones add neighbours: per chunk, a's two pair sums, then b's.
			y := ZMM()
			VPACKSSDW(b, a, y)
			VPMADDWD(ones, y, y)
			return y
		}
		// Interleave a and b by dwords (s = 1) or qwords (s = 2) within each chunk and
		// add the low and high halves: lane i gets a[i']+a[i'+2] (s = 1: the lanes of
		// the pair; s = 2: both pair sums of a row of the pair) where bit s is clear.
		lo, hi := ZMM(), ZMM()
		if lvl == 0 {
			VPUNPCKLDQ(b, a, lo)
			VPUNPCKHDQ(b, a, hi)
		} else {
			VPUNPCKLQDQ(b, a, lo)
			VPUNPCKHQDQ(b, a, hi)
		}
		VPADDD(hi, lo, lo)
		return lo
	}
	unit := func(k Register) {
		var sc [2]VecVirtual // the f16 scales of rows 0..7 and 8..15, word 8c+r'
		for h := 0; h < 2 && 8*h < R; h++ {
			sc[h] = ZMM()
			VMOVDQU64(grpIdx, sc[h])
		}
		// quads[j]: lane 4c+q holds row 4j+q's sum over the lanes of chunk c.
		var quads [4]VecVirtual
		for j := 0; j < 4 && 4*j < R; j++ {
			var prs [2]VecVirtual
			for pp := 0; pp < 2 && 4*j+2*pp < R; pp++ {
				p := 2*j + pp
				r0, r1 := 2*p, 2*p+1
				raw0 := load(r0, k)
				raw1 := load(min(r1, R-1), k)
				VPERMI2B(raw1, raw0, kg[p%4], sc[p/4])
				d0 := dot(r0, k, raw0)
				var d1 VecVirtual
				if r1 < R {
					d1 = dot(r1, k, raw1)
				}
				prs[pp] = pair(d0, d1, 0)
			}
			quads[j] = pair(prs[0], prs[1], 1)
		}
		for j := range quads {
			if quads[j] == nil {
				quads[j] = quads[0]
			}
		}
		if sc[1] == nil {
			sc[1] = sc[0]
		}
		var blks [4]VecVirtual // int32 block sums, lane = row
		if q4 {
			// Transpose the 4×4 chunks of the quads.
			var u [4]VecVirtual
			for i := range u {
				u[i] = ZMM()
				imm := U8(0x44)
				if i%2 == 1 {
					imm = 0xee
				}
				VSHUFI32X4(imm, quads[i/2*2+1], quads[i/2*2], u[i])
			}
			for c := range blks {
				blks[c] = ZMM()
				imm := U8(0x88)
				if c%2 == 1 {
					imm = 0xdd
				}
				VSHUFI32X4(imm, u[c/2+2], u[c/2], blks[c])
			}
		} else {
			// Chunks 2c, 2c+1 are the halves of block c: add them, then transpose.
			var oct [2]VecVirtual
			for h := range oct {
				a, b := quads[2*h], quads[2*h+1]
				e, o := ZMM(), ZMM()
				VSHUFI32X4(U8(0x88), b, a, e)
				VSHUFI32X4(U8(0xdd), b, a, o)
				VPADDD(o, e, e)
				oct[h] = e // chunks: a's block 0, 1, b's block 0, 1
			}
			for c := 0; c < 2; c++ {
				blks[c] = ZMM()
				imm := U8(0x88)
				if c == 1 {
					imm = 0xdd
				}
				VSHUFI32X4(imm, oct[1], oct[0], blks[c])
			}
		}
		for c := 0; c < bpu; c++ {
			dw := ZMM()
			VMOVDQU64(blkIdx.Offset(64*c), dw)
			VPERMI2B(sc[1], sc[0], dw)
			VCVTPH2PS(dw.AsY(), dw)
			VCVTDQ2PS(blks[c], blks[c])
			VMULPS_BCST(Mem{Base: xl}.Offset(dxOff+4*c), blks[c], blks[c])
			VFMADD231PS(dw, blks[c], acc)
		}
	}

	TESTQ(nu, nu)
	JZ(LabelRef("tail"))
	Label("loop")
	unit(nil)
	for h := 0; h < 2 && 8*h < R; h++ {
		ADDQ(U8(ub), base[h])
		ADDQ(U8(ub), pfb[h])
	}
	ADDQ(U32(xb), xl)
	DECQ(nu)
	JNZ(LabelRef("loop"))

	Label("tail")
	tm := Load(Param("tmask"), GP64())
	TESTQ(tm, tm)
	JZ(LabelRef("done"))
	k := K()
	KMOVQ(tm, k)
	unit(k)

	Label("done")
	o := Load(Param("out"), GP64())
	if R == maxRows {
		VMOVUPS(acc, Mem{Base: o})
	} else {
		ko := K()
		MOVL(U32(1<<R-1), g.As32())
		KMOVW(g.As32(), ko)
		VMOVUPS(acc, ko, Mem{Base: o})
	}
	VZEROUPPER()
	RET()
}
