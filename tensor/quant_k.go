package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// This file encodes rows in the block types beyond Q8_0 and Q4_0 that llama.cpp's
// llama-quantize writes: Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL and IQ4_XS,
// with or without an importance matrix. Each encoder follows the idea of llama.cpp's
// quantizer for the type (ggml-quants.c: the same scale searches, quant_search.go, and the
// same weighting of the error), written afresh, so that the error of a row matches
// llama-quantize's; the bytes are checked by decoding them with DecodeRow. The ternary and
// 2-bit lattice types are in quant_iq.go.

// Encodable reports whether EncodeRow and EncodeRowWeighted can write type d.
func Encodable(d DType) bool {
	switch d {
	case F32, F16, BF16, Q8_0, Q4_0:
		return true
	}
	return d.Valid() && rowEncoders[d] != nil
}

// rowEncoders encode one row (a whole number of blocks) of each type beyond the basic ones;
// imp is nil or one importance a column.
var rowEncoders = [nDTypes]func(dst []byte, x, imp []float32){
	Q4_0:    encodeQ4_0Weighted,
	Q4_1:    encodeQ4_1,
	Q5_0:    encodeQ5_0,
	Q5_1:    encodeQ5_1,
	Q2_K:    perSuper(84, encodeQ2K),
	Q3_K:    perSuper(110, encodeQ3K),
	Q4_K:    perSuper(144, encodeQ4K),
	Q5_K:    perSuper(176, encodeQ5K),
	Q6_K:    perSuper(210, encodeQ6K),
	IQ4_NL:  encodeIQ4NL,
	IQ4_XS:  perSuper(136, encodeIQ4XS),
	TQ1_0:   perSuper(54, encodeTQ1_0), // quant_iq.go
	TQ2_0:   perSuper(66, encodeTQ2_0),
	IQ2_XS:  encodeIQ2XSRow,
	IQ2_XXS: encodeIQ2XXSRow,
	IQ3_XXS: encodeIQ3XXSRow,
	IQ3_S:   encodeIQ3SRow,
	IQ2_S:   encodeIQ2SRow,
	IQ1_S:   encodeIQ1SRow,
	IQ1_M:   encodeIQ1MRow,
}

// NeedsImportance reports whether EncodeRowWeighted writes type d only with an importance
// matrix, as llama-quantize quantizes the 2-bit lattice types only with one.
func NeedsImportance(d DType) bool {
	return d == IQ2_XS || d == IQ2_XXS || d == IQ2_S || d == IQ1_S || d == IQ1_M
}

// EncodeRowWeighted stores src in type d into dst, which must have exactly RowBytes(len(src))
// bytes, choosing the scales of each block to minimise the error weighted by imp: one
// non-negative importance a column, as an importance matrix holds (the mean squared
// activation that meets the column). With imp nil it weighs the error as llama-quantize
// does without an importance matrix. Types without scales to choose (F32, F16, BF16, Q8_0)
// ignore imp. Values that are not finite are an error for the block types.
func EncodeRowWeighted(dst []byte, src []float32, d DType, imp []float32) error {
	if imp != nil && len(imp) != len(src) {
		return fmt.Errorf("encode %d %s elements: have %d importances", len(src), d, len(imp))
	}
	if !d.Valid() || rowEncoders[d] == nil || (d == Q4_0 && imp == nil) {
		return EncodeRow(dst, src, d)
	}
	n := len(src)
	need, err := d.RowBytes(n)
	if err != nil {
		return err
	}
	if len(dst) != need {
		return fmt.Errorf("encode %d %s elements: have %d bytes, need %d", n, d, len(dst), need)
	}
	if imp == nil && NeedsImportance(d) {
		return fmt.Errorf("encode %s: the type needs an importance matrix", d)
	}
	for i, v := range src {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("encode %s: element %d is %g", d, i, v)
		}
	}
	for i, v := range imp {
		if !(v >= 0) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("encode %s: importance %d is %g (want a finite value ≥ 0)", d, i, v)
		}
	}
	rowEncoders[d](dst, src, imp)
	return nil
}

// perSuper turns an encoder of one 256-value super-block into a row encoder.
func perSuper(bytes int, enc func(blk []byte, x, imp []float32)) func(dst []byte, x, imp []float32) {
	return func(dst []byte, x, imp []float32) {
		for b := 0; b < len(x)/256; b++ {
			var w []float32
			if imp != nil {
				w = imp[b*256 : b*256+256]
			}
			enc(dst[b*bytes:(b+1)*bytes], x[b*256:b*256+256], w)
		}
	}
}

func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

// sumSquares returns Σ x².
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v * v
	}
	return s
}

// importanceWeights sets w[i] = imp[i]·√(σ² + x[i]²), the weighting of llama.cpp's
// quantizers with an importance matrix: the activations' importance times a magnitude that
// does not let small weights count for nothing.
func importanceWeights(w, x, imp []float32, sigma2 float32) {
	for i, v := range x {
		w[i] = imp[i] * float32(math.Sqrt(float64(sigma2+v*v)))
	}
}

// rowSigma2 is the mean square of a row, the σ² of the 32-blocks' weighting.
func rowSigma2(x []float32) float32 { return sumSquares(x) / float32(len(x)) }

// encodeQ4_0Weighted writes Q4_0 blocks with an importance matrix (Q4_0 without one is
// EncodeRow's reference rounding).
func encodeQ4_0Weighted(dst []byte, x, imp []float32) {
	sigma2 := rowSigma2(x)
	var w [32]float32
	var L [32]int8
	for b := 0; b < len(x)/32; b++ {
		xb, blk := x[b*32:b*32+32], dst[b*18:b*18+18]
		importanceWeights(w[:], xb, imp[b*32:], sigma2)
		putF16(blk, symScale(8, xb, L[:], w[:]))
		for j := 0; j < 16; j++ {
			blk[2+j] = byte(L[j]) | byte(L[j+16])<<4
		}
	}
}

// minMax returns the smallest and largest of x.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// encodeQ4_1 writes Q4_1 blocks: min and range rounding without importances, the weighted
// scale-and-offset search with them.
func encodeQ4_1(dst []byte, x, imp []float32) {
	var sigma2 float32
	if imp != nil {
		sigma2 = rowSigma2(x)
	}
	var w [32]float32
	var L, aux [32]uint8
	for b := 0; b < len(x)/32; b++ {
		xb, blk := x[b*32:b*32+32], dst[b*20:b*20+20]
		var d, m float32
		if imp == nil {
			lo, hi := minMax(xb)
			d, m = (hi-lo)/15, lo
			var id float32
			if d != 0 {
				id = 1 / d
			}
			for j, v := range xb {
				L[j] = uint8(min(15, int(int8((v-lo)*id+0.5))))
			}
		} else {
			importanceWeights(w[:], xb, imp[b*32:], sigma2)
			var off float32
			d, off = affineScale(15, xb, w[:], L[:], aux[:], -0.9, 0.05, 36, false)
			m = -off
		}
		putF16(blk, d)
		putF16(blk[2:], m)
		for j := 0; j < 16; j++ {
			blk[4+j] = L[j] | L[j+16]<<4
		}
	}
}

// packQ5 stores 32 five-bit values: the low nibbles in qs, the fifth bits in the uint32 qh.
func packQ5(qh, qs []byte, L []uint8) {
	var h uint32
	for j := 0; j < 16; j++ {
		qs[j] = L[j]&15 | (L[j+16]&15)<<4
		h |= uint32(L[j]>>4&1) << j
		h |= uint32(L[j+16]>>4&1) << (j + 16)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

// encodeQ5_0 writes Q5_0 blocks: the largest magnitude maps to −16 without importances,
// the weighted symmetric search with them.
func encodeQ5_0(dst []byte, x, imp []float32) {
	var sigma2 float32
	if imp != nil {
		sigma2 = rowSigma2(x)
	}
	var w [32]float32
	var L [32]uint8
	var Ls [32]int8
	for b := 0; b < len(x)/32; b++ {
		xb, blk := x[b*32:b*32+32], dst[b*22:b*22+22]
		var d float32
		if imp == nil {
			var amax, mx float32
			for _, v := range xb {
				if a := abs32(v); a > amax {
					amax, mx = a, v
				}
			}
			d = mx / -16
			var id float32
			if d != 0 {
				id = 1 / d
			}
			for j, v := range xb {
				L[j] = uint8(min(31, int(int8(v*id+16.5))))
			}
		} else {
			importanceWeights(w[:], xb, imp[b*32:], sigma2)
			d = symScale(16, xb, Ls[:], w[:])
			for j, l := range Ls {
				L[j] = uint8(l)
			}
		}
		putF16(blk, d)
		packQ5(blk[2:6], blk[6:22], L[:])
	}
}

// encodeQ5_1 writes Q5_1 blocks (as encodeQ4_1, with 32 levels).
func encodeQ5_1(dst []byte, x, imp []float32) {
	var sigma2 float32
	if imp != nil {
		sigma2 = rowSigma2(x)
	}
	var w [32]float32
	var L, aux [32]uint8
	for b := 0; b < len(x)/32; b++ {
		xb, blk := x[b*32:b*32+32], dst[b*24:b*24+24]
		var d, m float32
		if imp == nil {
			lo, hi := minMax(xb)
			d, m = (hi-lo)/31, lo
			var id float32
			if d != 0 {
				id = 1 / d
			}
			for j, v := range xb {
				L[j] = uint8(min(31, int(int8((v-lo)*id+0.5))))
			}
		} else {
			importanceWeights(w[:], xb, imp[b*32:], sigma2)
			var off float32
			d, off = affineScale(31, xb, w[:], L[:], aux[:], -0.9, 0.05, 36, false)
			m = -off
		}
		putF16(blk, d)
		putF16(blk[2:], m)
		packQ5(blk[4:8], blk[8:24], L[:])
	}
}

// pack2Bits stores 256 two-bit values as block_q2_K and block_q3_K do: byte l of each
// 32-byte half holds values l, l+32, l+64 and l+96 of its 128.
func pack2Bits(qs []byte, L []uint8) {
	for j := 0; j < 256; j += 128 {
		for l := 0; l < 32; l++ {
			qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
		}
	}
}

// encodeQ2K writes one block_q2_K: sixteen groups of 16 with a 4-bit scale and a 4-bit
// offset each under two f16 super-scales.
func encodeQ2K(blk []byte, x, imp []float32) {
	var L [256]uint8
	var aux [16]uint8
	var w [16]float32
	var scales, offs, sw [16]float32
	var sigma2 float32
	if imp != nil {
		sigma2 = sumSquares(x) / 256
	}
	for j := 0; j < 16; j++ {
		xs := x[16*j : 16*j+16]
		if imp == nil {
			for l, v := range xs {
				w[l] = abs32(v)
			}
			scales[j], offs[j] = affineScale(3, xs, w[:], L[16*j:16*j+16], aux[:], -0.5, 0.1, 15, true)
			continue
		}
		importanceWeights(w[:], xs, imp[16*j:], sigma2)
		for _, v := range w {
			sw[j] += v
		}
		scales[j], offs[j] = affineScale(3, xs, w[:], L[16*j:16*j+16], aux[:], -0.9, 0.05, 36, false)
	}
	sc := blk[0:16]
	var d, dmin float32
	if imp == nil {
		d, dmin = uniformScales(15, scales[:], sc, 0), uniformScales(15, offs[:], sc, 4)
	} else {
		var Ls, Lm [16]uint8
		d, dmin = scaleScale(15, scales[:], Ls[:], sw[:]), scaleScale(15, offs[:], Lm[:], sw[:])
		for j := range sc {
			sc[j] = Ls[j] | Lm[j]<<4
		}
	}
	putF16(blk[80:], d)
	putF16(blk[82:], dmin)
	d, dmin = f16At(blk, 80), f16At(blk, 82)
	for j := 0; j < 16; j++ {
		dj := d * float32(sc[j]&15)
		if dj == 0 {
			continue
		}
		mj := dmin * float32(sc[j]>>4)
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = uint8(min(max(nearestInt((v+mj)/dj), 0), 3))
		}
	}
	pack2Bits(blk[16:80], L[:])
}

// uniformScales quantizes the non-negative values v to nmax levels of max(v)/nmax, ORs the
// integers shifted by shift into out and returns the super-scale (0 when all are 0).
func uniformScales(nmax int, v []float32, out []byte, shift uint) float32 {
	var mx float32
	for _, s := range v {
		mx = max(mx, s)
	}
	if shift == 0 {
		clear(out)
	}
	if !(mx > 0) {
		return 0
	}
	is := float32(nmax) / mx
	for j, s := range v {
		out[j] |= byte(min(nearestInt(is*s), nmax)) << shift
	}
	return mx / float32(nmax)
}

// encodeQ3K writes one block_q3_K: sixteen groups of 16 three-bit values with signed 6-bit
// scales under one f16 super-scale.
func encodeQ3K(blk []byte, x, imp []float32) {
	var L [256]int8
	var scales, sw [16]float32
	var Ls [16]int8
	var w [16]float32
	var d float32
	if imp == nil {
		var mx, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = q3Scale(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if a := abs32(scales[j]); a > amax {
				amax, mx = a, scales[j]
			}
		}
		if mx != 0 {
			is := -32 / mx
			for j := range Ls {
				Ls[j] = int8(min(max(nearestInt(is*scales[j]), -32), 31) + 32)
			}
			d = 1 / is
		} else {
			for j := range Ls {
				Ls[j] = 32
			}
		}
	} else {
		sigma2 := 2 * sumSquares(x) / 256
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			importanceWeights(w[:], xs, imp[16*j:], sigma2)
			for _, v := range w {
				sw[j] += v
			}
			scales[j] = symScale(4, xs, L[16*j:16*j+16], w[:])
		}
		d = symScale(32, scales[:], Ls[:], sw[:])
	}
	hm, qs, sc := blk[0:32], blk[32:96], blk[96:108]
	clear(sc)
	for j := 0; j < 16; j++ {
		l := byte(Ls[j])
		if j < 8 {
			sc[j] = l & 15
		} else {
			sc[j-8] |= (l & 15) << 4
		}
		sc[8+j%4] |= (l >> 4) << (2 * (j / 4))
	}
	putF16(blk[108:], d)
	d = f16At(blk, 108)
	for j := 0; j < 16; j++ {
		dj := d * float32(int(Ls[j])-32)
		if dj == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(min(max(nearestInt(v/dj), -4), 3) + 4)
		}
	}
	clear(hm)
	var U [256]uint8
	for j, l := range L {
		if l > 3 {
			hm[j%32] |= 1 << (j / 32)
			l -= 4
		}
		U[j] = uint8(l)
	}
	pack2Bits(qs, U[:])
}

// packScaleMin6 stores eight 6-bit scales and mins in block_q4_K's 12-byte layout.
func packScaleMin6(out []byte, ls, lm []uint8) {
	clear(out)
	for j := 0; j < 8; j++ {
		if j < 4 {
			out[j] = ls[j]
			out[j+4] = lm[j]
		} else {
			out[j+4] = ls[j]&15 | (lm[j]&15)<<4
			out[j-4] |= (ls[j] >> 4) << 6
			out[j] |= (lm[j] >> 4) << 6
		}
	}
}

// kScalesMins runs the per-32 scale-and-offset search of Q4_K and Q5_K (nmax 15 or 31) and
// quantizes the eight scales and offsets to 6 bits, returning the integers, the two
// super-scales and the integers of the values (to be redone under the final scales).
func kScalesMins(nmax int, x, imp []float32, L []uint8, rmin, rdelta float32, nstep int) (ls, lm [8]uint8, d, dmin float32) {
	var w [32]float32
	var aux [32]uint8
	var scales, offs, sw [8]float32
	if imp == nil {
		for j := 0; j < 8; j++ {
			xs := x[32*j : 32*j+32]
			av := float32(math.Sqrt(float64(sumSquares(xs) / 32)))
			for l, v := range xs {
				w[l] = av + abs32(v)
			}
			scales[j], offs[j] = affineScale(nmax, xs, w[:], L[32*j:32*j+32], aux[:], rmin, rdelta, nstep, false)
		}
		var mxS, mxM float32
		for j := range scales {
			mxS, mxM = max(mxS, scales[j]), max(mxM, offs[j])
		}
		var iS, iM float32
		if mxS > 0 {
			iS = 63 / mxS
		}
		if mxM > 0 {
			iM = 63 / mxM
		}
		for j := range scales {
			ls[j] = uint8(min(nearestInt(iS*scales[j]), 63))
			lm[j] = uint8(min(nearestInt(iM*offs[j]), 63))
		}
		return ls, lm, mxS / 63, mxM / 63
	}
	sigma2 := 2 * sumSquares(x) / 256
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		importanceWeights(w[:], xs, imp[32*j:], sigma2)
		for _, v := range w {
			sw[j] += v
		}
		scales[j], offs[j] = affineScale(nmax, xs, w[:], L[32*j:32*j+32], aux[:], -0.9, 0.05, 36, false)
	}
	d = scaleScale(63, scales[:], ls[:], sw[:])
	dmin = scaleScale(63, offs[:], lm[:], sw[:])
	return ls, lm, d, dmin
}

// requantK redoes the integers of the eight 32-groups of a Q4_K or Q5_K block under their
// stored scales and offsets.
func requantK(nmax int, x []float32, L []uint8, ls, lm [8]uint8, d, dmin float32) {
	for j := 0; j < 8; j++ {
		dj := d * float32(ls[j])
		if dj == 0 {
			continue
		}
		mj := dmin * float32(lm[j])
		for i, v := range x[32*j : 32*j+32] {
			L[32*j+i] = uint8(min(max(nearestInt((v+mj)/dj), 0), nmax))
		}
	}
}

// encodeQ4K writes one block_q4_K.
func encodeQ4K(blk []byte, x, imp []float32) {
	var L [256]uint8
	ls, lm, d, dmin := kScalesMins(15, x, imp, L[:], -1, 0.1, 20)
	putF16(blk, d)
	putF16(blk[2:], dmin)
	packScaleMin6(blk[4:16], ls[:], lm[:])
	requantK(15, x, L[:], ls, lm, f16At(blk, 0), f16At(blk, 2))
	q := blk[16:144]
	for j := 0; j < 256; j += 64 {
		for l := 0; l < 32; l++ {
			q[j/2+l] = L[j+l] | L[j+l+32]<<4
		}
	}
}

// encodeQ5K writes one block_q5_K.
func encodeQ5K(blk []byte, x, imp []float32) {
	var L [256]uint8
	ls, lm, d, dmin := kScalesMins(31, x, imp, L[:], -0.5, 0.1, 15)
	putF16(blk, d)
	putF16(blk[2:], dmin)
	packScaleMin6(blk[4:16], ls[:], lm[:])
	requantK(31, x, L[:], ls, lm, f16At(blk, 0), f16At(blk, 2))
	qh, ql := blk[16:48], blk[48:176]
	clear(qh)
	m1, m2 := byte(1), byte(2)
	for n := 0; n < 256; n += 64 {
		for j := 0; j < 32; j++ {
			l1, l2 := L[n+j], L[n+j+32]
			if l1 > 15 {
				l1 -= 16
				qh[j] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[j] |= m2
			}
			ql[n/2+j] = l1 | l2<<4
		}
		m1 <<= 2
		m2 <<= 2
	}
}

// encodeQ6K writes one block_q6_K: sixteen groups of 16 six-bit values with int8 scales
// under one f16 super-scale.
func encodeQ6K(blk []byte, x, imp []float32) {
	var L [256]int8
	var scales [16]float32
	var mx, amax float32
	for ib := 0; ib < 16; ib++ {
		var w []float32
		if imp != nil {
			w = imp[16*ib : 16*ib+16]
		}
		scales[ib] = symScale(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16], w)
		if a := abs32(scales[ib]); a > amax {
			amax, mx = a, scales[ib]
		}
	}
	clear(blk)
	if amax < groupMaxEps {
		return
	}
	is := -128 / mx
	putF16(blk[208:], 1/is)
	sc := blk[192:208]
	for ib := range scales {
		sc[ib] = byte(int8(min(127, nearestInt(is*scales[ib]))))
	}
	d := f16At(blk, 208)
	for j := 0; j < 16; j++ {
		dj := d * float32(int8(sc[j]))
		if dj == 0 {
			continue
		}
		for i, v := range x[16*j : 16*j+16] {
			L[16*j+i] = int8(min(max(nearestInt(v/dj), -32), 31) + 32)
		}
	}
	ql, qh := blk[0:128], blk[128:192]
	for j := 0; j < 256; j += 128 {
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(L[j+l]), uint8(L[j+l+32]), uint8(L[j+l+64]), uint8(L[j+l+96])
			ql[j/2+l] = q1&15 | (q3&15)<<4
			ql[j/2+l+32] = q2&15 | (q4&15)<<4
			qh[j/4+l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}

// iq4Weights sets the error weights of one 32-group of the IQ4 types: importance-based with
// an importance matrix, x² without.
func iq4Weights(w, x, imp []float32, sigma2 float32) {
	if imp != nil {
		importanceWeights(w, x, imp, sigma2)
		return
	}
	for i, v := range x {
		w[i] = v * v
	}
}

// packNibbles32 stores 32 four-bit indices: values j and j+16 share byte j.
func packNibbles32(q []byte, L []uint8) {
	for j := 0; j < 16; j++ {
		q[j] = L[j] | L[j+16]<<4
	}
}

// encodeIQ4NL writes block_iq4_nl blocks: one f16 scale per 32 values on the non-linear grid.
func encodeIQ4NL(dst []byte, x, imp []float32) {
	var w [32]float32
	var L [32]uint8
	for b := 0; b < len(x)/32; b++ {
		xb, blk := x[b*32:b*32+32], dst[b*18:b*18+18]
		var ib []float32
		if imp != nil {
			ib = imp[b*32 : b*32+32]
		}
		iq4Weights(w[:], xb, ib, 2*sumSquares(xb)/32)
		d := iq4Scale(xb, w[:], L[:], 7)
		putF16(blk, d)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for j, v := range xb {
			L[j] = uint8(bestIndexIQ4(id * v))
		}
		packNibbles32(blk[2:18], L[:])
	}
}

// encodeIQ4XS writes one block_iq4_xs: eight 32-groups on the non-linear grid with signed
// 6-bit scales under one f16 super-scale.
func encodeIQ4XS(blk []byte, x, imp []float32) {
	var w [32]float32
	var L [256]uint8
	var scales [8]float32
	sigma2 := 2 * sumSquares(x) / 256
	var mx, amax float32
	for ib := 0; ib < 8; ib++ {
		xs := x[32*ib : 32*ib+32]
		var is []float32
		if imp != nil {
			is = imp[32*ib : 32*ib+32]
		}
		iq4Weights(w[:], xs, is, sigma2)
		scales[ib] = iq4Scale(xs, w[:], L[32*ib:32*ib+32], 7)
		if a := abs32(scales[ib]); a > amax {
			amax, mx = a, scales[ib]
		}
	}
	clear(blk)
	d := -mx / 32
	putF16(blk, d)
	var id float32
	if d != 0 {
		id = 1 / d
	}
	var sh uint16
	for ib := 0; ib < 8; ib++ {
		l := min(max(nearestInt(id*scales[ib]), -32), 31)
		dl := d * float32(l)
		var idl float32
		if dl != 0 {
			idl = 1 / dl
		}
		for j, v := range x[32*ib : 32*ib+32] {
			L[32*ib+j] = uint8(bestIndexIQ4(idl * v))
		}
		u := uint8(l + 32)
		blk[4+ib/2] |= (u & 15) << (4 * (ib % 2))
		sh |= uint16(u>>4) << (2 * ib)
		packNibbles32(blk[8+16*ib:8+16*ib+16], L[32*ib:32*ib+32])
	}
	binary.LittleEndian.PutUint16(blk[2:], sh)
}
