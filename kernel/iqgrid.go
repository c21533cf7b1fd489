package kernel

import (
	"encoding/binary"
	"math"

	"github.com/decilm/decilm/tensor"
)

// IQ3_XXS, IQ2_XXS, IQ3_S and IQ2_S on AVX-512 VNNI CPUs, every number of activation rows
// (issue 16 item 1): IQ2_XS's design (iq2xs.go) for the other grid i-quants. Each block of
// 32 weights is 4 (IQ2: 8-byte entries, magnitudes 8, 25, 43) or 8 (IQ3: 4-byte entries,
// IQ3_XXS 4..62, IQ3_S 1..15) grid entries with a sign per weight and an odd integer
// scale 2s+1 (s ≤ 15) for the block (IQ2_S: one for each half of 16), and the super-block
// of 256 has one f16 d. Each output sums its blocks one after the other (b the block of
// 32, Σ exact in int32):
//
//	T_b = (2s_lo+1)·Σ_lo w·x + (2s_hi+1)·Σ_hi w·x      (w = ±g: the signed grid value)
//	acc = float32(T_b)·((d·dmul)·dx_b) + acc
//
// with dmul, the power of two that makes d·dmul·(2s+1) the weights' scale, per type:
// IQ3_XXS 1/4, IQ2_XXS 1/8, IQ3_S 1, IQ2_S 1/8 (d·dmul is exact; the product in
// parentheses is rounded once, "+ acc" is one fused multiply-add). |T_b| ≤ 31·62·127·32 <
// 2^23 (IQ3_XXS, the largest), so T_b is exact in int32 and in float32. With one
// activation row the type's dot<T>32AVX512 (asmgenk's gridRow32) decodes a super-block as
// the AVX2 kernel does, takes the 8 blocks' T_b by VPMADDUBSW, VPMADDWD and a horizontal
// add, and chains the 8 fused multiply-adds; dot<T>32x2AVX512 does two rows a call, their
// two chains in two lanes of one register (half the shuffles of the tail). With several, each 8 weight rows' piece of
// kp512KB super-blocks is decoded once (the type's <t>UnpackAVX512: asmgenk's
// gridUnpack512) into the q6KPBlock format as u = w + 64 (2..126: an unsigned byte for
// VPDPBUSD), the scales' words and d·dmul as float32, and the kp512 Q6_K tiles multiply two
// such pieces with all activation rows, their sums started at -64·Σx (iq2XSPrep) so that
// they come out as T_b; iq2XSRows walks the rows. So a row's result is the same bits for
// any m, and dotGrid32Generic is the plain version. CPUs without AVX-512 VNNI keep the
// AVX2 kernels and their order (dotGridGeneric).
//
// Measured: see iqgrid_amd64.go.

// iqGridFns are the kernels of one type of the VNNI order (iqGrid: nil where the CPU
// lacks AVX-512 F, BW, VL and VNNI, or without the kp512 Q6_K tiles).
type iqGridFns struct {
	// dot is the one-row kernel: w holds nsb super-blocks, xq and xd a row quantized by
	// QuantizeQ8.
	dot func(w *byte, xq *int8, xd *float32, nsb int) float32
	// dot2 writes the products of the rows at w and w+ws to out[0], out[1], each as dot
	// computes it (the type's dot<T>32x2AVX512).
	dot2 func(w *byte, ws int, xq *int8, xd *float32, nsb int, out *float32)
	// unpack decodes nsb super-blocks of 8 rows (row r at w+off[r]) into dst in the
	// q6KPBlock format, as gridUnpack8.
	unpack func(dst, w *byte, off *int64, nsb int)
}

// iqGrid returns the VNNI-order kernels of dt, or nil where dt does not take that order.
func iqGrid(dt tensor.DType) *iqGridFns {
	if kp512Q6KTiles == nil {
		return nil
	}
	switch dt {
	case tensor.IQ3_XXS:
		return iqGridIQ3XXS
	case tensor.IQ2_XXS:
		return iqGridIQ2XXS
	case tensor.IQ3_S:
		return iqGridIQ3S
	case tensor.IQ2_S:
		return iqGridIQ2S
	}
	return nil
}

// The kernels of each type (set at start-up by iqgrid_amd64.go).
var iqGridIQ3XXS, iqGridIQ2XXS, iqGridIQ3S, iqGridIQ2S *iqGridFns

// iqGridOn reports whether dt takes the VNNI order on this CPU.
func iqGridOn(dt tensor.DType) bool { return iqGrid(dt) != nil }

// dotGrid32Generic is the plain version of the VNNI order of dt (IQ3_XXS, IQ2_XXS, IQ3_S,
// IQ2_S): w holds nsb super-blocks, xq and xd a row quantized by QuantizeQ8; each block of
// 32 gives the exact T_b above and acc = fmaF32(float32(T_b), (d·dmul)·dx_b, acc), block
// after block.
func dotGrid32Generic(dt tensor.DType, w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	u := make([]int8, 256)
	sc, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(dt)
	bb := dt.BlockBytes()
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*bb : sb*bb+bb]
		unpack(u, sc, mn, blk) // the signed grid values; the scales are formed below
		s, dmul := gridScales(dt, blk)
		dd := f16At(blk, 0) * dmul
		for ib := 0; ib < 8; ib++ {
			var t int32
			for h := 0; h < 2; h++ {
				var isum int32
				for e := 32*ib + 16*h; e < 32*ib+16*h+16; e++ {
					isum += int32(u[e]) * int32(xq[256*sb+e])
				}
				t += s[2*ib+h] * isum
			}
			acc = fmaF32(float32(t), dd*xd[8*sb+ib], acc)
		}
	}
	return acc
}

// gridUnpack8 decodes super-blocks s0..s0+sc-1 of weight rows j..j+rows-1 of type dt
// (rows ≤ 8; row r at data[(j+r)·rs:]) into dst in the q6KPBlock format, row r in lane r
// (lanes rows..7 are left as they were): per block of 32, value e of row r at byte
// 32·(e/4) + 4r + e%4 as u = w + 64, at 256 + 4r the low half's scale 2s+1 as int16
// twice, at 288 + 4r the high half's twice, at 320 + 4r the two, and at 352 + 4r d·dmul
// as float32.
func gridUnpack8(dt tensor.DType, dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	bb := dt.BlockBytes()
	u := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(dt)
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*bb : (s0+s+1)*bb]
			unpack(u, sf, mn, blk)
			scl, dmul := gridScales(dt, blk)
			dd := math.Float32bits(f16At(blk, 0) * dmul)
			for ib := 0; ib < 8; ib++ {
				o := dst[(8*s+ib)*q6KPBlock : (8*s+ib+1)*q6KPBlock]
				for e := 0; e < 32; e++ {
					o[32*(e/4)+4*r+e%4] = byte(int(u[32*ib+e]) + 64)
				}
				lo, hi := uint32(scl[2*ib]), uint32(scl[2*ib+1])
				le.PutUint32(o[256+4*r:], lo|lo<<16)
				le.PutUint32(o[288+4*r:], hi|hi<<16)
				le.PutUint32(o[320+4*r:], lo|hi<<16)
				le.PutUint32(o[352+4*r:], dd)
			}
		}
	}
}

// gridUnpack8Asm is gridUnpack8 on the type's assembly unpacker, which always decodes 8
// rows: lanes rows..7 get copies of row rows-1 (they are not read back).
func gridUnpack8Asm(f *iqGridFns, bb int, dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q6KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*bb-1]
	f.unpack(&dst[0], &data[j*rs+s0*bb], &off[0], sc)
}

// matMulGrid512 is MatMul for dt weights (IQ3_XXS, IQ2_XXS, IQ3_S, IQ2_S; n rows of rs
// bytes, k values) in the VNNI order, on x quantized into s.
func (p *Pool) matMulGrid512(out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) {
	f := iqGrid(dt)
	nb, nsb := k/32, k/256
	if m == 1 {
		p.runGrain(n, 4, func(lo, hi int) {
			j := lo
			for ; j+2 <= hi; j += 2 {
				f.dot2(&data[j*rs], rs, &s.q[0], &s.d[0], nsb, &out[j])
			}
			for ; j < hi; j++ {
				out[j] = f.dot(&data[j*rs], &s.q[0], &s.d[0], nsb)
			}
		})
		return
	}
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*kp512Q6KRow)
	p.iq2XSPrep(xp, s, m, nb)
	bb := dt.BlockBytes()
	p.iq2XSRows(out, m, n, k, data, rs, xp, func(dst, data []byte, rs, j, rows, s0, sc int) {
		gridUnpack8Asm(f, bb, dst, data, rs, j, rows, s0, sc)
	})
}
