package kernel

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/decilm/decilm/tensor"
)

// IQ2_XS on AVX-512 VNNI CPUs, every number of activation rows (issue 16). The rows are
// stored as llama-quantize writes them (block_iq2_xs, 74 bytes a super-block of 256: f16
// d, 32 uint16 = 9-bit index into the 512-entry grid of 8 magnitudes in {8, 25, 43} plus
// a 7-bit sign index, 8 bytes of 4-bit scales: weight = d·(2s+1)/8 · ±grid). With several
// activation rows, 8 weight rows' piece of kp512KB super-blocks is decoded once into the
// q6KPBlock format (iq2XSUnpack8: unsigned u = w + 64 in 21..107, the half scales 2s+1 as
// int16, d/8 as float32) and two such pieces are multiplied with all activation rows by
// the Q6_K VNNI tiles (kp512Q6KTile, 16 rows × kp512Q6KC activation rows, VPDPBUSD), whose sums
// start at -64·Σx of their 16 activations (iq2XSPrep) so that they come out as Σ w·x.
// With one activation row dotIQ2XS32AVX512 decodes in registers. Both sum each output
// row block after block (b the block of 32, Σ exact in int32, |T_b| < 2^24):
//
//	T_b = (2s_lo+1)·Σ_lo w·x + (2s_hi+1)·Σ_hi w·x
//	acc = float32(T_b)·((d/8)·dx_b) + acc
//
// (the product in parentheses rounded once, "+ acc" one fused multiply-add), so a row's
// result is the same bits for any m. CPUs with AVX2 but not AVX-512 VNNI sum in this
// order too (iq2xsavx2.go); those without AVX2 (or BMI2) keep the unpacked rows.
// dotIQ2XS32Generic is the plain version of this order.
//
// With one activation row dotIQ2XS32x2AVX512 takes two weight rows a call (their two
// chains in lanes 0 and 1 of one register; dotIQ2XS32AVX512 the odd last row).
//
// Why this order and this tile: the old order (per 4 values: int sum × (2s+1), convert,
// FMA into 8 lanes) costs a convert and an FMA per 4 values and 16 rows; the block-of-32
// order is exact in int32 and is the Q6_K tile's, whose q6KPBlock format takes IQ2_XS's
// values once offset by 64 (|w| ≤ 43), so no new tile was needed. Not kept: one
// VPGATHERQQ for the 8 grid entries of the unpacker (20-22 ns a row super-block against
// 13 with BMI's BZHI/BEXTR and scalar loads); dotIQ2XS32AVX512 alone for m = 1 (13.7 ns
// a row super-block against the old kernel's 12.1: the two-row kernel gives 12.0).
//
// Measured (BenchmarkIQ2XSVNNI, -cpu 1 -count 5 -benchtime 20x, one thread, medians of
// cpu-GFLOP/s from the thread's CPU time, Zen 5 shared by several processes, load about
// 6 on 2 vCPUs: rough), this path / the kernels it replaces (dotIQ2XSAVX512, the AVX2 1×4
// tiles) / Q4_0 on its own path (qv512MatVec, q512mm), in the same run:
//
//	              m=1                m=16                m=128
//	5632×2048     42.2 / 42.7 / 169  154 / 70 / 280      300 / 72 / 410
//	2048×5632     41.9 / 45.5 / 121  155 / 73 / 313      280 / 69 / 419
//
// and again with main's Q6_K tiles at C = 8 (load 5-6): m=1 41.1 / 41.9 / 133 and
// 25.3 / 29.8 / 134, m=16 214 / 68 / 217 and 138 / 53 / 320, m=128 299 / 59 / 339 and
// 264 / 56 / 428. The one-row kernels alone, thread CPU ns per row super-block, six
// interleaved rounds at 2048×5632: dotIQ2XSAVX512 11.1, dotIQ2XS32AVX512 13.0, the two-row
// kernel 11.8 (at 5632×2048 within the noise of the old one): m = 1 costs 0-7% more.
//
// The unpacker alone (BenchmarkIQ2XSUnpack): 13.6 thread-CPU ns per row super-block, about
// a third of the m = 16 time; the tiles take the rest.
//
// Issue 16, second round: in the 16-sequence run (decilm bench -p 0 -n 32 -b 16, 2 threads)
// the unpacker took 38% of the profile (4.7 s against the tile's 2.1 s), 3.6× its L2-resident
// benchmark cost: it is where the weights are first read, and it waited on them. Now
// iq2XSTiles (kp512PieceRows) walks each 16 rows' super-blocks in order (j outer, s0 inner: each output still
// sums its super-blocks in order, so the bits are unchanged), the unpackers prefetch the
// rows' next piece (iq2XSUnpackVBMI, at a row's last piece, the rows 16 on), and on CPUs with
// AVX-512 VBMI iq2XSUnpackVBMI decodes without scalar grid loads (iq2XSCodes looked up 32
// at a time in vectors). In the same profile afterwards (rough, load 3-4): unpacker 2.1 s
// (21% + 3% in its Go wrapper), tiles 2.1 s, Q2_K 0.25 s, Q4_K tiles 0.3 s, attention
// 1.0 s of both runs. BenchmarkIQ2XSUnpack (L2-resident, -cpu 1 -count 5, medians, load
// 4-6): iq2XSUnpackVBMI 15.6 against iq2XSUnpackAVX512's 19.0 ns per row super-block (12.2
// against 11.4 without the transposes: noisy). BenchmarkIQ2XSVNNI m = 16 cpu-GFLOP/s
// medians, same run, this path / the same with iq2XSUnpackAVX512 / the AVX2 tiles / Q4_0:
// 5632×2048 257 / 247 / 73 / 339, 2048×5632 253 / 242 / 74 / 374. End to end, 16 sequences
// (-p 0 -n 32 -b 16 -r 1, load about 3, wall t/s of the x16 line, the whole process's user
// CPU s), main before / this / Q4_0, twice one after the other: 71.6 / 81.2 / 112.3 t/s
// (9.72 / 8.57 / 6.01 s) and 75.7 / 85.6 / 112.0 t/s (8.96 / 8.20 / 5.98 s): 0.72-0.76 of
// Q4_0 against 0.64-0.68 before.
//
// End to end (decilm bench, 1b-iq2_xs.gguf: IQ2_XS but attn_v Q4_K, two ffn_down Q2_K,
// output Q5_K; --threads 2, load 5-7 on the 2 vCPUs: wall t/s meaningless), the process's
// user CPU seconds (/usr/bin/time) less a run that only loads the model, main / this path /
// Q4_0 (1b-q4_0.gguf), run one after the other: pp128 four times (-p 128 -n 0 -r 3) 16.0 /
// 3.85 / 2.65; 16 sequences of 32 tokens twice (-p 0 -n 32 -b 16 less half of -b 1 -r 3)
// 16.6 / 6.6 / 4.6; tg32 four times (-p 0 -n 32 -r 3) 5.46 / 5.49 / 2.88. So prefill costs
// 1.45× Q4_0's CPU time and batches 1.44× (the 25% is 1.33×). Again with main's
// C = 8 tiles (load 4.5-5.5): pp128 4.09 against Q4_0's 2.88 (1.42×), 16 sequences 7.2
// against 4.2, tg32 6.52 against 2.70 (CPU seconds under load vary by ±20%).

// dotIQ2XS32Vec is the one-row kernel of the VNNI order (nil where the CPU lacks AVX-512
// F, BW, VL and VNNI: kquant_amd64.go).
var dotIQ2XS32Vec func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32

// dotIQ2XS32x2Vec writes the products of the two rows at w and w+ws to out[0], out[1] as
// dotIQ2XS32Vec computes each (dotIQ2XS32x2AVX512; nil where dotIQ2XS32Vec is).
var dotIQ2XS32x2Vec func(w *byte, ws int, xq *int8, xd *float32, nsb int, grid *uint64, out *float32)

// iq2XSVNNIOn reports whether IQ2_XS takes the VNNI order: dotIQ2XS32AVX512 for one
// activation row, the kp512 Q6_K tiles for several.
func iq2XSVNNIOn() bool { return dotIQ2XS32Vec != nil && kp512Q6KTiles != nil }

// dotIQ2XS32Generic is the plain version of dotIQ2XS32AVX512 and of the tile path: w holds
// nsb block_iq2_xs, xq and xd a row quantized by QuantizeQ8; each block of 32 gives the
// exact T_b above and acc = fmaF32(float32(T_b), (d/8)·dx_b, acc), block after block.
func dotIQ2XS32Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	u := make([]int8, 256)
	sc, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(tensor.IQ2_XS)
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*74 : sb*74+74]
		unpack(u, sc, mn, blk) // the signed grid values; the scales are formed below
		d8 := f16At(blk, 0) * 0.125
		for ib := 0; ib < 8; ib++ {
			var t int32
			for h := 0; h < 2; h++ {
				s := 2*int32(blk[66+ib]>>(4*h)&15) + 1
				var isum int32
				for e := 16 * h; e < 16*h+16; e++ {
					isum += int32(u[32*ib+e]) * int32(xq[256*sb+32*ib+e])
				}
				t += s * isum
			}
			acc = fmaF32(float32(t), d8*xd[8*sb+ib], acc)
		}
	}
	return acc
}

// iq2XSTables are the decoding tables of iq2XSUnpack8: for each grid index the 8 bytes
// 64 + g and 64 - g, and for each 7-bit sign index the 8-byte mask (0xff where the weight
// is negative: bit e of the index, and for e = 7 the parity of the 7 bits).
var iq2XSPos, iq2XSNeg, iq2XSSign = func() (p, n [512]uint64, s [128]uint64) {
	grid := tensor.IQ2XSGrid()
	for i, g := range grid {
		for e := 0; e < 8; e++ {
			v := g >> (8 * e) & 0xff
			p[i] |= (64 + v) << (8 * e)
			n[i] |= (64 - v) << (8 * e)
		}
	}
	for i := range s {
		b := uint64(i) | uint64(bits.OnesCount8(uint8(i))&1)<<7
		for e := 0; e < 8; e++ {
			if b>>e&1 != 0 {
				s[i] |= 0xff << (8 * e)
			}
		}
	}
	return
}()

// iq2XSUnpack8 decodes super-blocks s0..s0+sc-1 of weight rows j..j+rows-1 (rows ≤ 8; row
// r at data[(j+r)·rs:]) into dst in the q6KPBlock format, row r in lane r (lanes rows..7
// are left as they were): per block of 32, value e of row r at byte 32·(e/4) + 4r + e%4 as
// u = w + 64, at 256 + 4r the low half's scale 2s+1 as int16 twice, at 288 + 4r the high
// half's twice, at 320 + 4r the two, and at 352 + 4r d/8 as float32.
func iq2XSUnpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*74 : (s0+s)*74+74]
			d8 := math.Float32bits(f16At(blk, 0) * 0.125)
			for ib := 0; ib < 8; ib++ {
				o := dst[(8*s+ib)*q6KPBlock : (8*s+ib+1)*q6KPBlock]
				for l := 0; l < 4; l++ {
					q := le.Uint16(blk[2+8*ib+2*l:])
					m := iq2XSSign[q>>9]
					v := iq2XSPos[q&511]&^m | iq2XSNeg[q&511]&m
					le.PutUint32(o[64*l+4*r:], uint32(v))
					le.PutUint32(o[64*l+32+4*r:], uint32(v>>32))
				}
				lo, hi := uint32(2*(blk[66+ib]&15)+1), uint32(2*(blk[66+ib]>>4)+1)
				le.PutUint32(o[256+4*r:], lo|lo<<16)
				le.PutUint32(o[288+4*r:], hi|hi<<16)
				le.PutUint32(o[320+4*r:], lo|hi<<16)
				le.PutUint32(o[352+4*r:], d8)
			}
		}
	}
}

// iq2XSUnpack is the unpacker the tile path calls, with iq2XSUnpack8's arguments:
// iq2XSUnpack8, or where there is one its assembly version (iq2XSUnpack8Asm), which
// writes lanes rows..7 too.
var iq2XSUnpack = iq2XSUnpack8

// iq2XSUnpackVec is the assembly unpacker (iq2XSUnpackAVX512: nil without AVX-512).
var iq2XSUnpackVec func(dst, w *byte, off *int64, nsb int, grid *uint64)

// iq2XSUnpack8Asm is iq2XSUnpack8 on iq2XSUnpackVec, which always decodes 8 rows: lanes
// rows..7 get copies of row rows-1 (they are not read back).
func iq2XSUnpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q6KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*74-1]
	iq2XSUnpackVec(&dst[0], &data[j*rs+s0*74], &off[0], sc, &tensor.IQ2XSGrid()[0])
}

// iq2XSCodes is the IQ2_XS grid for iq2XSUnpackVBMI: entry i's 8 magnitudes {8, 25, 43}
// as two-bit codes 0, 1, 2, magnitude e in bits 2e, 2e+1.
var iq2XSCodes = func() (c [512]uint16) {
	for i, g := range tensor.IQ2XSGrid() {
		for e := 0; e < 8; e++ {
			var v uint16
			switch g >> (8 * e) & 0xff {
			case 25:
				v = 1
			case 43:
				v = 2
			}
			c[i] |= v << (2 * e)
		}
	}
	return
}()

// iq2XSUnpackVBMIVec is the VBMI assembly unpacker (iq2XSUnpackVBMI: nil without AVX-512
// VBMI), iq2XSUnpackVec's work without scalar grid loads.
var iq2XSUnpackVBMIVec func(dst, w *byte, off *int64, nsb int, codes *uint16, pf int)

// iq2XSUnpack8VBMI is iq2XSUnpack8Asm on iq2XSUnpackVBMIVec (lanes rows..7 get copies of
// row rows-1). It has the rows' next piece prefetched, or where this is the rows' last
// the first piece of the rows 16 on (kp512PieceRows' order); prefetches past the data are
// harmless.
func iq2XSUnpack8VBMI(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q6KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*74-1]
	pf := sc * 74
	if (s0+sc)*74 >= rs {
		pf = 16*rs - s0*74
	}
	iq2XSUnpackVBMIVec(&dst[0], &data[j*rs+s0*74], &off[0], sc, &iq2XSCodes[0], pf)
}

// iq2XSPrep lays out the m activation rows quantized in s for the Q6_K tiles
// (kp512PrepX, C rows a call) with each half block's sum start -64·Σx instead of the
// -32·Σx it writes for Q6_K.
func (p *Pool) iq2XSPrep(xp []byte, s *quantScratch, m, nb, C int) {
	p.kp512Prep(xp, s.q, s.d, nil, m, nb, C)
	for o := 0; o < len(xp); o += kp512Q6KRow {
		e := xp[o+36 : o+44]
		binary.LittleEndian.PutUint32(e, 2*binary.LittleEndian.Uint32(e))
		binary.LittleEndian.PutUint32(e[4:], 2*binary.LittleEndian.Uint32(e[4:]))
	}
}

// matMulIQ2XS512 is MatMul for IQ2_XS weights (n rows of rs bytes, k values) in the VNNI
// order, on x quantized into s.
func (p *Pool) matMulIQ2XS512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	nsb := k / 256
	grid := &tensor.IQ2XSGrid()[0]
	if m == 1 {
		p.runGrain(n, 4, func(lo, hi int) {
			j := lo
			if dotIQ2XS32x2Vec != nil {
				for ; j+2 <= hi; j += 2 {
					dotIQ2XS32x2Vec(&data[j*rs], rs, &s.q[0], &s.d[0], nsb, grid, &out[j])
				}
			}
			for ; j < hi; j++ {
				out[j] = dotIQ2XS32Vec(&data[j*rs], &s.q[0], &s.d[0], nsb, grid)
			}
		})
		return
	}
	p.iq2XSTiles(out, s, m, n, k, data, rs, kp512Q6KTiles, kp512Q6KC, iq2XSUnpack)
}

// iq2XSTiles multiplies the m activation rows quantized in s, laid out by iq2XSPrep, with
// the n rows of data (rs bytes each: IQ2_XS, or another type unpack decodes into the
// q6KPBlock format, iqgrid.go and iq1.go) by the Q6_K tiles (C activation rows a call:
// the AVX-512 VNNI kp512Q6KTiles or the AVX-VNNI vnniQ6KTiles) on pieces decoded by unpack
// (kp512PieceRows), overwriting out.
func (p *Pool) iq2XSTiles(out []float32, s *quantScratch, m, n, k int, data []byte, rs int, tiles []kp512TileFn, C int, unpack func(dst, data []byte, rs, j, rows, s0, sc int)) {
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*kp512Q6KRow)
	p.iq2XSPrep(xp, s, m, nb, C)
	p.kp512PieceRows(out, m, n, k, data, rs, xp, tiles, C, kp512Q6KRow, unpack)
}
