package kernel

import (
	"encoding/binary"
	"math"

	"github.com/decilm/decilm/tensor"
)

// This file holds the plain Go version of every kernel. They are the reference the fast
// versions are tested against, and the path taken with the purego build tag or on CPUs
// without AVX2 and FMA.

// matMulGeneric is the float reference of MatMul for any weight type: each weight row is
// decoded to float32 once and dotted with all m rows of x.
func matMulGeneric(p *Pool, out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	p.Run(n, func(lo, hi int) {
		row := make([]float32, k)
		for j := lo; j < hi; j++ {
			_ = tensor.DecodeRow(row, data[j*rs:(j+1)*rs], dt)
			for i := 0; i < m; i++ {
				out[i*n+j] = dotGeneric(x[i*k:(i+1)*k], row)
			}
		}
	})
}

func dotGeneric(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGeneric(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// quantizeQ8Generic is the plain version of QuantizeQ8.
func quantizeQ8Generic(q []int8, d []float32, x []float32) {
	nb := len(x) / 32
	q = q[:nb*32]
	d = d[:nb]
	for b := 0; b < nb; b++ {
		xb := x[b*32 : b*32+32]
		var amax float32
		for _, v := range xb {
			if a := abs32(v); a > amax { // NaNs are skipped
				amax = a
			}
		}
		dd := amax / 127
		id := 1 / dd
		if math.IsInf(float64(id), 0) { // dd = 0, or so small that 1/dd overflows
			id = 0
		}
		d[b] = tensor.F16ToF32(tensor.F32ToF16(dd))
		qb := q[b*32 : b*32+32]
		for j, v := range xb {
			y := v * id
			if y != y { // NaN
				qb[j] = 0
				continue
			}
			qb[j] = int8(roundHalfAway(y))
		}
	}
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// roundHalfAway rounds to the nearest integer, halves away from zero (C's roundf).
func roundHalfAway(x float32) float32 { return float32(math.Round(float64(x))) }

// dotQuantGeneric is the plain version of the quantized dot product used for Q8_0 and Q4_0
// weights: w holds nb blocks of type dt, xq and xd the quantized activations. Each
// block's product is an exact integer sum, scaled by the weight scale times the activation
// scale.
func dotQuantGeneric(w []byte, dt tensor.DType, xq []int8, xd []float32, nb int) float32 {
	var sum float32
	for b := 0; b < nb; b++ {
		xb := xq[b*32 : b*32+32]
		var isum int32
		var blk []byte
		if dt == tensor.Q8_0 {
			blk = w[b*34 : b*34+34]
			for j := 0; j < 32; j++ {
				isum += int32(int8(blk[2+j])) * int32(xb[j])
			}
		} else {
			blk = w[b*18 : b*18+18]
			for j := 0; j < 16; j++ {
				v := blk[2+j]
				isum += (int32(v&15) - 8) * int32(xb[j])
				isum += (int32(v>>4) - 8) * int32(xb[j+16])
			}
		}
		dw := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
		sum += float32(isum) * (dw * xd[b])
	}
	return sum
}

// matMulQuantGeneric is the plain version of MatMul for Q8_0, Q4_0, Q4_K and Q6_K weights, on
// activations already quantized by QuantizeQ8.
func matMulQuantGeneric(p *Pool, out []float32, xq []int8, xd []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	nb := k / 32
	p.Run(n, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			row := data[j*rs : (j+1)*rs]
			for i := 0; i < m; i++ {
				xqi, xdi := xq[i*k:(i+1)*k], xd[i*nb:(i+1)*nb]
				switch dt {
				case tensor.Q6_K:
					out[i*n+j] = dotQ6KGeneric(row, xqi, xdi, k/256)
				case tensor.Q4_K:
					out[i*n+j] = dotQ4KGeneric(row, xqi, xdi, k/256)
				default:
					out[i*n+j] = dotQuantGeneric(row, dt, xqi, xdi, nb)
				}
			}
		}
	})
}

// dotQ6KGeneric is the plain version of the Q6_K dot product with quantized activations:
// w holds nsb super-blocks (ggml block_q6_K: ql[128], qh[64], int8 scales[16], f16 d).
// Each group of 16 weights shares a scale; its product with x is an exact integer sum,
// scaled by d·scale·(the activation block's scale).
func dotQ6KGeneric(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var sum float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*210 : sb*210+210]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
		for h := 0; h < 2; h++ {
			ql, qh, sc := blk[64*h:], blk[128+32*h:], blk[192+8*h:]
			for t := 0; t < 4; t++ {
				b := sb*8 + 4*h + t // the block of x these 32 weights meet
				xb := xq[b*32 : b*32+32]
				var isum [2]int32
				for l := 0; l < 32; l++ {
					var u byte
					switch t {
					case 0:
						u = ql[l]&15 | (qh[l]&3)<<4
					case 1:
						u = ql[l+32]&15 | (qh[l]>>2&3)<<4
					case 2:
						u = ql[l]>>4 | (qh[l]>>4&3)<<4
					case 3:
						u = ql[l+32]>>4 | (qh[l]>>6&3)<<4
					}
					isum[l/16] += (int32(u) - 32) * int32(xb[l])
				}
				for g := 0; g < 2; g++ {
					sum += float32(isum[g]) * ((float32(int8(sc[2*t+g])) * d) * xd[b])
				}
			}
		}
	}
	return sum
}

func rmsNormGeneric(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

func softmaxGeneric(x []float32) {
	if len(x) == 0 {
		return
	}
	max := x[0]
	for _, v := range x[1:] {
		if v > max {
			max = v
		}
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - max)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

func siluMulGeneric(out, gate, up []float32) {
	for i, g := range gate {
		out[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// weightAt decodes element l of a row of a scalar float type (F32, BF16 or F16).
func weightAt(row []byte, dt tensor.DType, l int) float32 {
	switch dt {
	case tensor.F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(row[4*l:]))
	case tensor.BF16:
		return tensor.BF16ToF32(binary.LittleEndian.Uint16(row[2*l:]))
	default:
		return tensor.F16ToF32(binary.LittleEndian.Uint16(row[2*l:]))
	}
}

// q4KScaleMin unpacks the 6-bit scale and min of sub-block j from the 12 bytes of a
// block_q4_K (ggml's get_scale_min_k4).
func q4KScaleMin(j int, q []byte) (sc, m byte) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&15 | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// dotQ4KGeneric is the plain version of the Q4_K dot product with quantized activations:
// w holds nsb super-blocks (ggml block_q4_K: f16 d, f16 dmin, 12 bytes of packed 6-bit
// scales and mins, 128 bytes of nibbles). Weight e of sub-block j is d·sc_j·q_e -
// dmin·m_j; with the activations' block j (scale dx_j, values x), the product is
// d·sc_j·dx_j·Σ q·x - dmin·m_j·dx_j·Σ x, the sums exact integers.
func dotQ4KGeneric(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var sum, msum float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*144 : sb*144+144]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk[0:]))
		dmin := tensor.F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
		for j := 0; j < 8; j++ {
			sc, m := q4KScaleMin(j, blk[4:16])
			b := sb*8 + j
			xb := xq[b*32 : b*32+32]
			qs := blk[16+32*(j/2):]
			var isum, sx int32
			for l := 0; l < 32; l++ {
				q := qs[l] & 15
				if j%2 == 1 {
					q = qs[l] >> 4
				}
				isum += int32(q) * int32(xb[l])
				sx += int32(xb[l])
			}
			sum += float32(isum) * (float32(sc) * d * xd[b])
			msum += dmin * (float32(m) * (xd[b] * float32(sx)))
		}
	}
	return sum - msum
}
