package tensor

import (
	"encoding/binary"
	"math"
)

// Unpacker returns the function that unpacks one block of type d into the form the
// kernel package multiplies with, or nil for the types with kernels of their own (and
// the scalar types). Each group of 16 weights becomes sc·q + mn: a float32 scale sc, a
// float32 offset mn and 16 integers q with |q| ≤ 127 (the i-quants' grid values with their
// signs; for IQ1_S and IQ1_M 8·grid ± 1, sc holding an eighth of the scale; for the rest
// the stored codes less their fixed offsets). q receives BlockSize values, sc and mn
// BlockSize/16 each. The values are those DecodeRow gives up to float rounding (exactly
// for all types but IQ1_S and IQ1_M, whose scale is applied in another order).
func Unpacker(d DType) func(q []int8, sc, mn []float32, blk []byte) {
	if !d.Valid() {
		return nil
	}
	return unpackers[d]
}

var unpackers = [nDTypes]func(q []int8, sc, mn []float32, blk []byte){
	Q4_1:    unpackQ4_1,
	Q5_0:    unpackQ5_0,
	Q5_1:    unpackQ5_1,
	Q2_K:    unpackQ2K,
	Q3_K:    unpackQ3K,
	Q5_K:    unpackQ5K,
	Q8_K:    unpackQ8K,
	IQ4_NL:  unpackIQ4NL,
	IQ4_XS:  unpackIQ4XS,
	IQ3_XXS: unpackIQ3XXS,
	IQ3_S:   unpackIQ3S,
	IQ2_XXS: unpackIQ2XXS,
	IQ2_XS:  unpackIQ2XS,
	IQ2_S:   unpackIQ2S,
	IQ1_S:   unpackIQ1S,
	IQ1_M:   unpackIQ1M,
	TQ1_0:   unpackTQ1_0,
	TQ2_0:   unpackTQ2_0,
}

// setGroups sets the scale and offset of every group of 16 of a block.
func setGroups(sc, mn []float32, s, m float32) {
	for g := range sc {
		sc[g], mn[g] = s, m
	}
}

func unpackQ4_1(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 0), f16At(blk, 2))
	for j := 0; j < 16; j++ {
		q[j], q[j+16] = int8(blk[4+j]&15), int8(blk[4+j]>>4)
	}
}

func unpackQ5_0(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 0), 0)
	qh := binary.LittleEndian.Uint32(blk[2:])
	for j := 0; j < 16; j++ {
		q[j] = int8(blk[6+j]&15|byte(qh>>j<<4)&0x10) - 16
		q[j+16] = int8(blk[6+j]>>4|byte(qh>>(j+12))&0x10) - 16
	}
}

func unpackQ5_1(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 0), f16At(blk, 2))
	qh := binary.LittleEndian.Uint32(blk[4:])
	for j := 0; j < 16; j++ {
		q[j] = int8(blk[8+j]&15 | byte(qh>>j<<4)&0x10)
		q[j+16] = int8(blk[8+j]>>4 | byte(qh>>(j+12))&0x10)
	}
}

func unpackQ2K(q []int8, sc, mn []float32, blk []byte) {
	scales, qs := blk[0:16], blk[16:80]
	d, dmin := f16At(blk, 80), f16At(blk, 82)
	for g := 0; g < 16; g++ { // group g: half h = g%2 of shift step (g/2)%4 of 128-half g/8
		s := scales[g]
		sc[g], mn[g] = d*float32(s&15), -(dmin * float32(s>>4))
		src := qs[32*(g/8)+16*(g%2):]
		shift := 2 * ((g / 2) % 4)
		for l := 0; l < 16; l++ {
			q[16*g+l] = int8(src[l] >> shift & 3)
		}
	}
}

func unpackQ3K(q []int8, sc, mn []float32, blk []byte) {
	hm, qs, s := blk[0:32], blk[32:96], blk[96:108]
	d := f16At(blk, 108)
	for g := 0; g < 16; g++ {
		v := s[g%8] & 15
		if g >= 8 {
			v = s[g-8] >> 4
		}
		v |= (s[8+g%4] >> (2 * (g / 4)) & 3) << 4
		sc[g], mn[g] = d*float32(int32(v)-32), 0
		step := g / 2 // 0..7: the shift step over both 128-halves
		src, h := qs[32*(g/8)+16*(g%2):], hm[16*(g%2):]
		shift, bit := 2*(step%4), byte(1)<<step
		for l := 0; l < 16; l++ {
			v := int8(src[l] >> shift & 3)
			if h[l]&bit == 0 {
				v -= 4
			}
			q[16*g+l] = v
		}
	}
}

func unpackQ5K(q []int8, sc, mn []float32, blk []byte) {
	d, dmin := f16At(blk, 0), f16At(blk, 2)
	scales, qh, ql := blk[4:16], blk[16:48], blk[48:176]
	for j := 0; j < 8; j++ {
		s, m := q4KScaleMin(j, scales)
		sc[2*j], sc[2*j+1] = d*float32(s), d*float32(s)
		mn[2*j], mn[2*j+1] = -(dmin * float32(m)), -(dmin * float32(m))
		src := ql[32*(j/2):]
		for l := 0; l < 32; l++ {
			v := src[l] & 15
			if j%2 == 1 {
				v = src[l] >> 4
			}
			v |= (qh[l] >> j & 1) << 4
			q[32*j+l] = int8(v)
		}
	}
}

func unpackQ8K(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, math.Float32frombits(binary.LittleEndian.Uint32(blk)), 0)
	for j := range q[:256] {
		q[j] = int8(blk[4+j])
	}
}

func unpackIQ4NL(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 0), 0)
	for j := 0; j < 16; j++ {
		q[j], q[j+16] = kvaluesIQ4NL[blk[2+j]&15], kvaluesIQ4NL[blk[2+j]>>4]
	}
}

func unpackIQ4XS(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	sh := binary.LittleEndian.Uint16(blk[2:])
	for ib := 0; ib < 8; ib++ {
		ls := int32(blk[4+ib/2]>>(4*(ib%2))&15) | int32(sh>>(2*ib)&3)<<4
		dl := d * float32(ls-32)
		sc[2*ib], sc[2*ib+1], mn[2*ib], mn[2*ib+1] = dl, dl, 0, 0
		qs := blk[8+16*ib:]
		for j := 0; j < 16; j++ {
			q[32*ib+j], q[32*ib+j+16] = kvaluesIQ4NL[qs[j]&15], kvaluesIQ4NL[qs[j]>>4]
		}
	}
}

// gridSigned writes the 8 (or 4) bytes of a grid entry to q, negating those whose bit in
// signs (from bit first on) is set.
func gridSigned(q []int8, g uint64, n int, signs byte, first int) {
	for j := 0; j < n; j++ {
		v := int8(byte(g >> (8 * j)))
		if signs>>(first+j)&1 != 0 {
			v = -v
		}
		q[j] = v
	}
}

func unpackIQ2XXS(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	for ib := 0; ib < 8; ib++ {
		a := blk[2+8*ib:]
		aux1 := binary.LittleEndian.Uint32(a[4:])
		db := d * (0.5 + float32(aux1>>28)) * 0.25
		sc[2*ib], sc[2*ib+1], mn[2*ib], mn[2*ib+1] = db, db, 0, 0
		for l := 0; l < 4; l++ {
			gridSigned(q[32*ib+8*l:], iq2xxsGrid[a[l]], 8, ksignsIQ2XS[aux1>>(7*l)&127], 0)
		}
	}
}

func unpackIQ2XS(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	s := blk[66:74]
	for ib := 0; ib < 8; ib++ {
		sc[2*ib], sc[2*ib+1] = d*(0.5+float32(s[ib]&15))*0.25, d*(0.5+float32(s[ib]>>4))*0.25
		mn[2*ib], mn[2*ib+1] = 0, 0
		for l := 0; l < 4; l++ {
			v := binary.LittleEndian.Uint16(blk[2+2*(4*ib+l):])
			gridSigned(q[32*ib+8*l:], iq2xsGrid[v&511], 8, ksignsIQ2XS[v>>9], 0)
		}
	}
}

func unpackIQ2S(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, signs, qh, s := blk[2:34], blk[34:66], blk[66:74], blk[74:82]
	for ib := 0; ib < 8; ib++ {
		sc[2*ib], sc[2*ib+1] = d*(0.5+float32(s[ib]&15))*0.25, d*(0.5+float32(s[ib]>>4))*0.25
		mn[2*ib], mn[2*ib+1] = 0, 0
		for l := 0; l < 4; l++ {
			idx := int(qs[4*ib+l]) | int(qh[ib])<<(8-2*l)&0x300
			gridSigned(q[32*ib+8*l:], iq2sGrid[idx], 8, signs[4*ib+l], 0)
		}
	}
}

func unpackIQ3XXS(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, ss := blk[2:66], blk[66:98]
	for ib := 0; ib < 8; ib++ {
		aux := binary.LittleEndian.Uint32(ss[4*ib:])
		db := d * (0.5 + float32(aux>>28)) * 0.5
		sc[2*ib], sc[2*ib+1], mn[2*ib], mn[2*ib+1] = db, db, 0, 0
		for l := 0; l < 4; l++ {
			signs := ksignsIQ2XS[aux>>(7*l)&127]
			gridSigned(q[32*ib+8*l:], uint64(iq3xxsGrid[qs[8*ib+2*l]]), 4, signs, 0)
			gridSigned(q[32*ib+8*l+4:], uint64(iq3xxsGrid[qs[8*ib+2*l+1]]), 4, signs, 4)
		}
	}
}

func unpackIQ3S(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	qs, qh, signs, s := blk[2:66], blk[66:74], blk[74:106], blk[106:110]
	for ib := 0; ib < 8; ib++ {
		db := d * float32(1+2*int32(s[ib/2]>>(4*(ib%2))&15))
		sc[2*ib], sc[2*ib+1], mn[2*ib], mn[2*ib+1] = db, db, 0, 0
		h := int(qh[ib])
		for l := 0; l < 4; l++ {
			g1 := iq3sGrid[int(qs[8*ib+2*l])|(h<<(8-2*l))&256]
			g2 := iq3sGrid[int(qs[8*ib+2*l+1])|(h<<(7-2*l))&256]
			gridSigned(q[32*ib+8*l:], uint64(g1), 4, signs[4*ib+l], 0)
			gridSigned(q[32*ib+8*l+4:], uint64(g2), 4, signs[4*ib+l], 4)
		}
	}
}

// iq1Grid writes 8·grid + shift for the 8 ternary values of an IQ1 grid entry (shift ±1,
// IQ1's ±1/8 delta times 8).
func iq1Grid(q []int8, g uint64, shift int8) {
	for j := 0; j < 8; j++ {
		q[j] = 8*int8(byte(g>>(8*j))) + shift
	}
}

func unpackIQ1S(q []int8, sc, mn []float32, blk []byte) {
	d := f16At(blk, 0)
	qs := blk[2:34]
	for ib := 0; ib < 8; ib++ {
		qh := binary.LittleEndian.Uint16(blk[34+2*ib:])
		dl := d * float32(2*int32(qh>>12&7)+1) * 0.125
		sc[2*ib], sc[2*ib+1], mn[2*ib], mn[2*ib+1] = dl, dl, 0, 0
		shift := int8(1)
		if qh&0x8000 != 0 {
			shift = -1
		}
		for l := 0; l < 4; l++ {
			iq1Grid(q[32*ib+8*l:], iq1sGrid[int(qs[4*ib+l])|int(qh>>(3*l)&7)<<8], shift)
		}
	}
}

func unpackIQ1M(q []int8, sc, mn []float32, blk []byte) {
	qs, qh := blk[0:32], blk[32:48]
	var s [4]uint16
	for i := range s {
		s[i] = binary.LittleEndian.Uint16(blk[48+2*i:])
	}
	d := F16ToF32(s[0]>>12 | s[1]>>8&0x00f0 | s[2]>>4&0x0f00 | s[3]&0xf000)
	for ib := 0; ib < 8; ib++ {
		v := s[ib/2] >> (6 * (ib % 2))
		sc[2*ib] = d * float32(2*int32(v&7)+1) * 0.125
		sc[2*ib+1] = d * float32(2*int32(v>>3&7)+1) * 0.125
		mn[2*ib], mn[2*ib+1] = 0, 0
		h0, h1 := int(qh[2*ib]), int(qh[2*ib+1])
		idx := [4]int{int(qs[4*ib]) | h0<<8&0x700, int(qs[4*ib+1]) | h0<<4&0x700, int(qs[4*ib+2]) | h1<<8&0x700, int(qs[4*ib+3]) | h1<<4&0x700}
		hb := [4]int{h0 & 0x08, h0 & 0x80, h1 & 0x08, h1 & 0x80}
		for l := 0; l < 4; l++ {
			shift := int8(1)
			if hb[l] != 0 {
				shift = -1
			}
			iq1Grid(q[32*ib+8*l:], iq1sGrid[idx[l]], shift)
		}
	}
}

func unpackTQ1_0(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 52), 0)
	pow3 := [5]byte{1, 3, 9, 27, 81}
	digit := func(b byte, n int) int8 { return int8(uint16(b*pow3[n])*3>>8) - 1 }
	y := 0
	for n := 0; n < 5; n++ {
		for m := 0; m < 32; m++ {
			q[y] = digit(blk[m], n)
			y++
		}
	}
	for n := 0; n < 5; n++ {
		for m := 0; m < 16; m++ {
			q[y] = digit(blk[32+m], n)
			y++
		}
	}
	for n := 0; n < 4; n++ {
		for j := 0; j < 4; j++ {
			q[y] = digit(blk[48+j], n)
			y++
		}
	}
}

func unpackTQ2_0(q []int8, sc, mn []float32, blk []byte) {
	setGroups(sc, mn, f16At(blk, 64), 0)
	y := 0
	for j := 0; j < 64; j += 32 {
		for l := 0; l < 4; l++ {
			for m := 0; m < 32; m++ {
				q[y] = int8(blk[j+m]>>(2*l)&3) - 1
				y++
			}
		}
	}
}

// IQ2XSGrid returns ggml's iq2xs_grid, the lattice of IQ2_XS: 512 entries of 8 byte values
// (each 8, 25 or 43), for the kernels that decode IQ2_XS blocks themselves.
func IQ2XSGrid() *[512]uint64 { return &iq2xsGrid }

// IQ2XXSGrid returns ggml's iq2xxs_grid (256 entries of 8 byte values: 8, 25 or 43), for
// the kernels that decode IQ2_XXS blocks themselves.
func IQ2XXSGrid() *[256]uint64 { return &iq2xxsGrid }

// IQ2SGrid returns ggml's iq2s_grid (1024 entries of 8 byte values), for the kernels that
// decode IQ2_S blocks themselves.
func IQ2SGrid() *[1024]uint64 { return &iq2sGrid }

// IQ1SGrid returns ggml's iq1s_grid (2048 entries of 8 byte values -1, 0, 1 as int8), for
// the kernels that decode IQ1_S and IQ1_M blocks themselves.
func IQ1SGrid() *[2048]uint64 { return &iq1sGrid }

// IQ3XXSGrid returns ggml's iq3xxs_grid (256 entries of 4 byte values, 4..62), for the
// kernels that decode IQ3_XXS blocks themselves.
func IQ3XXSGrid() *[256]uint32 { return &iq3xxsGrid }

// IQ3SGrid returns ggml's iq3s_grid (512 entries of 4 byte values, 1..15), for the kernels
// that decode IQ3_S blocks themselves.
func IQ3SGrid() *[512]uint32 { return &iq3sGrid }

// IQ2Signs64 returns, for each 7-bit sign index of the IQ2 and IQ3 types, the 8-bit sign
// pattern ggml's ksigns_iq2xs gives it spread to bytes: 0xff where the value is negated.
func IQ2Signs64() *[128]uint64 { return &iq2Signs64 }

var iq2Signs64 = func() (t [128]uint64) {
	for i, s := range ksignsIQ2XS {
		for j := 0; j < 8; j++ {
			if s>>j&1 != 0 {
				t[i] |= 0xff << (8 * j)
			}
		}
	}
	return t
}()
