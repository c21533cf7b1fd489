package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Q3_K weights laid out by Pool.Pack in groups of 8 rows (package kernel's packQ3KGroup),
// 880 bytes per super-block of a group (the 8 rows' 8·110 bytes, rearranged). With
// u = q + 4 = low + 4·high (0..7) for each value (q = -4..3, low its 2 bits in qs, high
// its bit in hmask), the 32 bytes of a value vector hold, in row r's int32 lane, values
// 4z..4z+3 of a block, a byte each:
//
//	0:   for p < 2, the vectors at 256p+32z: u of block p in bits 0-2, of block 2+p in
//	     bits 3-5, the low 2 bits of block 4+p's in bits 6-7
//	512: the vectors at 512+32z: u of block 6 in bits 0-2, of block 7 in bits 3-5, the
//	     high bits of blocks 4 and 5 in bits 6 and 7
//	768: scale bytes 0..7 (low nibbles of scales s and s+8 in byte s): byte s of row r at
//	     768+16(s/2)+2r+s%2
//	832: scale bytes 8..11 (bits 4-5 of scale s in bits 2(s/4), 2(s/4)+1 of byte 8+s%4):
//	     byte 8+i of row r at 832+16(i/2)+2r+i%2
//	864: the 8 rows' d (float16)
//
// so blocks 0, 1, 6 cost one AND a vector, 2, 3, 7 a shift and an AND, 4 and 5 two
// shifts, two ANDs and an OR. The value has the scale sc - 32 of its 16 (sc the 6-bit
// scale). Block b's two scales of row r sit side by side as the bytes 2r, 2r+1 of a
// 16-byte row at 768+16(b%4) (low nibbles, the high ones for b ≥ 4) and 832+16(b%2)
// (high bits, at 2(b/2)), so that one VPMOVZXBW of each gives the 8 rows' scale pairs as
// int16, one row a dword lane.
const (
	q3kpSB  = 880 // bytes per super-block of a group
	q3kpB   = 512 // offset of the vectors of blocks 6 and 7 in a super-block
	q3kpSL  = 768 // of the scales' low nibbles
	q3kpSH  = 832 // of their high bits
	q3kpD   = 864 // of d
	q6kpBlk = 384 // bytes per block of 32 unpacked by q3KPUnpack (the q6KPBlock format)
	// prefetchQ3KP is how far ahead in a group dotQ3KP_vec8 prefetches.
	prefetchQ3KP = 2 * q3kpSB
)

var q3DupLo, q3DupHi, q3M03, q3M04, q3C28, q3W0f, q3W30, q3W32 Mem

func q3kpConsts() {
	if q3DupLo.Symbol.Name != "" {
		return
	}
	// VPSHUFB controls that copy word 0 (q3DupLo) or word 1 (q3DupHi) of each dword to
	// both of its words.
	q3DupLo = GLOBL("kp_q3duplo", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{0, 1, 0, 1}[i%4]))
	}
	q3DupHi = GLOBL("kp_q3duphi", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{2, 3, 2, 3}[i%4]))
	}
	byteConst := func(name string, v byte) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		for i := 0; i < 32; i++ {
			DATA(i, U8(v))
		}
		return m
	}
	wordConst := func(name string, v uint16) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		for i := 0; i < 16; i++ {
			DATA(2*i, U16(v))
		}
		return m
	}
	q3M03 = byteConst("kp_m03", 0x03)
	q3M04 = byteConst("kp_m04", 0x04)
	q3C28 = byteConst("kp_c28", 28)
	q3W0f = wordConst("kp_w0f", 0x0f)
	q3W30 = wordConst("kp_w30", 0x30)
	q3W32 = wordConst("kp_w32", 32)
}

// q3kpScales returns the scale pairs of block b of the super-block at w: in row r's dword
// lane, scales 2b and 2b+1 less 32 as int16.
func q3kpScales(w Register, b int) VecVirtual {
	lo, hi := YMM(), YMM()
	VPMOVZXBW(Mem{Base: w}.Offset(q3kpSL+16*(b%4)), lo)
	if b >= 4 {
		VPSRLW(U8(4), lo, lo)
	}
	VPAND(q3W0f, lo, lo)
	VPMOVZXBW(Mem{Base: w}.Offset(q3kpSH+16*(b%2)), hi)
	// Bits 2(b/2), 2(b/2)+1 of each word's byte to bits 4-5.
	switch s := 2*(b/2) - 4; {
	case s < 0:
		VPSLLW(U8(-s), hi, hi)
	case s > 0:
		VPSRLW(U8(s), hi, hi)
	}
	VPAND(q3W30, hi, hi)
	VPOR(hi, lo, lo)
	VPSUBW(q3W32, lo, lo)
	return lo
}

// q3kpMasks holds the byte masks q3kpValues uses: 0x03, 0x04 and 0x07 in every byte.
type q3kpMasks struct{ m03, m04, m07 VecVirtual }

func loadQ3kpMasks() q3kpMasks {
	m := q3kpMasks{YMM(), YMM(), YMM()}
	VMOVDQU(q3M03, m.m03)
	VMOVDQU(q3M04, m.m04)
	VMOVDQU(m07, m.m07) // main's 0x07 bytes (Q5_K's)
	return m
}

// q3kpValues returns u = q+4 (0..7) for values 4z..4z+3 of block b of the super-block at
// w for the 8 rows, one row per int32 lane, as unsigned bytes. The word shifts move no
// wanted bit across bytes.
func q3kpValues(w Register, b, z int, m q3kpMasks) VecVirtual {
	u := YMM()
	switch {
	case b < 2:
		VPAND(Mem{Base: w}.Offset(256*b+32*z), m.m07, u)
	case b < 4:
		VMOVDQU(Mem{Base: w}.Offset(256*(b%2)+32*z), u)
		VPSRLW(U8(3), u, u)
		VPAND(m.m07, u, u)
	case b < 6:
		h := YMM()
		VMOVDQU(Mem{Base: w}.Offset(256*(b%2)+32*z), u)
		VPSRLW(U8(6), u, u)
		VPAND(m.m03, u, u)
		VMOVDQU(Mem{Base: w}.Offset(q3kpB+32*z), h)
		VPSRLW(U8(b), h, h) // bit 6 (block 4) or 7 (block 5) to bit 2
		VPAND(m.m04, h, h)
		VPOR(h, u, u)
	case b == 6:
		VPAND(Mem{Base: w}.Offset(q3kpB+32*z), m.m07, u)
	default:
		VMOVDQU(Mem{Base: w}.Offset(q3kpB+32*z), u)
		VPSRLW(U8(3), u, u)
		VPAND(m.m07, u, u)
	}
	return u
}

// q3KPVec: func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)
// The Q3_K matrix-vector kernel for one packed group of 8 rows (nsb super-blocks) and one
// row quantized by QuantizeQ8 (xq, xd; xc: per block, the sums of its values 0..15 and
// 16..31 as two int16). Per block of 32 and row (int32 lane): the exact Σ sc·q·x, as
// Σ sc·(q+4)·x (the int16 sums of each 16's four VPMADDUBSW stay within 4·2·7·128 = 7168,
// then VPMADDWD by the scale) less 4·(sc_lo·Σx_lo + sc_hi·Σx_hi); then
// acc = float(Σ)·(d·dx) + acc, fused, block after block, starting from out[0..8) and
// written back there: the arithmetic of the packed Q6_K kernels, whose tiles take the
// blocks q3KPUnpackAVX writes, so a row's result is the same bits from both.
func q3KPVec() {
	q3kpConsts()
	TEXT("dotQ3KP_vec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)")
	Doc("dotQ3KP_vec8 adds the dot products of a packed group of 8 Q3_K rows (nsb super-blocks) and one int8-quantized row to out[0..8), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xc := Load(Param("xc"), GP64())
	nsb := Load(Param("nsb"), GP64())
	o := Load(Param("out"), GP64())
	acc := YMM()
	VMOVUPS(Mem{Base: o}, acc)
	masks := loadQ3kpMasks()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}.Offset(q3kpD), d)
	for b := 0; b < 8; b++ {
		// One or two lines a block: the super-block's 14, prefetchQ3KP ahead.
		for l := (14 * b) / 8; l < (14*(b+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchQ3KP + 64*l))
		}
		pair := q3kpScales(w, b)
		var s VecVirtual
		for half := 0; half < 2; half++ {
			var sum VecVirtual
			for z := 4 * half; z < 4*half+4; z++ {
				u := q3kpValues(w, b, z, masks)
				p := YMM()
				VPBROADCASTD(Mem{Base: xq}.Offset(32*b+4*z), p)
				VPMADDUBSW(p, u, u)
				if z == 4*half {
					sum = u
				} else {
					VPADDW(u, sum, sum)
				}
			}
			dup := YMM()
			VPSHUFB([]Mem{q3DupLo, q3DupHi}[half], pair, dup)
			VPMADDWD(dup, sum, sum)
			if half == 0 {
				s = sum
			} else {
				VPADDD(sum, s, s)
			}
		}
		c := YMM()
		VPBROADCASTD(Mem{Base: xc}.Offset(4*b), c)
		VPMADDWD(pair, c, c)
		VPSLLD(U8(2), c, c) // 4·(sc_lo·Σx_lo + sc_hi·Σx_hi)
		VPSUBD(c, s, s)
		VCVTDQ2PS(s, s)
		f := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*b), f)
		VMULPS(d, f, f)
		VFMADD231PS(f, s, acc)
	}
	ADDQ(U32(q3kpSB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// q3KPUnpack: func(dst, w *byte, nsb int)
// Unpacks nsb super-blocks of a packed Q3_K group into the blocks of the packed Q6_K
// tiles, q6kpBlk bytes per block of 32: the 8 rows' values as u = q+32 (28..35, unsigned
// bytes; the 32 bytes at 32z: values 4z..4z+3, one row an int32 lane), the scales less 32
// of values 0..15 twice in each lane (int16), those of values 16..31 likewise, both in one
// lane, and d as 8 float32.
func q3KPUnpack() {
	q3kpConsts()
	TEXT("q3KPUnpackAVX", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("q3KPUnpackAVX unpacks nsb super-blocks of a packed group of 8 Q3_K rows for the dotQ6KP and kp512Q6KTile tiles, 384 bytes per block of 32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	masks, c28 := loadQ3kpMasks(), YMM()
	VMOVDQU(q3C28, c28)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d := YMM()
	VCVTPH2PS(Mem{Base: w}.Offset(q3kpD), d)
	for b := 0; b < 8; b++ {
		for z := 0; z < 8; z++ {
			u := q3kpValues(w, b, z, masks)
			VPADDB(c28, u, u)
			VMOVDQU(u, Mem{Base: dst}.Offset(q6kpBlk*b+32*z))
		}
		pair, t := q3kpScales(w, b), YMM()
		VPSHUFB(q3DupLo, pair, t)
		VMOVDQU(t, Mem{Base: dst}.Offset(q6kpBlk*b+256))
		VPSHUFB(q3DupHi, pair, t)
		VMOVDQU(t, Mem{Base: dst}.Offset(q6kpBlk*b+288))
		VMOVDQU(pair, Mem{Base: dst}.Offset(q6kpBlk*b+320))
		VMOVUPS(d, Mem{Base: dst}.Offset(q6kpBlk*b+352))
	}
	ADDQ(U32(q3kpSB), w)
	ADDQ(U32(8*q6kpBlk), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
