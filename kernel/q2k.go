package kernel

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Q2_K on AVX-512 VNNI CPUs, every number of activation rows (issue 16 item 1). The rows
// are stored as llama-quantize writes them (block_q2_K, 84 bytes a super-block of 256: 16
// scale bytes, sc_g in the low nibble and m_g in the high one for group g of 16 values,
// 64 bytes of 2-bit q, f16 d and dmin: weight = d·sc_g·q - dmin·m_g). 8 weight rows'
// pieces of kp512KB super-blocks are decoded by q2KUnpack (q2KUnpack512) into the
// q2KPBlock format (u = sc·q in 0..45, so that one block of 32's sum is one run of
// VPDPBUSD; the two halves' mins as int16; d and dmin as float32) and two such pieces
// multiplied with the activation rows by the tiles q2KTile512x1..8 (16 rows a zmm,
// q2KC activation rows a call); one activation row is multiplied by q2KDot8AVX512, in the
// same order. Each output sums its blocks of 32 in order (b the block, exact in int32):
//
//	T_b = Σ (sc·q)·x,  M_b = m_lo·Σ_lo x + m_hi·Σ_hi x
//	y = float32(T_b)·d,  y = -(float32(M_b)·dmin) + y,  acc = y·dx_b + acc
//
// (the product rounded once, each "+" one fused multiply-add; |T_b| ≤ 32·45·128 and
// |M_b| ≤ 2·15·2048, exact in float32), so a row's result is the same bits for any m.
// dotQ2K32Generic is the plain version of this order. CPUs without AVX-512 VNNI keep
// dotQ2KAVX / dotQ2KAVX512 and the AVX2 1×4 tiles, in their order (dotQ2KGeneric).
//
// One activation row: q2KDot8AVX512 takes 8 weight rows a call straight from their
// blocks (no decoded copy): per row and pair of blocks one VPDPBUSD of the 2-bit q with
// the 64 activations, the pairs folded into the 16 groups' sums, times the scales (one
// VPMULLD) and added in pairs into T_0..T_7 (the same integers), the mins' sums by one
// VPMADDWD, y_b in 8 lanes; the 8 rows' y are transposed so that the chain acc = y_b·dx_b + acc runs with
// the rows in 8 lanes (one row's chain alone would be bound by the FMA latency).
//
// Why this order: the old one (per 4 values an int sum times the scale, converted and
// added in one of 8 float lanes per row) costs a conversion and a multiply-add per 4
// values and row; here per block and 16 rows it is 8 VPDPBUSD, one VPMADDWD and 5 float
// operations, as the Q6_K tile's. Not kept: m = 1 through the decoder and q2KTile512x1
// (36-48 cpu-GFLOP/s against the old kernel's 71-73: the decoder alone is 7.3 ns a row
// super-block, as much as the whole old one-row kernel).
//
// Measured (BenchmarkQ2KVNNI, -cpu 1 -count 5 -benchtime 20x, one thread, medians of
// cpu-GFLOP/s from the thread's CPU time, Zen 5 shared by several processes, load 7-9 on
// 2 vCPUs: rough), this path / the kernels it replaces (dotQ2KAVX512 for m = 1, the AVX2
// 1×4 tiles) / Q4_0 on its own path (qv512MatVec, q512mm), in the same run:
//
//	              m=1                  m=16                 m=128
//	5632×2048     95.6 / 77.8 / 193    317 / 112 / 357      420 / 104 / 439
//	2048×5632     100 / 81.2 / 141     326 / 110 / 328      387 / 108 / 425
//
// (an earlier run at load ~5, before the row kernel's group fold: m = 1 82.3 / 75.0 and
// 81.0 / 75.0, m = 16 338 / 108 and 312 / 105, m = 128 424 / 109 and 419 / 113.)
// BenchmarkQ2KUnpack (L2-resident, same conditions): q2KUnpack512 7.3 thread-CPU ns per
// row super-block, q2KUnpack8 (plain Go) 575.

// q2KPBlock is the bytes of one block of 32 of 8 rows in the q2KPBlock format (as
// q6KPBlock, so that two pieces fill a kpBufPool buffer); q2KXRow the bytes of one
// activation row's block laid out by q2KPrep; q2KC the activation rows a tile call takes.
// The q2KPBlock format has q6KPBlock's size, so that both take kp512PieceRows' buffers.
var _ = [1]struct{}{}[q2KPBlock-q6KPBlock]

const (
	q2KPBlock = 384
	q2KXRow   = 40
	q2KC      = 8
)

// q2KTiles512 are the tiles, [c] for c activation rows, and q2KUnpackVec the assembly
// decoder (nil where the CPU lacks AVX-512 F, BW, VL and VNNI: q2k_amd64.go).
var (
	q2KTiles512  []kp512TileFn
	q2KUnpackVec func(dst, w *byte, off *int64, nsb int)
	// q2KDot8Vec is the one-activation-row kernel (q2KDot8AVX512: 8 weight rows a call,
	// row r at w + off[r]; xs each block's (Σ_lo x, Σ_hi x) as two int16), in the tiles'
	// order; nil where the tiles are.
	q2KDot8Vec func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
)

// q2KVNNIOn reports whether Q2_K takes the VNNI order (q2KRows) for every m.
func q2KVNNIOn() bool { return q2KTiles512 != nil && q2KUnpackVec != nil }

// dotQ2K32Generic is the plain version of the VNNI order: w holds nsb block_q2_K, xq and
// xd a row quantized by QuantizeQ8.
func dotQ2K32Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*84 : sb*84+84]
		d, dmin := f16At(blk, 80), f16At(blk, 82)
		for j := 0; j < 8; j++ {
			var t, mm int32
			for h := 0; h < 2; h++ {
				g := 2*j + h
				sc, mn := int32(blk[g]&15), int32(blk[g]>>4)
				var qx, sx int32
				for e := 16 * h; e < 16*h+16; e++ {
					q := int32(blk[16+32*(j/4)+e] >> (2 * (j % 4)) & 3)
					x := int32(xq[256*sb+32*j+e])
					qx += q * x
					sx += x
				}
				t += sc * qx
				mm += mn * sx
			}
			y := float32(float32(t) * d)
			y = fmaF32(float32(mm), -dmin, y)
			acc = fmaF32(y, xd[8*sb+j], acc)
		}
	}
	return acc
}

// q2KUnpack8 decodes super-blocks s0..s0+sc-1 of weight rows j..j+rows-1 (rows ≤ 8; row r
// at data[(j+r)·rs:]) into dst in the q2KPBlock format, row r in lane r (lanes rows..7 are
// left as they were): per block of 32, value e of row r at 32·(e/4) + 4r + e%4 as u =
// sc·q, at 256 + 4r the two halves' mins m_lo, m_hi as int16, at 288 + 4r d and at 320 + 4r
// dmin as float32.
func q2KUnpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*84 : (s0+s)*84+84]
			d, dmin := math.Float32bits(f16At(blk, 80)), math.Float32bits(f16At(blk, 82))
			for b := 0; b < 8; b++ {
				o := dst[(8*s+b)*q2KPBlock : (8*s+b+1)*q2KPBlock]
				for e := 0; e < 32; e++ {
					q := blk[16+32*(b/4)+e] >> (2 * (b % 4)) & 3
					o[32*(e/4)+4*r+e%4] = q * (blk[2*b+e/16] & 15)
				}
				le.PutUint16(o[256+4*r:], uint16(blk[2*b]>>4))
				le.PutUint16(o[258+4*r:], uint16(blk[2*b+1]>>4))
				le.PutUint32(o[288+4*r:], d)
				le.PutUint32(o[320+4*r:], dmin)
			}
		}
	}
}

// q2KUnpack is the decoder q2KRows calls, with q2KUnpack8's arguments (q2KUnpack8Asm
// where there is q2KUnpackVec).
var q2KUnpack = q2KUnpack8

// q2KUnpack8Asm is q2KUnpack8 on q2KUnpackVec, which always decodes 8 rows: lanes
// rows..7 get copies of row rows-1 (they are not read back).
func q2KUnpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q2KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*84-1]
	q2KUnpackVec(&dst[0], &data[j*rs+s0*84], &off[0], sc)
}

// q2KPrep lays out the m activation rows quantized in s for the Q2_K tiles (kp512PrepX's
// Q4_K layout, q2KC rows a call), with each block's (Σ_lo x, Σ_hi x) as two int16 at 36 in
// place of dx·Σx.
func (p *Pool) q2KPrep(xp []byte, s *quantScratch, m, nb int) {
	p.kp512Prep(xp, s.q, s.d, s.d, m, nb, q2KC)
	for o := 0; o < len(xp); o += q2KXRow {
		lo, hi := sum16(xp[o:o+16]), sum16(xp[o+16:o+32])
		binary.LittleEndian.PutUint32(xp[o+36:], uint32(uint16(lo))|uint32(uint16(hi))<<16)
	}
}

// matMulQ2K512 is MatMul for Q2_K weights (n rows of rs bytes, k values) in the VNNI
// order, on x quantized into s, for any m.
func (p *Pool) matMulQ2K512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	nb := k / 32
	if m == 1 && q2KDot8Vec != nil {
		p.q2KRow(out, s, n, k, data, rs, q2KDot8Vec)
		return
	}
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*q2KXRow)
	p.q2KPrep(xp, s, m, nb)
	p.q2KRows(out, m, n, k, data, rs, xp, q2KTiles512, q2KUnpack)
}

// q2KRow is MatMul with one activation row (s) on dot8, which takes 8 weight rows a call
// (q2KDot8AVX512 or tq20Dot8AVX512): the threads split the rows 8 at a time.
func (p *Pool) q2KRow(out []float32, s *quantScratch, n, k int, data []byte, rs int, dot8 func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)) {
	nb := k / 32
	var xsBuf [256]uint32 // k ≤ 8192 stays on the stack
	xs := xsBuf[:0]
	if nb > len(xsBuf) {
		xs = make([]uint32, 0, nb)
	}
	xs = xs[:nb]
	for b := range xs {
		lo, hi := sum16(i8Bytes(s.q[32*b:32*b+16])), sum16(i8Bytes(s.q[32*b+16:32*b+32]))
		xs[b] = uint32(uint16(lo)) | uint32(uint16(hi))<<16
	}
	p.runGrain(n, 8, func(lo, hi int) {
		var off [8]int64
		var tmp [8]float32
		for j := lo; j < hi; j += 8 {
			r := min(8, hi-j)
			for i := range off {
				off[i] = int64(min(i, r-1) * rs)
			}
			_ = data[(j+r)*rs-1]
			dot8(&data[j*rs], &off[0], &s.q[0], &s.d[0], &xs[0], k/256, &tmp[0])
			copy(out[j:j+r], tmp[:r])
		}
	})
}

// q2KRows multiplies m activation rows laid out by q2KPrep with the n rows of data (Q2_K,
// or a type of lowbit.go) by tiles on pieces decoded by unpack into the q2KPBlock format
// (kp512PieceRows), overwriting out.
func (p *Pool) q2KRows(out []float32, m, n, k int, data []byte, rs int, xp []byte, tiles []kp512TileFn, unpack func(dst, data []byte, rs, j, rows, s0, sc int)) {
	p.kp512PieceRows(out, m, n, k, data, rs, xp, tiles, q2KC, q2KXRow, unpack)
}

// q2KTileGo is the plain version of the Q2_K tiles: 16 rows in the q2KPBlock format (rows
// 0..7 from a, 8..15 from b; nb blocks), c activation rows laid out by q2KPrep (x), added
// to out[ci*os+r], with the tiles' operations in their order.
func q2KTileGo(c int, a, b, x []byte, nb int, out []float32, os int) {
	le := binary.LittleEndian
	f32 := func(p []byte) float32 { return math.Float32frombits(le.Uint32(p)) }
	for ci := 0; ci < c; ci++ {
		for r := 0; r < 16; r++ {
			buf, lane := a, r
			if r >= 8 {
				buf, lane = b, r-8
			}
			acc := out[ci*os+r]
			for blk := 0; blk < nb; blk++ {
				wb := buf[blk*q2KPBlock:]
				xb := x[(blk*c+ci)*q2KXRow:]
				var t int32
				for e := 0; e < 32; e++ {
					t += int32(wb[32*(e/4)+4*lane+e%4]) * int32(int8(xb[e]))
				}
				mm := int32(int16(le.Uint16(wb[256+4*lane:])))*int32(int16(le.Uint16(xb[36:]))) +
					int32(int16(le.Uint16(wb[258+4*lane:])))*int32(int16(le.Uint16(xb[38:])))
				y := float32(float32(t) * f32(wb[288+4*lane:]))
				y = fmaF32(float32(mm), -f32(wb[320+4*lane:]), y)
				acc = fmaF32(y, f32(xb[32:]), acc)
			}
			out[ci*os+r] = acc
		}
	}
}

// i8Bytes returns the bytes of q.
func i8Bytes(q []int8) []byte { return unsafe.Slice((*byte)(unsafe.Pointer(&q[0])), len(q)) }
