package kernel

import (
	"encoding/binary"
	"math"
)

// Q8_K weights on AVX-512 VNNI CPUs, every number of activation rows (issue 16 item 1). A
// block_q8_K (292 bytes a super-block of 256: float32 d, 256 int8 q, 16 int16 sums; weight
// d·q) takes Q2_K's VNNI path (q2k.go) with u = q + 128 (VPDPBUSD multiplies unsigned
// bytes), both halves' mins 128 and dmin = d: q8KUnpack512 decodes into the q2KPBlock
// format for the q2KTile512 tiles, q8KDot8AVX512 serves one activation row. Each output
// sums its blocks of 32 in order (b the block, exact in int32: |T_b| ≤ 32·255·128):
//
//	T_b = Σ (q+128)·x,  M_b = 128·Σ x
//	y = float32(T_b)·d,  y = -(float32(M_b)·d) + y,  acc = y·dx_b + acc
//
// (the product rounded once, each "+" one fused multiply-add), the same bits for any m.
// dotQ8K32Generic is the plain version. CPUs without AVX-512 VNNI keep dotQ8KAVX and the
// AVX2 1×4 tiles.
//
// Measured (BenchmarkQ2KVNNI, -cpu 1 -count 5 -benchtime 20x, one thread, load 7-9 on the
// 2 vCPUs: rough), cpu-GFLOP/s medians, this path / dotQ8KAVX and the AVX2 1×4 tiles:
//
//	              m=1            m=16           m=128
//	5632×2048     71.7 / 73.0    235 / 96.3     390 / 99.7
//	2048×5632     47.5 / 53.9    185 / 79.4     353 / 98.7
//
// so one activation row is no faster (up to 12% slower at 2048×5632: 8.5 bits a weight,
// the row kernels wait on memory), several rows 2.3-3.9× faster.

// q8KUnpackVec and q8KDot8Vec are the assembly decoder and one-row kernel (nil where the
// CPU lacks AVX-512 F, BW, VL and VNNI).
var (
	q8KUnpackVec func(dst, w *byte, off *int64, nsb int)
	q8KDot8Vec   func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
)

// q8KVNNIOn reports whether Q8_K takes the VNNI order for every m.
func q8KVNNIOn() bool { return q2KTiles512 != nil && q8KUnpackVec != nil && q8KDot8Vec != nil }

// dotQ8K32Generic is the plain version of the VNNI order for Q8_K weights: w holds nsb
// block_q8_K, xq and xd a row quantized by QuantizeQ8.
func dotQ8K32Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*292 : sb*292+292]
		d := math.Float32frombits(binary.LittleEndian.Uint32(blk))
		for j := 0; j < 8; j++ {
			var t, mm int32
			for e := 0; e < 32; e++ {
				x := int32(xq[256*sb+32*j+e])
				t += (int32(int8(blk[4+32*j+e])) + 128) * x
				mm += 128 * x
			}
			y := float32(float32(t) * d)
			y = fmaF32(float32(mm), -d, y)
			acc = fmaF32(y, xd[8*sb+j], acc)
		}
	}
	return acc
}

// q8KUnpack8 is q2KUnpack8 for Q8_K rows: u = q + 128, both mins 128, d at 288 and 320.
func q8KUnpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*292 : (s0+s)*292+292]
			d := le.Uint32(blk)
			for b := 0; b < 8; b++ {
				o := dst[(8*s+b)*q2KPBlock : (8*s+b+1)*q2KPBlock]
				for e := 0; e < 32; e++ {
					o[32*(e/4)+4*r+e%4] = blk[4+32*b+e] ^ 0x80
				}
				le.PutUint32(o[256+4*r:], 0x00800080)
				le.PutUint32(o[288+4*r:], d)
				le.PutUint32(o[320+4*r:], d)
			}
		}
	}
}

// q8KUnpack8Asm is q8KUnpack8 on q8KUnpackVec (lanes rows..7 get copies of row rows-1).
func q8KUnpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q2KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*292-1]
	q8KUnpackVec(&dst[0], &data[j*rs+s0*292], &off[0], sc)
}

// matMulQ8K512 is MatMul for Q8_K weights in the VNNI order, on x quantized into s.
func (p *Pool) matMulQ8K512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	if m == 1 {
		p.q2KRow(out, s, n, k, data, rs, q8KDot8Vec)
		return
	}
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*q2KXRow)
	p.q2KPrep(xp, s, m, nb)
	p.q2KRows(out, m, n, k, data, rs, xp, q2KTiles512, q8KUnpack8Asm)
}
