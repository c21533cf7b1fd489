package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BF16ToF32 widens a bfloat16 bit pattern to float32 (exact).
func BF16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// F32ToBF16 rounds f to the nearest bfloat16, ties to even; NaN stays NaN.
func F32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 { // NaN: keep it quiet, keep the sign
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + ((u >> 16) & 1)
	return uint16(u >> 16)
}

// F16ToF32 widens an IEEE binary16 bit pattern to float32 (exact, subnormals included).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch exp {
	case 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: value = man * 2^-24
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	case 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// F32ToF16 rounds f to the nearest binary16, ties to even, with overflow to infinity and
// gradual underflow, as numpy and ggml do.
func F32ToF16(f float32) uint16 {
	u := math.Float32bits(f)
	sign := uint16(u>>16) & 0x8000
	exp := int32(u>>23) & 0xff
	man := u & 0x7fffff
	if exp == 0xff { // inf or NaN
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		man |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		rest := man & ((1 << shift) - 1)
		r := man >> shift
		if rest > half || (rest == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rest := man & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the right answer
	}
	return sign | uint16(r)
}

// DecodeRow converts the first len(dst) elements stored in src (type d, starting at a block
// boundary) to float32. It is the plain reference that the kernel package's fast paths are
// tested against.
func DecodeRow(dst []float32, src []byte, d DType) error {
	n := len(dst)
	need, err := d.RowBytes(n)
	if err != nil {
		return err
	}
	if len(src) < need {
		return fmt.Errorf("decode %d %s elements: have %d bytes, need %d", n, d, len(src), need)
	}
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case Q8_0:
		for b := 0; b < n/32; b++ {
			blk := src[b*34:]
			s := F16ToF32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < 32; j++ {
				dst[b*32+j] = s * float32(int8(blk[2+j]))
			}
		}
	case Q4_0:
		for b := 0; b < n/32; b++ {
			blk := src[b*18:]
			s := F16ToF32(binary.LittleEndian.Uint16(blk))
			for j := 0; j < 16; j++ {
				q := blk[2+j]
				dst[b*32+j] = s * float32(int(q&0x0f)-8)
				dst[b*32+j+16] = s * float32(int(q>>4)-8)
			}
		}
	case Q4_K:
		for b := 0; b < n/256; b++ {
			decodeQ4K(dst[b*256:b*256+256], src[b*144:b*144+144])
		}
	case Q6_K:
		for b := 0; b < n/256; b++ {
			decodeQ6K(dst[b*256:b*256+256], src[b*210:b*210+210])
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	default:
		dec := blockDecoders[d]
		if dec == nil {
			return fmt.Errorf("decode: unsupported data type %s", d)
		}
		bs, bb := d.BlockSize(), d.BlockBytes()
		for b := 0; b < n/bs; b++ {
			dec(dst[b*bs:b*bs+bs], src[b*bb:b*bb+bb])
		}
	}
	return nil
}

// q4KScaleMin unpacks the 6-bit scale and min of sub-block j from ggml's 12-byte packing.
func q4KScaleMin(j int, q []byte) (uint8, uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	sc := (q[j+4] & 0xf) | ((q[j-4] >> 6) << 4)
	m := (q[j+4] >> 4) | ((q[j] >> 6) << 4)
	return sc, m
}

// decodeQ4K decodes one ggml block_q4_K: f16 d, f16 dmin, 12 bytes scales, 128 bytes qs.
func decodeQ4K(dst []float32, blk []byte) {
	d := F16ToF32(binary.LittleEndian.Uint16(blk[0:]))
	dmin := F16ToF32(binary.LittleEndian.Uint16(blk[2:]))
	scales := blk[4:16]
	qs := blk[16:144]
	is := 0
	out := 0
	for j := 0; j < 256; j += 64 {
		sc, m := q4KScaleMin(is, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = q4KScaleMin(is+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := 0; l < 32; l++ {
			dst[out+l] = d1*float32(qs[l]&0xf) - m1
		}
		for l := 0; l < 32; l++ {
			dst[out+32+l] = d2*float32(qs[l]>>4) - m2
		}
		out += 64
		qs = qs[32:]
		is += 2
	}
}

// decodeQ6K decodes one ggml block_q6_K: 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d.
func decodeQ6K(dst []float32, blk []byte) {
	ql := blk[0:128]
	qh := blk[128:192]
	sc := blk[192:208]
	d := F16ToF32(binary.LittleEndian.Uint16(blk[208:]))
	for n := 0; n < 256; n += 128 {
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int8((ql[l]&0xf)|((qh[l]>>0)&3)<<4) - 32
			q2 := int8((ql[l+32]&0xf)|((qh[l]>>2)&3)<<4) - 32
			q3 := int8((ql[l]>>4)|((qh[l]>>4)&3)<<4) - 32
			q4 := int8((ql[l+32]>>4)|((qh[l]>>6)&3)<<4) - 32
			dst[n+l] = d * float32(int8(sc[is])) * float32(q1)
			dst[n+l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			dst[n+l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			dst[n+l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
		ql = ql[64:]
		qh = qh[32:]
		sc = sc[8:]
	}
}

// EncodeRow stores src in type d (any type Encodable reports) into dst, which must have
// exactly RowBytes(len(src)) bytes. Q8_0 and Q4_0 follow ggml's reference quantizers
// (quantize_row_q8_0_ref, quantize_row_q4_0_ref), so files we write match llama.cpp's; the
// other block types are EncodeRowWeighted without importances.
func EncodeRow(dst []byte, src []float32, d DType) error {
	n := len(src)
	need, err := d.RowBytes(n)
	if err != nil {
		return err
	}
	if len(dst) != need {
		return fmt.Errorf("encode %d %s elements: have %d bytes, need %d", n, d, len(dst), need)
	}
	switch d {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
		}
	case Q8_0:
		for b := 0; b < n/32; b++ {
			x := src[b*32 : b*32+32]
			blk := dst[b*34 : b*34+34]
			var amax float32
			for _, v := range x {
				if a := abs32(v); a > amax {
					amax = a
				}
			}
			dd := amax / 127
			var id float32
			if dd != 0 {
				id = 1 / dd
			}
			binary.LittleEndian.PutUint16(blk, F32ToF16(dd))
			for j, v := range x {
				blk[2+j] = byte(int8(roundHalfAway(v * id)))
			}
		}
	case Q4_0:
		for b := 0; b < n/32; b++ {
			x := src[b*32 : b*32+32]
			blk := dst[b*18 : b*18+18]
			var amax, max float32
			for _, v := range x {
				if a := abs32(v); a > amax {
					amax = a
					max = v
				}
			}
			dd := max / -8
			var id float32
			if dd != 0 {
				id = 1 / dd
			}
			binary.LittleEndian.PutUint16(blk, F32ToF16(dd))
			for j := 0; j < 16; j++ {
				x0 := x[j]*id + 8.5
				x1 := x[j+16]*id + 8.5
				q0 := int(x0)
				q1 := int(x1)
				if q0 > 15 {
					q0 = 15
				}
				if q1 > 15 {
					q1 = 15
				}
				blk[2+j] = byte(q0) | byte(q1)<<4
			}
		}
	default:
		if Encodable(d) {
			return EncodeRowWeighted(dst, src, d, nil) // quant_k.go
		}
		return fmt.Errorf("encode: unsupported data type %s", d)
	}
	return nil
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// roundHalfAway rounds to the nearest integer, halves away from zero (C's roundf).
func roundHalfAway(x float32) float32 {
	return float32(math.Round(float64(x)))
}
