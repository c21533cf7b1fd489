// Command asmgenkp generates the AVX2 assembly of package kernel for Q5_K, IQ4_XS and Q3_K
// weights laid out by Pool.Pack in groups of 8 rows, and the dotQ6KPS tiles for packed
// Q6_K (q6kps.go) (kp_amd64.s, declared in kp_stubs_amd64.go) with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// The kernels follow the packed Q4_K ones of asmgen (q4kp.go there): one int32 lane per
// weight row, the exact Σq·x of a block of 32 in integers, then one conversion and two
// FMAs per block and activation row (one FMA for IQ4_XS, which has no minimum: iq4xsp.go).
// The plain Go twins they are tested against are in q5kp_test.go and iq4xsp_test.go. AVX2, FMA and F16C only (no AVX-512 register).
package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Q5_K weights laid out by Pool.Pack in groups of 8 rows (package kernel's packQ5KGroup),
// 1408 bytes per super-block of a group (the 8 rows' 8·176 bytes, rearranged):
//
//	0:    the 8 rows' d (float16)
//	16:   the 8 rows' dmin (float16)
//	32:   the 12 bytes of packed 6-bit scales and mins, byte b of row r at 32+8b+r
//	128:  the values of sub-block pairs: the 32 bytes at 128+256g+32z hold, in row r's
//	      int32 lane (4r), values 4z..4z+3 of sub-blocks 2g and 2g+1, a byte each: the
//	      5 bits of sub-block 2g's value in bits 0-4, the low 3 bits of sub-block 2g+1's
//	      in bits 5-7
//	1152: the rest of the odd sub-blocks: the 32 bytes at 1152+32z hold, in row r's
//	      lane, a byte for each of values 4z..4z+3: bits 3-4 of sub-block 2g+1's value
//	      in bits 2g, 2g+1.
//
// An even sub-block's vector of values thus costs one AND, an odd one's two shifts, two
// ANDs and an OR (word shifts that move no wanted bit across bytes).
const (
	q5kpSB    = 1408 // bytes per super-block of a group
	q5kpQH    = 1152 // offset of the high bits in a super-block
	q4kpBlock = 320  // bytes per block of 32 unpacked by q5KPUnpack: values, d·sc, dmin·m
	// prefetchQ5KP is how far ahead in a group dotQ5KP_vec8 prefetches.
	prefetchQ5KP = 2 * q5kpSB
)

var onesW, low4, m1f, m07, m18, c63, c15 Mem

func main() {
	ConstraintExpr("!purego")
	onesW = GLOBL("kp_onesw", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(2*i, U16(1))
	}
	low4 = GLOBL("kp_low4", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x0f))
	}
	byteConst := func(name string, v byte) Mem {
		m := GLOBL(name, RODATA|NOPTR)
		for i := 0; i < 32; i++ {
			DATA(i, U8(v))
		}
		return m
	}
	m1f = byteConst("kp_m1f", 0x1f)
	m07 = byteConst("kp_m07", 0x07)
	m18 = byteConst("kp_m18", 0x18)
	c63 = u32Const("kp_c63", 63)
	c15 = u32Const("kp_c15", 15)

	q5KPVec()
	q5KPUnpack()
	for c := 1; c <= 3; c++ {
		q5KPTile(c)
	}
	iq4XSPVec()
	iq4XSPUnpack()
	for c := 1; c <= 3; c++ {
		iq4XSPTile(c)
	}
	q3KPVec()
	q3KPUnpack()
	for c := 1; c <= 4; c++ {
		q6KPSTile(c)
	}
	Generate()
}

// rowAt is avoext.RowAt: row j of a tile's activations.
func rowAt(base, stride, s3 Register, j int) Mem { return avoext.RowAt(base, stride, s3, j) }

func u32Const(name string, v uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(v))
	}
	return m
}

// kScales returns, for sub-block j of the super-block at w, the 8 rows' d·sc_j and
// dmin·m_j as float32 (ggml's get_scale_min_k4 on the transposed scale bytes, one row
// per int32 lane), as the packed Q4_K kernels compute them.
func kScales(w Register, j int, d, dmin VecVirtual) (dsc, dm VecVirtual) {
	sb := func(b int) Mem { return Mem{Base: w}.Offset(32 + 8*b) }
	dsc, dm = YMM(), YMM()
	if j < 4 {
		VPMOVZXBD(sb(j), dsc)
		VPAND(c63, dsc, dsc)
		VPMOVZXBD(sb(j+4), dm)
		VPAND(c63, dm, dm)
	} else {
		hi, t := YMM(), YMM()
		VPMOVZXBD(sb(j+4), hi)
		VPMOVZXBD(sb(j-4), t)
		VPSRLD(U8(6), t, t)
		VPSLLD(U8(4), t, t)
		VPAND(c15, hi, dsc)
		VPOR(t, dsc, dsc) // q[j+4]&15 | (q[j-4]>>6)<<4
		VPMOVZXBD(sb(j), t)
		VPSRLD(U8(6), t, t)
		VPSLLD(U8(4), t, t)
		VPSRLD(U8(4), hi, dm)
		VPOR(t, dm, dm) // q[j+4]>>4 | (q[j]>>6)<<4
	}
	VCVTDQ2PS(dsc, dsc)
	VMULPS(d, dsc, dsc)
	VCVTDQ2PS(dm, dm)
	VMULPS(dmin, dm, dm)
	return dsc, dm
}

// q5Masks holds the byte masks values5 uses: 0x1f, 0x07 and 0x18 in every byte.
type q5Masks struct{ m1f, m07, m18 VecVirtual }

func loadQ5Masks() q5Masks {
	m := q5Masks{YMM(), YMM(), YMM()}
	VMOVDQU(m1f, m.m1f)
	VMOVDQU(m07, m.m07)
	VMOVDQU(m18, m.m18)
	return m
}

// values5 loads into v the 5-bit values 4z..4z+3 of sub-block j of the 8 rows of the
// super-block at w (one row an int32 lane, one value a byte). Sub-block 2g's are bits
// 0-4 of the pair's bytes; sub-block 2g+1's are bits 5-7 of those (shifted down by 5),
// with bits 2g, 2g+1 of the bytes at 1152 shifted to bits 3-4. The word shifts bring
// each byte's own bits to the masked places.
func values5(w Register, j, z int, m q5Masks) VecVirtual {
	g := j / 2
	v := YMM()
	VMOVDQU(Mem{Base: w}.Offset(128+256*g+32*z), v)
	if j%2 == 0 {
		VPAND(m.m1f, v, v)
		return v
	}
	VPSRLW(U8(5), v, v)
	VPAND(m.m07, v, v)
	t := YMM()
	VMOVDQU(Mem{Base: w}.Offset(q5kpQH+32*z), t)
	if s := 3 - 2*g; s > 0 {
		VPSLLW(U8(s), t, t)
	} else {
		VPSRLW(U8(-s), t, t)
	}
	VPAND(m.m18, t, t)
	VPOR(t, v, v)
	return v
}

// finish adds one block's products to acc with the arithmetic of the packed Q4_K kernels:
// lo and hi hold the 8 rows' int16 pair sums of q·x over values 0..15 and 16..31 (each
// below 4·2·31·127 = 31496, where one sum over all 32 could reach 62992 and wrap), s its
// d·sc·dx (s is overwritten); acc = float(Σq·x)·(d·sc·dx) + acc, then
// acc = -(dmin·m)·xm + acc, both fused, xm the activation block's dx·Σx.
func finish(lo, hi VecVirtual, s VecVirtual, dm Op, xm Mem, acc VecVirtual) {
	VPMADDWD(onesW, lo, lo)
	VPMADDWD(onesW, hi, hi)
	VPADDD(hi, lo, lo)
	VCVTDQ2PS(lo, lo)
	VFMADD231PS(s, lo, acc)
	t := YMM()
	VBROADCASTSS(xm, t)
	VFNMADD231PS(dm, t, acc)
}

// q5KPVec: func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)
// The Q5_K matrix-vector kernel for one packed group of 8 rows (nsb super-blocks) and one
// row quantized by QuantizeQ8 (xq, xd; xm: dx·Σx per block). Per block of 32 and row
// (int32 lane): the exact Σ q·x (q = 0..31; int16 pair sums over each half block), then
// acc = float(Σ)·(d·sc·dx) + acc and acc = -(dmin·m)·xm + acc, fused, block after
// block, starting from out[0..8) and written back there.
func q5KPVec() {
	TEXT("dotQ5KP_vec8", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)")
	Doc("dotQ5KP_vec8 adds the dot products of a packed group of 8 Q5_K rows (nsb super-blocks) and one int8-quantized row to out[0..8), block after block.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xm := Load(Param("xm"), GP64())
	nsb := Load(Param("nsb"), GP64())
	o := Load(Param("out"), GP64())
	acc := YMM()
	VMOVUPS(Mem{Base: o}, acc)
	masks := loadQ5Masks()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d, dmin := YMM(), YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	VCVTPH2PS(Mem{Base: w}.Offset(16), dmin)
	for j := 0; j < 8; j++ {
		// Two or three lines a block: the super-block's 22, prefetchQ5KP ahead.
		for l := (22 * j) / 8; l < (22*(j+1))/8; l++ {
			PREFETCHT0(Mem{Base: w}.Offset(prefetchQ5KP + 64*l))
		}
		var sums [2]VecVirtual
		for z := 0; z < 8; z++ {
			v := values5(w, j, z, masks)
			xb := YMM()
			VPBROADCASTD(Mem{Base: xq}.Offset(32*j+4*z), xb)
			VPMADDUBSW(xb, v, v)
			if z%4 == 0 {
				sums[z/4] = v
			} else {
				VPADDW(v, sums[z/4], sums[z/4])
			}
		}
		dsc, dm := kScales(w, j, d, dmin)
		s := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*j), s)
		VMULPS(dsc, s, s)
		finish(sums[0], sums[1], s, dm, Mem{Base: xm}.Offset(4*j), acc)
	}
	ADDQ(U32(q5kpSB), w)
	ADDQ(U32(256), xq)
	ADDQ(U8(32), xd)
	ADDQ(U8(32), xm)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VMOVUPS(acc, Mem{Base: o})
	VZEROUPPER()
	RET()
}

// q5KPUnpack: func(dst, w *byte, nsb int)
// Unpacks nsb super-blocks of a packed Q5_K group into the blocks of the packed Q4_K
// tiles, q4kpBlock bytes per block of 32: the 8 rows' values 0..31 as unsigned bytes (the
// 32 bytes at 32z: values 4z..4z+3, one row an int32 lane), then d·sc and dmin·m as 8
// float32 each, computed as dotQ5KP_vec8 computes them.
func q5KPUnpack() {
	TEXT("q5KPUnpackAVX", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("q5KPUnpackAVX unpacks nsb super-blocks of a packed group of 8 Q5_K rows for the dotQ5KP tiles, 320 bytes per block of 32.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	masks := loadQ5Masks()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	d, dmin := YMM(), YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	VCVTPH2PS(Mem{Base: w}.Offset(16), dmin)
	for j := 0; j < 8; j++ {
		for z := 0; z < 8; z++ {
			v := values5(w, j, z, masks)
			VMOVDQU(v, Mem{Base: dst}.Offset(q4kpBlock*j+32*z))
		}
		dsc, dm := kScales(w, j, d, dmin)
		VMOVUPS(dsc, Mem{Base: dst}.Offset(q4kpBlock*j+256))
		VMOVUPS(dm, Mem{Base: dst}.Offset(q4kpBlock*j+288))
	}
	ADDQ(U32(q5kpSB), w)
	ADDQ(U32(8*q4kpBlock), dst)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// q5KPTile: func(w *byte, xq *int8, xqs int, xd *float32, xds int, xm *float32, nb int, out *float32, os int)
// 8 rows unpacked by q5KPUnpackAVX (nb blocks of 32 of values 0..31) against C rows
// quantized by QuantizeQ8 (strides in bytes; xm: dx·Σx per block, with the stride of
// xd), adding to out[c*os/4 + 0..8) block after block with the arithmetic of
// dotQ5KP_vec8, so that each result is bit-identical to it. It is the packed Q4_K tile
// (dotQ4KP_8xC) with the int16 sums split in two halves of 16 values, which values up
// to 31 need. The block's 8 value vectors stay in registers for the C rows.
func q5KPTile(C int) {
	name := fmt.Sprintf("dotQ5KP_8x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xqs int, xd *float32, xds int, xm *float32, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the 8×%d dot products of 8 Q5_K rows unpacked by q5KPUnpackAVX and int8-quantized rows to out[c*os/4+r], block after block.", name, C))
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xqs := Load(Param("xqs"), GP64())
	xd := Load(Param("xd"), GP64())
	xds := Load(Param("xds"), GP64())
	xm := Load(Param("xm"), GP64())
	xqs3, xds3 := GP64(), GP64()
	LEAQ(Mem{Base: xqs, Index: xqs, Scale: 2}, xqs3)
	LEAQ(Mem{Base: xds, Index: xds, Scale: 2}, xds3)
	nb := Load(Param("nb"), GP64())
	o := Load(Param("out"), GP64())
	os := Load(Param("os"), GP64())
	os3 := GP64()
	LEAQ(Mem{Base: os, Index: os, Scale: 2}, os3)
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VMOVUPS(rowAt(o, os, os3, c), acc[c])
	}
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	Label("loop")
	v := make([]VecVirtual, 8)
	for z := range v {
		v[z] = YMM()
		VMOVDQU(Mem{Base: w}.Offset(32*z), v[z])
	}
	for c := 0; c < C; c++ {
		xr := rowAt(xq, xqs, xqs3, c)
		var sums [2]VecVirtual
		for z := 0; z < 8; z++ {
			p := YMM()
			VPBROADCASTD(xr.Offset(4*z), p)
			VPMADDUBSW(p, v[z], p)
			if z%4 == 0 {
				sums[z/4] = p
			} else {
				VPADDW(p, sums[z/4], sums[z/4])
			}
		}
		s := YMM()
		VBROADCASTSS(rowAt(xd, xds, xds3, c), s)
		VMULPS(Mem{Base: w}.Offset(256), s, s)
		finish(sums[0], sums[1], s, Mem{Base: w}.Offset(288), rowAt(xm, xds, xds3, c), acc[c])
	}
	ADDQ(U32(q4kpBlock), w)
	ADDQ(U8(32), xq)
	ADDQ(U8(4), xd)
	ADDQ(U8(4), xm)
	DECQ(nb)
	JNZ(LabelRef("loop"))
	Label("done")
	for c := range acc {
		VMOVUPS(acc[c], rowAt(o, os, os3, c))
	}
	VZEROUPPER()
	RET()
}
