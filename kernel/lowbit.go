package kernel

import (
	"encoding/binary"
	"math"

	"github.com/decilm/decilm/tensor"
)

// TQ2_0, TQ1_0 and Q8_K on AVX-512 VNNI CPUs, every number of activation rows (issue 16
// item 1). Each is Q2_K's VNNI path (q2k.go) with decoders of its own: a block of 32
// decodes into the q2KPBlock format (unsigned values u, the two halves' mins, d and dmin;
// lowBit.block in Go, an assembly decoder for the q2KTile512 tiles, a one-row kernel that
// takes 8 weight rows a call), and each output sums its blocks of 32 in order (b the
// block, exact in int32):
//
//	T_b = Σ u·x,  M_b = m_lo·Σ_lo x + m_hi·Σ_hi x
//	y = float32(T_b)·d,  y = -(float32(M_b)·dmin) + y,  acc = y·dx_b + acc
//
// (the product rounded once, each "+" one fused multiply-add), the same bits for any m.
// lowBit.dot32Generic is the plain version. CPUs without AVX-512 VNNI keep dotTQ20AVX,
// dotTQ10AVX, dotQ8KAVX and the AVX2 1×4 tiles.
//
//   - TQ2_0 (block_tq2_0, 66 bytes a super-block of 256: 64 bytes of 2-bit q in Q2_K's
//     layout, f16 d; weight d·(q-1)): u = q, both mins 1, dmin = d (tq20Unpack512,
//     tq20Dot8AVX512).
//   - TQ1_0 (block_tq1_0, 54 bytes: qs[48] with 5 base-3 digits a byte, qh[4] with 4, f16
//     d; weight d·(t-1) with t the digit, tq10Trit): u = t, both mins 1, dmin = d
//     (tq10Unpack512, tq10Dot8AVX512; the digits formed 32 at a time as words: (x·3^n·256
//     mod 2^16)·3 >> 16 with VPMULLW, VPMULHUW, then packed to bytes).
//   - Q8_K (block_q8_K, 292 bytes: float32 d, 256 int8 q, 16 int16 sums; weight d·q): u =
//     q + 128 (VPDPBUSD multiplies unsigned bytes), both mins 128, dmin = d (q8KUnpack512,
//     q8KDot8AVX512; |T_b| ≤ 32·255·128).
//
// Measured (BenchmarkQ2KVNNI, -cpu 1 -count 5 -benchtime 20x, one thread, load 5-9 on the 2
// vCPUs: rough), cpu-GFLOP/s medians, this path / the kernels it replaces (the AVX2 one-row
// kernel and 1×4 tiles):
//
//	              m=1            m=16           m=128
//	TQ2_0
//	5632×2048     100 / 58.0     227 / 79.8     351 / 94.3
//	2048×5632     95.9 / 58.4    338 / 92.8     407 / 92.4
//	TQ1_0
//	5632×2048     52.5 / 38.2    315 / 68.9     436 / 65.9
//	2048×5632     47.7 / 33.3    242 / 60.8     349 / 66.0
//	Q8_K
//	5632×2048     71.7 / 73.0    235 / 96.3     390 / 99.7
//	2048×5632     47.5 / 53.9    185 / 79.4     353 / 98.7
//
// Q8_K's one activation row is no faster (up to 12% slower at 2048×5632: 8.5 bits a
// weight, the row kernels wait on memory), its several rows 2.3-3.9× faster. Not done: a
// tile of the ternary types' own (their sums could start at -Σx with u = q and need no
// VPMADDWD or second multiply-add: about 12 operations a block and activation row against
// the Q2_K tile's 15).
type lowBit struct {
	dt tensor.DType
	sb int // bytes of a super-block of 256
	// block decodes block b (0..7) of the super-block blk into u and returns the two
	// halves' mins, d and dmin.
	block func(blk []byte, b int, u *[32]byte) (mlo, mhi uint16, d, dmin float32)
	// unpackVec (the assembly decoder, 8 rows at w + off[r]) and dot8Vec (the one-row
	// kernel, q2KDot8AVX512's arguments) are nil where the CPU lacks AVX-512 F, BW, VL and
	// VNNI (q2k_amd64.go).
	unpackVec func(dst, w *byte, off *int64, nsb int)
	dot8Vec   func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
}

// The types of this file.
var (
	tq20 = &lowBit{dt: tensor.TQ2_0, sb: 66, block: func(blk []byte, b int, u *[32]byte) (uint16, uint16, float32, float32) {
		for e := range u {
			u[e] = blk[32*(b/4)+e] >> (2 * (b % 4)) & 3
		}
		d := f16At(blk, 64)
		return 1, 1, d, d
	}}
	tq10 = &lowBit{dt: tensor.TQ1_0, sb: 54, block: func(blk []byte, b int, u *[32]byte) (uint16, uint16, float32, float32) {
		for e := range u {
			u[e] = tq10Trit(blk, 32*b+e)
		}
		d := f16At(blk, 52)
		return 1, 1, d, d
	}}
	q8K = &lowBit{dt: tensor.Q8_K, sb: 292, block: func(blk []byte, b int, u *[32]byte) (uint16, uint16, float32, float32) {
		for e := range u {
			u[e] = blk[4+32*b+e] ^ 0x80
		}
		d := math.Float32frombits(binary.LittleEndian.Uint32(blk))
		return 128, 128, d, d
	}}
	lowBits = []*lowBit{tq20, tq10, q8K}
)

// lowBitOf returns dt's lowBit if dt takes the VNNI order on this CPU, nil otherwise.
func lowBitOf(dt tensor.DType) *lowBit {
	for _, t := range lowBits {
		if t.dt == dt && t.on() {
			return t
		}
	}
	return nil
}

// on reports whether t takes the VNNI order for every m.
func (t *lowBit) on() bool { return q2KTiles512 != nil && t.unpackVec != nil && t.dot8Vec != nil }

// tq10Trit returns value e (0..255) of the block_tq1_0 blk as its base-3 digit t (0..2):
// digit n of byte x is ((x·3^n mod 256)·3) >> 8; values 0..159 are digits e/32 of
// qs[e%32], 160..239 digits (e-160)/16 of qs[32+(e-160)%16], 240..255 digits (e-240)/4 of
// qh[(e-240)%4] (ggml's dequantize_row_tq1_0).
func tq10Trit(blk []byte, e int) byte {
	var x byte
	var n int
	switch {
	case e < 160:
		x, n = blk[e%32], e/32
	case e < 240:
		x, n = blk[32+(e-160)%16], (e-160)/16
	default:
		x, n = blk[48+(e-240)%4], (e-240)/4
	}
	q := x * [5]byte{1, 3, 9, 27, 81}[n]
	return byte(uint16(q) * 3 >> 8)
}

// dot32Generic is the plain version of the VNNI order: w holds nsb super-blocks of t, xq
// and xd a row quantized by QuantizeQ8.
func (t *lowBit) dot32Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	var u [32]byte
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*t.sb : (sb+1)*t.sb]
		for j := 0; j < 8; j++ {
			mlo, mhi, d, dmin := t.block(blk, j, &u)
			var tt, slo, shi int32
			for e, v := range u {
				x := int32(xq[256*sb+32*j+e])
				tt += int32(v) * x
				if e < 16 {
					slo += x
				} else {
					shi += x
				}
			}
			mm := int32(mlo)*slo + int32(mhi)*shi
			y := float32(float32(tt) * d)
			y = fmaF32(float32(mm), -dmin, y)
			acc = fmaF32(y, xd[8*sb+j], acc)
		}
	}
	return acc
}

// unpack8 is q2KUnpack8 for t's rows: super-blocks s0..s0+sc-1 of weight rows
// j..j+rows-1 (rows ≤ 8) into dst in the q2KPBlock format, row r in lane r.
func (t *lowBit) unpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	var u [32]byte
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*t.sb : (s0+s+1)*t.sb]
			for b := 0; b < 8; b++ {
				mlo, mhi, d, dmin := t.block(blk, b, &u)
				o := dst[(8*s+b)*q2KPBlock : (8*s+b+1)*q2KPBlock]
				for e, v := range u {
					o[32*(e/4)+4*r+e%4] = v
				}
				le.PutUint16(o[256+4*r:], mlo)
				le.PutUint16(o[258+4*r:], mhi)
				le.PutUint32(o[288+4*r:], math.Float32bits(d))
				le.PutUint32(o[320+4*r:], math.Float32bits(dmin))
			}
		}
	}
}

// unpack8Asm is unpack8 on t.unpackVec, which always decodes 8 rows: lanes rows..7 get
// copies of row rows-1 (they are not read back).
func (t *lowBit) unpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q2KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*t.sb-1]
	t.unpackVec(&dst[0], &data[j*rs+s0*t.sb], &off[0], sc)
}

// matMulLowBit is MatMul for weights of t in the VNNI order, on x quantized into s.
func (p *Pool) matMulLowBit(t *lowBit, out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	if m == 1 {
		p.q2KRow(out, s, n, k, data, rs, t.dot8Vec)
		return
	}
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*q2KXRow)
	p.q2KPrep(xp, s, m, nb)
	p.q2KRows(out, m, n, k, data, rs, xp, q2KTiles512, t.unpack8Asm)
}
