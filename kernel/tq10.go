package kernel

import (
	"encoding/binary"
	"math"
)

// TQ1_0 on AVX-512 VNNI CPUs, every number of activation rows (issue 16 item 1). A
// block_tq1_0 (54 bytes a super-block of 256: qs[48] with 5 base-3 digits a byte, qh[4]
// with 4, f16 d; weight d·(t-1) with t the digit, tq10Trit) takes TQ2_0's form of Q2_K's
// VNNI path (tq20.go, q2k.go) with its own digit decoding: tq10Unpack512 into the
// q2KPBlock format (u = t, both mins 1, dmin = d) for the q2KTile512 tiles, tq10Dot8AVX512
// for one activation row. Each output sums its blocks of 32 in order (exact in int32):
//
//	T_b = Σ t·x,  M_b = Σ x
//	y = float32(T_b)·d,  y = -(float32(M_b)·d) + y,  acc = y·dx_b + acc
//
// the same bits for any m. dotTQ1032Generic is the plain version. CPUs without AVX-512
// VNNI keep dotTQ10AVX and the AVX2 1×4 tiles. The digits are formed 32 at a time as
// words: (x·3^n·256 mod 2^16)·3 >> 16 (VPMULLW, VPMULHUW), then packed to bytes.
//
// Measured (BenchmarkQ2KVNNI, -cpu 1 -count 5 -benchtime 20x, one thread, load 5-7 on the
// 2 vCPUs: rough), cpu-GFLOP/s medians, this path / dotTQ10AVX and the AVX2 1×4 tiles:
//
//	              m=1            m=16           m=128
//	5632×2048     52.5 / 38.2    315 / 68.9     436 / 65.9
//	2048×5632     47.7 / 33.3    242 / 60.8     349 / 66.0

// tq10UnpackVec and tq10Dot8Vec are the assembly decoder and one-row kernel (nil where the
// CPU lacks AVX-512 F, BW, VL and VNNI).
var (
	tq10UnpackVec func(dst, w *byte, off *int64, nsb int)
	tq10Dot8Vec   func(w *byte, off *int64, xq *int8, xd *float32, xs *uint32, nsb int, out *float32)
)

// tq10VNNIOn reports whether TQ1_0 takes the VNNI order for every m.
func tq10VNNIOn() bool { return q2KTiles512 != nil && tq10UnpackVec != nil && tq10Dot8Vec != nil }

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

// dotTQ1032Generic is the plain version of the VNNI order for TQ1_0: w holds nsb
// block_tq1_0, xq and xd a row quantized by QuantizeQ8.
func dotTQ1032Generic(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*54 : sb*54+54]
		d := f16At(blk, 52)
		for j := 0; j < 8; j++ {
			var t, mm int32
			for e := 0; e < 32; e++ {
				x := int32(xq[256*sb+32*j+e])
				t += int32(tq10Trit(blk, 32*j+e)) * x
				mm += x
			}
			y := float32(float32(t) * d)
			y = fmaF32(float32(mm), -d, y)
			acc = fmaF32(y, xd[8*sb+j], acc)
		}
	}
	return acc
}

// tq10Unpack8 is q2KUnpack8 for TQ1_0 rows: u = t, both mins 1, d at 288 and 320.
func tq10Unpack8(dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*54 : (s0+s)*54+54]
			d := math.Float32bits(f16At(blk, 52))
			for b := 0; b < 8; b++ {
				o := dst[(8*s+b)*q2KPBlock : (8*s+b+1)*q2KPBlock]
				for e := 0; e < 32; e++ {
					o[32*(e/4)+4*r+e%4] = tq10Trit(blk, 32*b+e)
				}
				le.PutUint32(o[256+4*r:], 0x00010001)
				le.PutUint32(o[288+4*r:], d)
				le.PutUint32(o[320+4*r:], d)
			}
		}
	}
}

// tq10Unpack8Asm is tq10Unpack8 on tq10UnpackVec (lanes rows..7 get copies of row rows-1).
func tq10Unpack8Asm(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q2KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*54-1]
	tq10UnpackVec(&dst[0], &data[j*rs+s0*54], &off[0], sc)
}

// matMulTQ10512 is MatMul for TQ1_0 weights in the VNNI order, on x quantized into s.
func (p *Pool) matMulTQ10512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int) {
	if m == 1 {
		p.q2KRow(out, s, n, k, data, rs, tq10Dot8Vec)
		return
	}
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*q2KXRow)
	p.q2KPrep(xp, s, m, nb)
	p.q2KRows(out, m, n, k, data, rs, xp, q2KTiles512, tq10Unpack8Asm)
}
