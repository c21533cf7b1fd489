package tensor

import (
	"encoding/binary"
	"math"
)

//go:generate go run ./internal/gengrid -header ${LLAMA_CPP}/ggml/src/ggml-common.h -quants ${LLAMA_CPP}/ggml/src/ggml-quants.c -out iqgrids.go

// This file decodes the block types of quantized GGUF files beyond Q8_0, Q4_0, Q4_K and
// Q6_K, one block at a time, with the arithmetic of llama.cpp's dequantize_row_* (the same
// float32 operations in the same order, so that the results have the same bits). The
// i-quants' grids and value tables are in iqgrids.go, generated from llama.cpp's sources.

// blockDecoders decodes one block of each type into BlockSize float32 values.
var blockDecoders = [nDTypes]func(dst []float32, blk []byte){
	Q4_1:    decodeQ4_1,
	Q5_0:    decodeQ5_0,
	Q5_1:    decodeQ5_1,
	Q2_K:    decodeQ2K,
	Q3_K:    decodeQ3K,
	Q5_K:    decodeQ5K,
	Q8_K:    decodeQ8K,
	IQ4_NL:  decodeIQ4NL,
	IQ4_XS:  decodeIQ4XS,
	IQ3_XXS: decodeIQ3XXS,
	IQ3_S:   decodeIQ3S,
	IQ2_XXS: decodeIQ2XXS,
	IQ2_XS:  decodeIQ2XS,
	IQ2_S:   decodeIQ2S,
	IQ1_S:   decodeIQ1S,
	IQ1_M:   decodeIQ1M,
	TQ1_0:   decodeTQ1_0,
	TQ2_0:   decodeTQ2_0,
}

func f16At(b []byte, off int) float32 { return F16ToF32(binary.LittleEndian.Uint16(b[off:])) }

// decodeQ4_1 decodes block_q4_1: f16 d, f16 m, qs[16].
func decodeQ4_1(dst []float32, blk []byte) {
	d, m := f16At(blk, 0), f16At(blk, 2)
	qs := blk[4:20]
	for j := 0; j < 16; j++ {
		dst[j] = float32(qs[j]&15)*d + m
		dst[j+16] = float32(qs[j]>>4)*d + m
	}
}

// decodeQ5_0 decodes block_q5_0: f16 d, qh[4], qs[16].
func decodeQ5_0(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qh := binary.LittleEndian.Uint32(blk[2:])
	qs := blk[6:22]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		dst[j] = float32(int32(qs[j]&15|h0)-16) * d
		dst[j+16] = float32(int32(qs[j]>>4|h1)-16) * d
	}
}

// decodeQ5_1 decodes block_q5_1: f16 d, f16 m, qh[4], qs[16].
func decodeQ5_1(dst []float32, blk []byte) {
	d, m := f16At(blk, 0), f16At(blk, 2)
	qh := binary.LittleEndian.Uint32(blk[4:])
	qs := blk[8:24]
	for j := 0; j < 16; j++ {
		h0 := byte(qh>>j<<4) & 0x10
		h1 := byte(qh>>(j+12)) & 0x10
		dst[j] = float32(qs[j]&15|h0)*d + m
		dst[j+16] = float32(qs[j]>>4|h1)*d + m
	}
}

// decodeQ2K decodes block_q2_K: scales[16], qs[64], f16 d, f16 dmin.
func decodeQ2K(dst []float32, blk []byte) {
	sc, q := blk[0:16], blk[16:80]
	d, dmin := f16At(blk, 80), f16At(blk, 82)
	y, is := 0, 0
	for n := 0; n < 256; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for h := 0; h < 2; h++ {
				s := sc[is]
				is++
				dl, ml := d*float32(s&15), dmin*float32(s>>4)
				for l := 0; l < 16; l++ {
					dst[y] = dl*float32(q[l+16*h]>>shift&3) - ml
					y++
				}
			}
		}
		q = q[32:]
	}
}

// q3KScales unpacks the sixteen 6-bit scales of a block_q3_K (less 32).
func q3KScales(s []byte) (out [16]int32) {
	for j := 0; j < 16; j++ {
		var v byte
		if j < 8 {
			v = s[j] & 15
		} else {
			v = s[j-8] >> 4
		}
		v |= (s[8+j%4] >> (2 * (j / 4)) & 3) << 4
		out[j] = int32(v) - 32
	}
	return out
}

// decodeQ3K decodes block_q3_K: hmask[32], qs[64], scales[12], f16 d.
func decodeQ3K(dst []float32, blk []byte) {
	hm, q := blk[0:32], blk[32:96]
	scales := q3KScales(blk[96:108])
	d := f16At(blk, 108)
	y, is := 0, 0
	m := byte(1)
	for n := 0; n < 256; n += 128 {
		for shift := 0; shift < 8; shift += 2 {
			for h := 0; h < 2; h++ {
				dl := d * float32(scales[is])
				is++
				for l := 0; l < 16; l++ {
					v := int32(q[l+16*h] >> shift & 3)
					if hm[l+16*h]&m == 0 {
						v -= 4
					}
					dst[y] = dl * float32(v)
					y++
				}
			}
			m <<= 1
		}
		q = q[32:]
	}
}

// decodeQ5K decodes block_q5_K: f16 d, f16 dmin, scales[12], qh[32], qs[128].
func decodeQ5K(dst []float32, blk []byte) {
	d, dmin := f16At(blk, 0), f16At(blk, 2)
	scales, qh, ql := blk[4:16], blk[16:48], blk[48:176]
	u1, u2 := byte(1), byte(2)
	y := 0
	for j := 0; j < 8; j += 2 {
		sc, m := q4KScaleMin(j, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = q4KScaleMin(j+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		for l := 0; l < 32; l++ {
			v := ql[l] & 15
			if qh[l]&u1 != 0 {
				v += 16
			}
			dst[y+l] = d1*float32(v) - m1
		}
		for l := 0; l < 32; l++ {
			v := ql[l] >> 4
			if qh[l]&u2 != 0 {
				v += 16
			}
			dst[y+32+l] = d2*float32(v) - m2
		}
		y += 64
		ql = ql[32:]
		u1 <<= 2
		u2 <<= 2
	}
}

// decodeQ8K decodes block_q8_K: f32 d, qs[256] (the bsums that follow are not needed).
func decodeQ8K(dst []float32, blk []byte) {
	d := math.Float32frombits(binary.LittleEndian.Uint32(blk))
	for j := 0; j < 256; j++ {
		dst[j] = d * float32(int8(blk[4+j]))
	}
}

// decodeIQ4NL decodes block_iq4_nl: f16 d, qs[16].
func decodeIQ4NL(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	for j := 0; j < 16; j++ {
		q := blk[2+j]
		dst[j] = d * float32(kvaluesIQ4NL[q&15])
		dst[j+16] = d * float32(kvaluesIQ4NL[q>>4])
	}
}

// iq4XSScale returns the 6-bit scale (less 32) of sub-block ib of a block_iq4_xs.
func iq4XSScale(blk []byte, ib int) int32 {
	sh := binary.LittleEndian.Uint16(blk[2:])
	ls := int32(blk[4+ib/2]>>(4*(ib%2))&15) | int32(sh>>(2*ib)&3)<<4
	return ls - 32
}

// decodeIQ4XS decodes block_iq4_xs: f16 d, u16 scales_h, scales_l[4], qs[128].
func decodeIQ4XS(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs := blk[8:136]
	for ib := 0; ib < 8; ib++ {
		dl := d * float32(iq4XSScale(blk, ib))
		for j := 0; j < 16; j++ {
			q := qs[16*ib+j]
			dst[32*ib+j] = dl * float32(kvaluesIQ4NL[q&15])
			dst[32*ib+j+16] = dl * float32(kvaluesIQ4NL[q>>4])
		}
	}
}

// gridByte returns byte j (0..7) of a grid entry, as ggml reads a uint64 or uint32 grid
// entry as bytes on a little-endian machine.
func gridByte(g uint64, j int) byte { return byte(g >> (8 * j)) }

// signed returns v, negated when bit j of the sign mask is set.
func signed(v float32, signs byte, j int) float32 {
	if signs&(1<<j) != 0 {
		return -v
	}
	return v
}

// decodeIQ2XXS decodes block_iq2_xxs: f16 d, qs[32] as uint16 (eight 8-byte groups of
// four grid indices and a word of signs and scale).
func decodeIQ2XXS(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs := blk[2:66]
	for ib := 0; ib < 8; ib++ {
		aux0 := qs[8*ib : 8*ib+4]
		aux1 := binary.LittleEndian.Uint32(qs[8*ib+4:])
		db := d * (0.5 + float32(aux1>>28)) * 0.25
		for l := 0; l < 4; l++ {
			g := iq2xxsGrid[aux0[l]]
			signs := ksignsIQ2XS[aux1>>(7*l)&127]
			for j := 0; j < 8; j++ {
				dst[32*ib+8*l+j] = signed(db*float32(gridByte(g, j)), signs, j)
			}
		}
	}
}

// decodeIQ2XS decodes block_iq2_xs: f16 d, qs[32] uint16 (9-bit grid index, 7-bit
// signs), scales[8].
func decodeIQ2XS(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	sc := blk[66:74]
	for ib := 0; ib < 8; ib++ {
		db := [2]float32{d * (0.5 + float32(sc[ib]&15)) * 0.25, d * (0.5 + float32(sc[ib]>>4)) * 0.25}
		for l := 0; l < 4; l++ {
			q := binary.LittleEndian.Uint16(blk[2+2*(4*ib+l):])
			g := iq2xsGrid[q&511]
			signs := ksignsIQ2XS[q>>9]
			for j := 0; j < 8; j++ {
				dst[32*ib+8*l+j] = signed(db[l/2]*float32(gridByte(g, j)), signs, j)
			}
		}
	}
}

// decodeIQ2S decodes block_iq2_s: f16 d, qs[64] (32 grid indices, then 32 sign bytes),
// qh[8], scales[8].
func decodeIQ2S(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, signs, qh, sc := blk[2:34], blk[34:66], blk[66:74], blk[74:82]
	for ib := 0; ib < 8; ib++ {
		db := [2]float32{d * (0.5 + float32(sc[ib]&15)) * 0.25, d * (0.5 + float32(sc[ib]>>4)) * 0.25}
		for l := 0; l < 4; l++ {
			idx := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
			g := iq2sGrid[idx]
			s := signs[4*ib+l]
			for j := 0; j < 8; j++ {
				dst[32*ib+8*l+j] = signed(db[l/2]*float32(gridByte(g, j)), s, j)
			}
		}
	}
}

// decodeIQ3XXS decodes block_iq3_xxs: f16 d, qs[64] grid indices, then 8 words of signs
// and scales.
func decodeIQ3XXS(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, ss := blk[2:66], blk[66:98]
	for ib := 0; ib < 8; ib++ {
		aux := binary.LittleEndian.Uint32(ss[4*ib:])
		db := d * (0.5 + float32(aux>>28)) * 0.5
		for l := 0; l < 4; l++ {
			signs := ksignsIQ2XS[aux>>(7*l)&127]
			g1 := uint64(iq3xxsGrid[qs[8*ib+2*l]])
			g2 := uint64(iq3xxsGrid[qs[8*ib+2*l+1]])
			for j := 0; j < 4; j++ {
				dst[32*ib+8*l+j] = signed(db*float32(gridByte(g1, j)), signs, j)
				dst[32*ib+8*l+j+4] = signed(db*float32(gridByte(g2, j)), signs, j+4)
			}
		}
	}
}

// decodeIQ3S decodes block_iq3_s: f16 d, qs[64], qh[8], signs[32], scales[4].
func decodeIQ3S(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, qh, signs, sc := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
	for ib := 0; ib < 8; ib++ {
		s := sc[ib/2] >> (4 * (ib % 2)) & 15
		db := d * float32(1+2*int32(s))
		h := int(qh[ib])
		for l := 0; l < 4; l++ {
			g1 := uint64(iq3sGrid[int(qs[8*ib+2*l])|(h<<(8-2*l))&256])
			g2 := uint64(iq3sGrid[int(qs[8*ib+2*l+1])|(h<<(7-2*l))&256])
			sg := signs[4*ib+l]
			for j := 0; j < 4; j++ {
				dst[32*ib+8*l+j] = signed(db*float32(gridByte(g1, j)), sg, j)
				dst[32*ib+8*l+j+4] = signed(db*float32(gridByte(g2, j)), sg, j+4)
			}
		}
	}
}

// iq1Delta is ggml's IQ1S_DELTA (and IQ1M_DELTA).
const iq1Delta = 0.125

// decodeIQ1S decodes block_iq1_s: f16 d, qs[32], qh[8] as uint16.
func decodeIQ1S(dst []float32, blk []byte) {
	d := f16At(blk, 0)
	qs := blk[2:34]
	for ib := 0; ib < 8; ib++ {
		qh := binary.LittleEndian.Uint16(blk[34+2*ib:])
		dl := d * float32(2*int32(qh>>12&7)+1)
		delta := float32(iq1Delta)
		if qh&0x8000 != 0 {
			delta = -iq1Delta
		}
		for l := 0; l < 4; l++ {
			g := iq1sGrid[int(qs[4*ib+l])|int(qh>>(3*l)&7)<<8]
			for j := 0; j < 8; j++ {
				dst[32*ib+8*l+j] = dl * (float32(int8(gridByte(g, j))) + delta)
			}
		}
	}
}

// decodeIQ1M decodes block_iq1_m: qs[32], qh[16], scales[8] (3-bit sub-block scales and,
// in the top nibbles of its four uint16, the f16 super-block scale).
func decodeIQ1M(dst []float32, blk []byte) {
	qs, qh := blk[0:32], blk[32:48]
	var sc [4]uint16
	for i := range sc {
		sc[i] = binary.LittleEndian.Uint16(blk[48+2*i:])
	}
	d := F16ToF32(sc[0]>>12 | sc[1]>>8&0x00f0 | sc[2]>>4&0x0f00 | sc[3]&0xf000)
	for ib := 0; ib < 8; ib++ {
		s := sc[ib/2] >> (6 * (ib % 2))
		dl1 := d * float32(2*int32(s&7)+1)
		dl2 := d * float32(2*int32(s>>3&7)+1)
		h0, h1 := int(qh[2*ib]), int(qh[2*ib+1])
		idx := [4]int{
			int(qs[4*ib]) | h0<<8&0x700, int(qs[4*ib+1]) | h0<<4&0x700,
			int(qs[4*ib+2]) | h1<<8&0x700, int(qs[4*ib+3]) | h1<<4&0x700,
		}
		hb := [4]int{h0 & 0x08, h0 & 0x80, h1 & 0x08, h1 & 0x80}
		for l := 0; l < 4; l++ {
			delta := float32(iq1Delta)
			if hb[l] != 0 {
				delta = -iq1Delta
			}
			dl := dl1
			if l >= 2 {
				dl = dl2
			}
			g := iq1sGrid[idx[l]]
			for j := 0; j < 8; j++ {
				dst[32*ib+8*l+j] = dl * (float32(int8(gridByte(g, j))) + delta)
			}
		}
	}
}

// tq1Digit returns base-3 digit n (0..4, most significant first) of a block_tq1_0 byte,
// as a value in {-1, 0, 1}: ggml stores the digits scaled to a fixed-point fraction.
func tq1Digit(q byte, n int) int32 {
	pow3 := [5]byte{1, 3, 9, 27, 81}
	p := q * pow3[n] // wraps, as uint8 arithmetic does in C
	return int32(uint16(p)*3>>8) - 1
}

// decodeTQ1_0 decodes block_tq1_0: qs[48] (5 weights a byte), qh[4] (4 weights a byte),
// f16 d.
func decodeTQ1_0(dst []float32, blk []byte) {
	qs, qh := blk[0:48], blk[48:52]
	d := f16At(blk, 52)
	y := 0
	for n := 0; n < 5; n++ {
		for m := 0; m < 32; m++ {
			dst[y] = float32(tq1Digit(qs[m], n)) * d
			y++
		}
	}
	for n := 0; n < 5; n++ {
		for m := 0; m < 16; m++ {
			dst[y] = float32(tq1Digit(qs[32+m], n)) * d
			y++
		}
	}
	for n := 0; n < 4; n++ {
		for j := 0; j < 4; j++ {
			dst[y] = float32(tq1Digit(qh[j], n)) * d
			y++
		}
	}
}

// decodeTQ2_0 decodes block_tq2_0: qs[64] (2 bits a weight, value q-1), f16 d.
func decodeTQ2_0(dst []float32, blk []byte) {
	d := f16At(blk, 64)
	y := 0
	for j := 0; j < 64; j += 32 {
		for l := 0; l < 4; l++ {
			for m := 0; m < 32; m++ {
				dst[y] = float32(int32(blk[j+m]>>(2*l)&3)-1) * d
				y++
			}
		}
	}
}
