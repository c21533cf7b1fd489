package kernel

import (
	"encoding/binary"
	"math"
)

// TQ2_0 on AVX-512 VNNI CPUs, every number of activation rows (issue 16 item 1). A
// block_tq2_0 (66 bytes a super-block of 256: 64 bytes of 2-bit q in Q2_K's layout, f16 d;
// weight d·(q-1)) is Q2_K with every scale and min 1 and dmin = d, so TQ2_0 takes Q2_K's
// VNNI path (q2k.go) with its own decoders: tq20Unpack512 into the q2KPBlock format (u = q,
// both mins 1, d twice) for the q2KTile512 tiles, and tq20Dot8AVX512 for one activation
// row. Each output sums its blocks of 32 in order (b the block, exact in int32):
//
//	T_b = Σ q·x,  M_b = Σ x
//	y = float32(T_b)·d,  y = -(float32(M_b)·d) + y,  acc = y·dx_b + acc
//
// (the product rounded once, each "+" one fused multiply-add), the same bits for any m.
// dotTQ2032Generic is the plain version. CPUs without AVX-512 VNNI keep dotTQ20AVX and the
// AVX2 1×4 tiles.
//
// Measured (BenchmarkQ2KVNNI, as q2k.go's, same run, load 7-9: rough), cpu-GFLOP/s
// medians, this path / the kernels it replaces (dotTQ20AVX, the AVX2 1×4 tiles):
//
//	              m=1            m=16           m=128
//	5632×2048     100 / 58.0     227 / 79.8     351 / 94.3
//	2048×5632     95.9 / 58.4    338 / 92.8     407 / 92.4
//
// Not done: a tile of its own (the sums could start at -Σx with u = q and need no
// VPMADDWD or second multiply-add: about 12 operations a block and activation row
// against the Q2_K tile's 15).

// tq20UnpackVec and tq20Dot8Vec are the assembly decoder and one-row kernel (nil where the
// CPU lacks AVX-512 F, BW, VL and VNNI).
var (
	tq20UnpackVec func(dst, w *byte, off *int64, nsb int)
	tq20Dot8Vec   func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
)

// tq20VNNIOn reports whether TQ2_0 takes the VNNI order for every m.
func tq20VNNIOn() bool { return q2KTiles512 != nil && tq20UnpackVec != nil && tq20Dot8Vec != nil }

// dotTQ2032Generic is the plain version of the VNNI order for TQ2_0: w holds nsb
// block_tq2_0, xq and xd a row quantized by QuantizeQ8.
func dotTQ2032Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*66 : sb*66+66]
		d := f16At(blk, 64)
		for j := 0; j < 8; j++ {
			var t, mm int32
			for e := 0; e < 32; e++ {
				q := int32(blk[32*(j/4)+e] >> (2 * (j % 4)) & 3)
				x := int32(xq[256*sb+32*j+e])
				t += q * x
				mm += x
			}
			y := float32(float32(t) * d)
			y = fmaF32(float32(mm), -d, y)
			acc = fmaF32(y, xd[8*sb+j], acc)
		}
	}
	return acc
}

// tq20Unpack8 is q2KUnpack8 for TQ2_0 rows: u = q, both mins 1, d at 288 and 320.
func tq20Unpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*66 : (s0+s)*66+66]
			d := math.Float32bits(f16At(blk, 64))
			for b := 0; b < 8; b++ {
				o := dst[(8*s+b)*q2KPBlock : (8*s+b+1)*q2KPBlock]
				for e := 0; e < 32; e++ {
					o[32*(e/4)+4*r+e%4] = blk[32*(b/4)+e] >> (2 * (b % 4)) & 3
				}
				binary.LittleEndian.PutUint32(o[256+4*r:], 0x00010001)
				binary.LittleEndian.PutUint32(o[288+4*r:], d)
				binary.LittleEndian.PutUint32(o[320+4*r:], d)
			}
		}
	}
}

// tq20Unpack8Asm is tq20Unpack8 on tq20UnpackVec (lanes rows..7 get copies of row rows-1).
func tq20Unpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q2KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*66-1]
	tq20UnpackVec(&dst[0], &data[j*rs+s0*66], &off[0], sc)
}

// matMulTQ20512 is MatMul for TQ2_0 weights in the VNNI order, on x quantized into s.
func (p *Pool) matMulTQ20512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	if m == 1 {
		p.q2KRow(out, s, n, k, data, rs, tq20Dot8Vec)
		return
	}
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*q2KXRow)
	p.q2KPrep(xp, s, m, nb)
	p.q2KRows(out, m, n, k, data, rs, xp, q2KTiles512, tq20Unpack8Asm)
}
