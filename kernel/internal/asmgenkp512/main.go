// Command asmgenkp512 generates the AVX-512 VNNI tiles of package kernel's products with
// Q4_K and Q6_K weights laid out by Pool.Pack in groups of 8 rows (kernel/q4kp.go,
// kernel/q6kp.go), with avo (github.com/mmcloughlin/avo). Run it through go generate in
// the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/kp512_amd64.s and the Go declarations kernel/kp512_stubs_amd64.go.
//
// The tiles read two groups of 8 rows unpacked by the AVX2 unpackers (q4KPUnpackAVX,
// q6KPUnpackAVX: the q4KPBlock and q6KPBlock formats, one weight row per int32 lane) and
// join them into 16-row zmm vectors (group a in the low 256 bits, group b in the high),
// so that each VPDPBUSD with 4 bytes of an activation row broadcast adds 4 products to 16
// output rows. Each block of 32's integer sum is exact in int32, and the float steps are
// those of the one-row kernels dotQ4KP_vec8 and dotQ6KP_vec8, in their order, so that a
// row's results have the same bits whatever the number of activation rows:
//
//	Q4_K: acc = float32(Σ q·x)·(d·sc_j·dx) + acc, then acc = -(dmin·m_j)·(dx·Σx) + acc
//	Q6_K: acc = float32(sc_lo·Σ_lo (u-32)·x + sc_hi·Σ_hi (u-32)·x)·(d·dx) + acc
//
// (each product in parentheses rounded once, each "+ acc" one fused multiply-add).
//
// The activations of a call's C rows are laid out by kernel's kp512PrepX, block-major:
// per block of 32, the C rows one after the other, each its 32 int8 values, dx (float32)
// and then for Q4_K dx·Σx (float32; 40 bytes a row), for Q6_K -32·Σx over values 0..15
// and over 16..31 (int32; 44 bytes a row), so that every activation operand is at a fixed
// displacement from one pointer.
package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	// q4Block and q6Block are the sizes of one block of 32 of a group unpacked by
	// q4KPUnpackAVX and q6KPUnpackAVX.
	q4Block = 320
	q6Block = 384
	// q4XRow and q6XRow are the bytes of one activation row's block in kp512PrepX's layout.
	q4XRow = 40
	q6XRow = 44
	// maxQ4C and maxQ6C are the most activation rows a tile takes (registers: 2C+6 and
	// 3C+6 of the 32 zmm).
	maxQ4C = 12
	maxQ6C = 8
)

// Z returns zmm register i.
func Z(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// join loads the 32 bytes at off of group a's block and of group b's into zmm z (a low,
// b high).
func join(a, b Register, off int, z VecPhysical) {
	VMOVDQU32(Mem{Base: a, Disp: off}, z.AsY())
	VINSERTI64X4(U8(1), Mem{Base: b, Disp: off}, z, z)
}

// tileRegs loads a tile's parameters: func(a, b *byte, x *byte, nb int, out *float32, os int).
func tileRegs() (a, b, x, nb, out, os GPPhysical) {
	a, b, x, nb, out, os = RSI, RDI, RBX, RCX, RDX, RAX
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	return
}

// moveAcc loads (store false) or stores the C rows' 16 outputs from out, os bytes apart.
func moveAcc(out, os GPPhysical, fac func(c int) VecPhysical, C int, store bool) {
	p := R8
	MOVQ(out, p)
	for c := 0; c < C; c++ {
		if store {
			VMOVUPS(fac(c), Mem{Base: p})
		} else {
			VMOVUPS(Mem{Base: p}, fac(c))
		}
		if c+1 < C {
			ADDQ(os, p)
		}
	}
}

// q4Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of 16
// Q4_K weight rows (8 unpacked by q4KPUnpackAVX at a, 8 at b) and C activation rows laid
// out by kp512PrepX (x) over nb blocks of 32 to out[c*os/4 + r] (os in bytes).
func q4Tile(C int) {
	name := fmt.Sprintf("kp512Q4KTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 Q4_K rows unpacked by q4KPUnpackAVX (8 at a, 8 at b) and %d activation rows laid out by kp512PrepX over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotQ4KP_vec8.", name, C))
	a, b, x, nb, out, os := tileRegs()
	sum := func(c int) VecPhysical { return Z(c) }
	fac := func(c int) VecPhysical { return Z(C + c) }
	wv := func(t int) VecPhysical { return Z(2*C + t%2) }
	dsc, dm := Z(2*C+2), Z(2*C+3)
	tmp := func(c int) VecPhysical { return Z(2*C + 4 + c%2) }
	moveAcc(out, os, fac, C, false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	for c := 0; c < C; c++ {
		VPXORD(sum(c), sum(c), sum(c))
	}
	for t := 0; t < 8; t++ {
		join(a, b, 32*t, wv(t))
		for c := 0; c < C; c++ {
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: q4XRow*c + 4*t}, wv(t), sum(c))
		}
	}
	join(a, b, 256, dsc)
	join(a, b, 288, dm)
	for c := 0; c < C; c++ {
		VCVTDQ2PS(sum(c), sum(c))
		VMULPS_BCST(Mem{Base: x, Disp: q4XRow*c + 32}, dsc, tmp(c)) // d·sc·dx
		VFMADD231PS(tmp(c), sum(c), fac(c))
		VFNMADD231PS_BCST(Mem{Base: x, Disp: q4XRow*c + 36}, dm, fac(c)) // -(dmin·m)·(dx·Σx)
	}
	ADDQ(U32(q4Block), a)
	ADDQ(U32(q4Block), b)
	ADDQ(U32(q4XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	moveAcc(out, os, fac, C, true)
	VZEROUPPER()
	RET()
}

// q6Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of 16
// Q6_K weight rows (8 unpacked by q6KPUnpackAVX at a, 8 at b) and C activation rows laid
// out by kp512PrepX (x) over nb blocks of 32 to out[c*os/4 + r] (os in bytes).
func q6Tile(C int) {
	name := fmt.Sprintf("kp512Q6KTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 Q6_K rows unpacked by q6KPUnpackAVX (8 at a, 8 at b) and %d activation rows laid out by kp512PrepX over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotQ6KP_vec8.", name, C))
	a, b, x, nb, out, os := tileRegs()
	lo := func(c int) VecPhysical { return Z(c) }
	hi := func(c int) VecPhysical { return Z(C + c) }
	fac := func(c int) VecPhysical { return Z(2*C + c) }
	wv := func(t int) VecPhysical { return Z(3*C + t%2) }
	scLo, scHi, d, tmp := Z(3*C+2), Z(3*C+3), Z(3*C+4), Z(3*C+5)
	moveAcc(out, os, fac, C, false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	// The sums start at -32·Σx of their 16 values, so that they come out as Σ (u-32)·x.
	for c := 0; c < C; c++ {
		VPBROADCASTD(Mem{Base: x, Disp: q6XRow*c + 36}, lo(c))
		VPBROADCASTD(Mem{Base: x, Disp: q6XRow*c + 40}, hi(c))
	}
	for t := 0; t < 8; t++ {
		join(a, b, 32*t, wv(t))
		for c := 0; c < C; c++ {
			s := lo(c)
			if t >= 4 {
				s = hi(c)
			}
			avoext.VPDPBUSDBcst(Mem{Base: x, Disp: q6XRow*c + 4*t}, wv(t), s)
		}
	}
	// The scales, int16 twice in each lane: the high copy, sign-extended.
	join(a, b, 256, scLo)
	VPSRAD(U8(16), scLo, scLo)
	join(a, b, 288, scHi)
	VPSRAD(U8(16), scHi, scHi)
	join(a, b, 352, d)
	for c := 0; c < C; c++ {
		VPMULLD(scLo, lo(c), lo(c))
		VPMULLD(scHi, hi(c), hi(c))
		VPADDD(hi(c), lo(c), lo(c))
		VCVTDQ2PS(lo(c), lo(c))
		VMULPS_BCST(Mem{Base: x, Disp: q6XRow*c + 32}, d, tmp) // d·dx
		VFMADD231PS(tmp, lo(c), fac(c))
	}
	ADDQ(U32(q6Block), a)
	ADDQ(U32(q6Block), b)
	ADDQ(U32(q6XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	moveAcc(out, os, fac, C, true)
	VZEROUPPER()
	RET()
}

// q6Unpack: func(dst, w *byte, nsb int) unpacks nsb super-blocks of a packed group of 8
// Q6_K rows (kernel's packQ6KGroup: d at 0, the scales at 16, ql at 144, qh at 1168) into
// dst in the q6KPBlock format, byte for byte what q6KPUnpackAVX writes, with zmm
// registers: for each half h of a super-block and pair of value vectors (z, z+1), one
// 64-byte load of the low-nibble vectors 16h+z, 16h+8+z and of the high-bit-pair vectors
// 8h+z serves all four blocks 4h..4h+3 (block t: the low nibbles for t < 2, the high ones
// else, bits 2t and 2t+1 of qh as bits 4 and 5), each value vector pair one VPTERNLOGD
// (q&0x0f | h) after at most two shifts and one AND: 13 operations for 4×64 bytes where
// q6KPUnpackAVX spends about 34 on ymm registers. The scales and d are laid out with ymm
// registers as there.
func q6Unpack(dupLo, dupHi Mem) {
	TEXT("kp512Q6KUnpack512", NOSPLIT, "func(dst, w *byte, nsb int)")
	Doc("kp512Q6KUnpack512 unpacks nsb super-blocks of a packed group of 8 Q6_K rows into the q6KPBlock format (384 bytes per block of 32), as q6KPUnpackAVX, with AVX-512 BW.")
	dst := Load(Param("dst"), GP64())
	w := Load(Param("w"), GP64())
	nsb := Load(Param("nsb"), GP64())
	m0f, m30 := ZMM(), ZMM()
	c := GP32()
	MOVL(U32(0x0f0f0f0f), c)
	VPBROADCASTD(c, m0f)
	MOVL(U32(0x30303030), c)
	VPBROADCASTD(c, m30)
	TESTQ(nsb, nsb)
	JZ(LabelRef("kp512q6u_done"))
	Label("kp512q6u_loop")
	for h := 0; h < 2; h++ {
		for zp := 0; zp < 4; zp++ {
			ql0, ql1, qh := ZMM(), ZMM(), ZMM()
			VMOVDQU64(Mem{Base: w, Disp: 144 + 512*h + 64*zp}, ql0)
			VMOVDQU64(Mem{Base: w, Disp: 144 + 512*h + 256 + 64*zp}, ql1)
			VMOVDQU64(Mem{Base: w, Disp: 1168 + 256*h + 64*zp}, qh)
			for t := 0; t < 4; t++ {
				q := []VecVirtual{ql0, ql1}[t%2]
				if t >= 2 {
					s := ZMM()
					VPSRLW(U8(4), q, s)
					q = s
				}
				v := ZMM()
				switch t {
				case 0:
					VPSLLW(U8(4), qh, v)
					VPANDD(m30, v, v)
				case 1:
					VPSLLW(U8(2), qh, v)
					VPANDD(m30, v, v)
				case 2:
					VPANDD(m30, qh, v)
				case 3:
					VPSRLW(U8(2), qh, v)
					VPANDD(m30, v, v)
				}
				VPTERNLOGD(U8(0xf8), m0f, q, v) // v | (q & 0x0f)
				VMOVDQU64(v, Mem{Base: dst, Disp: q6Block*(4*h+t) + 64*zp})
			}
		}
	}
	d := YMM()
	VCVTPH2PS(Mem{Base: w}, d)
	for b := 0; b < 8; b++ {
		pair, t := YMM(), YMM()
		VPMOVSXBW(Mem{Base: w, Disp: 16 + 16*b}, pair)
		VPSHUFB(dupLo, pair, t)
		VMOVDQU(t, Mem{Base: dst, Disp: q6Block*b + 256})
		VPSHUFB(dupHi, pair, t)
		VMOVDQU(t, Mem{Base: dst, Disp: q6Block*b + 288})
		VMOVDQU(pair, Mem{Base: dst, Disp: q6Block*b + 320})
		VMOVUPS(d, Mem{Base: dst, Disp: q6Block*b + 352})
	}
	ADDQ(U32(1680), w)
	ADDQ(U32(8*q6Block), dst)
	DECQ(nsb)
	JNZ(LabelRef("kp512q6u_loop"))
	Label("kp512q6u_done")
	VZEROUPPER()
	RET()
}

// dupConsts returns VPSHUFB controls that copy word 0 (lo) or word 1 (hi) of each dword
// to both of its words.
func dupConsts() (lo, hi Mem) {
	lo = GLOBL("kp512duplo", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{0, 1, 0, 1}[i%4]))
	}
	hi = GLOBL("kp512duphi", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(i&^3+[]int{2, 3, 2, 3}[i%4]))
	}
	return lo, hi
}

// prefetch: func(p *byte, n int) fetches the n cache lines from p into the cache.
func prefetch() {
	TEXT("kp512Prefetch512", NOSPLIT, "func(p *byte, n int)")
	Doc("kp512Prefetch512 fetches the n cache lines (64 bytes) from p on into the cache.")
	p := Load(Param("p"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JLE(LabelRef("kp512pf_done"))
	Label("kp512pf_loop")
	PREFETCHT0(Mem{Base: p})
	ADDQ(U8(64), p)
	DECQ(n)
	JNZ(LabelRef("kp512pf_loop"))
	Label("kp512pf_done")
	RET()
}

func main() {
	ConstraintExpr("!purego")
	prefetch()
	q6Unpack(dupConsts())
	for c := 1; c <= maxQ4C; c++ {
		q4Tile(c)
	}
	for c := 1; c <= maxQ6C; c++ {
		q6Tile(c)
	}
	iq4Unpack2()
	iq4Vec()
	for c := 1; c <= maxIQ4C; c++ {
		iq4Tile(c)
	}
	Generate()
}
