// Command asmgenkq512 generates the AVX-512 VNNI assembly of package kernel's matrix
// products with k-quant (and every other block type's) weights, with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// which writes kernel/kq512_amd64.s and the Go declarations kernel/kq512_stubs_amd64.go.
//
// Every block type decodes as sc·q + mn per group of 16 or 32 weights (see
// kernel/kquant.go). The packing kernels (Q4_K, Q6_K here; the others in Go) lay a tile of
// 2×16 weight rows out per block of 32 weights as 2×8 vectors whose 32-bit lane j holds 4
// consecutive unsigned codes u = q + o of row j, followed by the 16 rows' float32 scales
// sc (per group) and, for the types with mins, their float32 offsets mn. A VPDPBUSD with 4
// bytes of an activation row broadcast adds 4 products to each of 16 output rows; each
// group's integer sum starts at -o·Σx (precomputed per activation group) and so comes out
// as the exact Σ q·x. The group's float total is then
//
//	out += (float(Σ q·x)·dx)·sc      one rounding for the product with dx, one fused
//	out += (dx·Σx)·mn                (only with mins) one fused multiply-add
//
// group after group along k, the same operations for every number of activation rows.
//
// The activations are laid out by kq512PrepX (Go), per row and block of 32: the 32 int8
// values, dx (float32), and what the layout needs of -o·Σx (int32) and dx·Σx (float32),
// per 32 or per 16 (see xBlock): 40 to 52 bytes, so that 128 rows of k = 5632 stay
// within the 1 MiB L2 cache of a Zen 5 core as Q4_0's 40-byte blocks do.
package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The packed layout of one block of 32 weights of a tile of 2×16 rows: the codes of the
// two groups of rows (512 bytes each), then the scales (and mins), 64 bytes per group
// of rows and group of weights.
const groupBytes = 512

// variant is one packed layout: groups of 16 weights (two scales per block of 32) or of
// 32, with or without mins.
type variant struct {
	g16, mins bool
}

func (v variant) name() string {
	s := "G32"
	if v.g16 {
		s = "G16"
	}
	if v.mins {
		s += "M"
	}
	return s
}

// groups is the number of scale groups per block of 32.
func (v variant) groups() int {
	if v.g16 {
		return 2
	}
	return 1
}

// blockBytes is the packed size of one block of 32 of a tile.
func (v variant) blockBytes() int {
	n := 2*groupBytes + 2*64*v.groups()
	if v.mins {
		n += 2 * 64 * v.groups()
	}
	return n
}

// scOff and mnOff are the offsets in a packed block of the scales and mins of group h of
// weights for row group r.
func (v variant) scOff(h, r int) int { return 2*groupBytes + 128*h + 64*r }
func (v variant) mnOff(h, r int) int { return 2*groupBytes + 128*v.groups() + 128*h + 64*r }

// xBlock is the size of one block of activations as kq512PrepX lays them out for v: the
// 32 int8 values, dx (float32) at 32, then for G32M dx·Σx; for G32 -o·Σx (int32); for
// G16 -o·Σx over each 16; for G16M those and dx·Σx over each 16.
func (v variant) xBlock() int {
	switch {
	case v.g16 && v.mins:
		return 52
	case v.g16:
		return 44
	}
	return 40
}

// xOffs returns the offsets in an activation block of group h's -o·Σx (-1: o is 0 and
// the sums start at zero) and dx·Σx (for the types with mins).
func (v variant) xOffs(h int) (c, xs int) {
	switch {
	case v.g16 && v.mins:
		return 36 + 4*h, 44 + 4*h
	case v.g16:
		return 36 + 4*h, -1
	case v.mins:
		return -1, 36
	}
	return 36, -1
}

var variants = []variant{{false, true}, {false, false}, {true, false}, {true, true}}

const tileC = 6

func main() {
	ConstraintExpr("!purego")
	consts := map[string]Mem{}
	for _, c := range []struct {
		name string
		v    uint32
	}{{"kq512Low4", 0x0f0f0f0f}, {"kq512M30", 0x30303030}, {"kq512M3F", 0x3f}, {"kq512M0F", 0x0f}, {"kq512M30d", 0x30}, {"kq512Sign", 0x80000000}, {"kq512M10", 0x10101010}} {
		m := GLOBL(c.name, RODATA|NOPTR)
		DATA(0, U32(c.v))
		consts[c.name] = m
	}
	permLo := GLOBL("kq512PermLo", RODATA|NOPTR)
	for i, v := range []int{0, 1, 8, 9, 4, 5, 12, 13} {
		DATA(8*i, U64(v))
	}
	permHi := GLOBL("kq512PermHi", RODATA|NOPTR)
	for i, v := range []int{2, 3, 10, 11, 6, 7, 14, 15} {
		DATA(8*i, U64(v))
	}
	packQ4K(consts, permLo, permHi, false)
	packQ4K(consts, permLo, permHi, true)
	packQ6K(consts, permLo, permHi)
	prefetchLines()
	for _, v := range variants {
		for c := 1; c <= tileC; c++ {
			tile(v, c)
		}
	}
	Generate()
}

// Z returns zmm register i.
func Z(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

// packRegs loads the packing kernels' parameters: func(src *byte, rs int, nsb int, dst
// *byte, dw *byte).
type packRegs struct {
	src, rs, nsb, dst, dw, rs3, rs5, rs7, hi GPPhysical
}

func packParams() packRegs {
	p := packRegs{RSI, RBX, RCX, RDI, RDX, R9, R10, R11, R12}
	Load(Param("src"), p.src)
	Load(Param("rs"), p.rs)
	Load(Param("nsb"), p.nsb)
	Load(Param("dst"), p.dst)
	Load(Param("dw"), p.dw)
	LEAQ(Mem{Base: p.rs, Index: p.rs, Scale: 2}, p.rs3)
	LEAQ(Mem{Base: p.rs, Index: p.rs, Scale: 4}, p.rs5)
	LEAQ(Mem{Base: p.rs3, Index: p.rs, Scale: 4}, p.rs7)
	return p
}

// rowAt is the address of row base+a (a < 8) at byte disp.
func (p packRegs) rowAt(base Register, a, disp int) Mem {
	m := Mem{Base: base, Disp: disp}
	switch a {
	case 0:
	case 1, 2, 4:
		m.Index, m.Scale = p.rs, uint8(a)
	case 3, 6:
		m.Index, m.Scale = p.rs3, uint8(a/3)
	case 5:
		m.Index, m.Scale = p.rs5, 1
	case 7:
		m.Index, m.Scale = p.rs7, 1
	}
	return m
}

// prefetchPack is how far ahead in each row the packers prefetch, in bytes (as the Q4_0
// packer of asmgen512q: the 16 row streams are too many for the hardware prefetcher).
const prefetchPack = 512

// prefetch fetches the bb bytes prefetchPack ahead of the current super-block of each
// of the 16 rows into the cache, a line at a time.
func (p packRegs) prefetch(bb int) {
	for a := 0; a < 16; a++ {
		base := p.src
		if a >= 8 {
			base = p.hi
		}
		for off := 0; off < bb; off += 64 {
			PREFETCHT0(p.rowAt(base, a%8, prefetchPack+off))
		}
	}
}

// transpose32 loads 32 bytes at disp of each of the 16 rows and transposes them: on
// return Z(8+t) holds dword t of the 16 rows (lane j: row j) and Z(12+t) dword t+4, for
// t < 4. It uses Z0-Z15; pLo and pHi hold kq512PermLo and kq512PermHi.
func (p packRegs) transpose32(disp int, pLo, pHi VecPhysical) {
	for a := 0; a < 8; a++ {
		VMOVDQU(p.rowAt(p.src, a, disp), Z(a).AsY())
		VINSERTI64X4(U8(1), p.rowAt(p.hi, a, disp), Z(a), Z(a))
	}
	for q := 0; q < 4; q++ {
		VPUNPCKLDQ(Z(2*q+1), Z(2*q), Z(8+2*q))
		VPUNPCKHDQ(Z(2*q+1), Z(2*q), Z(9+2*q))
	}
	for q := 0; q < 2; q++ {
		b := 8 + 4*q
		VPUNPCKLQDQ(Z(b+2), Z(b), Z(4*q))
		VPUNPCKHQDQ(Z(b+2), Z(b), Z(4*q+1))
		VPUNPCKLQDQ(Z(b+3), Z(b+1), Z(4*q+2))
		VPUNPCKHQDQ(Z(b+3), Z(b+1), Z(4*q+3))
	}
	// Z(t) (t < 4) holds dwords t and t+4 of rows 0-3 and 8-11, Z(t+4) those of rows 4-7
	// and 12-15, a 128-bit lane each.
	for t := 0; t < 4; t++ {
		lo, hi := Z(8+t), Z(12+t)
		VMOVDQA64(Z(t), lo)
		VMOVDQA64(Z(t), hi)
		VPERMT2Q(Z(t+4), pLo, lo)
		VPERMT2Q(Z(t+4), pHi, hi)
	}
}

// dword returns the register transpose32 leaves dword e (< 8) in.
func dword(e int) VecPhysical {
	if e < 4 {
		return Z(8 + e)
	}
	return Z(12 + e - 4)
}

// f16Lo converts the low 16 bits (float16) of each dword of v to float32 in dst.
func f16Lo(v, tmp, dst VecPhysical) {
	VPMOVDW(v, tmp.AsY())
	VCVTPH2PS(tmp.AsY(), dst)
}

// packQ4K: func(src *byte, rs int, nsb int, dst *byte, dw *byte) lays out 16 Q4_K rows
// (stride rs bytes) of nsb super-blocks in the G32M layout: per block of 32 (8 per
// super-block, the packed blocks blockBytes apart), at dst the codes (the nibbles, o = 0),
// at dw the scales d·sc_j and at dw+128 the mins -dmin·m_j. With q5, the same for Q5_K
// rows, whose codes add 16 times bit j of qh to the nibbles of sub-block j.
func packQ4K(consts map[string]Mem, permLo, permHi Mem, q5 bool) {
	v := variant{false, true}
	bs := v.blockBytes()
	name, lbl, bb, qs := "kq512PackQ4K", "pq4k", 144, 16
	if q5 {
		name, lbl, bb, qs = "kq512PackQ5K", "pq5k", 176, 48
	}
	TEXT(name, NOSPLIT, "func(src *byte, rs int, nsb int, dst *byte, dw *byte)")
	Doc(name + " lays out 16 " + name[9:11] + "_K rows (stride rs bytes) of nsb super-blocks for the G32M tiles: per block of 32 (packed blocks 1280 bytes apart), at dst 8 vectors whose lane j holds 4 consecutive codes of row j, at dw the 16 rows' scales d·sc and at dw+128 their mins -dmin·m, as float32.")
	low4, pLo, pHi, m10 := Z30, Z29, Z28, Z27
	p := packParams()
	VPBROADCASTD(consts["kq512Low4"], low4)
	VMOVDQU64(permLo, pLo)
	VMOVDQU64(permHi, pHi)
	if q5 {
		VPBROADCASTD(consts["kq512M10"], m10)
	}
	TESTQ(p.nsb, p.nsb)
	JZ(LabelRef(lbl + "_done"))
	Label(lbl + "_loop")
	LEAQ(Mem{Base: p.src, Index: p.rs, Scale: 8}, p.hi)
	p.prefetch(bb)
	QH := func(e int) VecPhysical { return Z(16 + e) }
	if q5 {
		p.transpose32(16, pLo, pHi)
		for e := 0; e < 8; e++ {
			VMOVDQA64(dword(e), QH(e))
		}
	}
	t, u := Z24, Z25
	for pr := 0; pr < 4; pr++ {
		p.transpose32(qs+32*pr, pLo, pHi)
		for e := 0; e < 8; e++ {
			w := dword(e)
			if !q5 {
				VPSRLD(U8(4), w, u)
				VPANDD(low4, w, w)
				VPANDD(low4, u, u)
				VMOVDQU32(w, Mem{Base: p.dst, Disp: 2*pr*bs + 64*e})
				VMOVDQU32(u, Mem{Base: p.dst, Disp: (2*pr+1)*bs + 64*e})
				continue
			}
			for h := 0; h < 2; h++ {
				j := 2*pr + h // bit j of qh, moved to bit 4
				switch {
				case j < 4:
					VPSLLD(U8(4-j), QH(e), t)
				case j > 4:
					VPSRLD(U8(j-4), QH(e), t)
				default:
					VMOVDQA64(QH(e), t)
				}
				VPANDD(m10, t, t)
				src := w
				if h == 1 {
					VPSRLD(U8(4), w, u)
					src = u
				}
				VPTERNLOGD(U8(0xf8), low4, src, t) // t | (src & low4)
				VMOVDQU32(t, Mem{Base: p.dst, Disp: j*bs + 64*e})
			}
		}
	}
	// The scales: dwords 0 (d, dmin), 1, 2, 3 (the 12 bytes of 6-bit scales and mins),
	// transposed as the codes are (gathers take twice as long on Zen 5).
	p.transpose32(0, pLo, pHi)
	g, d0, d1, d2 := dword(0), dword(1), dword(2), dword(3)
	d, dmin, t0, t1, t2 := Z0, Z1, Z2, Z3, Z4
	f16Lo(g, t0, d)
	VPSRLD(U8(16), g, g)
	f16Lo(g, t0, dmin)
	VPXORD_BCST(consts["kq512Sign"], dmin, dmin) // -dmin
	for j := 0; j < 8; j++ {
		if j < 4 {
			VPSRLD(U8(8*j), d0, t0)
			VPANDD_BCST(consts["kq512M3F"], t0, t0)
			VPSRLD(U8(8*j), d1, t1)
			VPANDD_BCST(consts["kq512M3F"], t1, t1)
		} else {
			i := j - 4
			VPSRLD(U8(8*i), d2, t0)
			VPANDD_BCST(consts["kq512M0F"], t0, t0)
			VPSRLD(U8(8*i+2), d0, t2)
			VPANDD_BCST(consts["kq512M30d"], t2, t2)
			VPORD(t2, t0, t0)
			VPSRLD(U8(8*i+4), d2, t1)
			VPANDD_BCST(consts["kq512M0F"], t1, t1)
			VPSRLD(U8(8*i+2), d1, t2)
			VPANDD_BCST(consts["kq512M30d"], t2, t2)
			VPORD(t2, t1, t1)
		}
		VCVTDQ2PS(t0, t0)
		VMULPS(d, t0, t0)
		VMOVUPS(t0, Mem{Base: p.dw, Disp: j * bs})
		VCVTDQ2PS(t1, t1)
		VMULPS(dmin, t1, t1)
		VMOVUPS(t1, Mem{Base: p.dw, Disp: j*bs + v.mnOff(0, 0) - v.scOff(0, 0)})
	}
	ADDQ(U32(bb), p.src)
	ADDQ(U32(8*bs), p.dst)
	ADDQ(U32(8*bs), p.dw)
	DECQ(p.nsb)
	JNZ(LabelRef(lbl + "_loop"))
	Label(lbl + "_done")
	VZEROUPPER()
	RET()
}

// packQ6K: func(src *byte, rs int, nsb int, dst *byte, dw *byte) lays out 16 Q6_K rows
// (stride rs bytes) of nsb super-blocks in the G16 layout: per block of 32, at dst the
// 6-bit codes (o = 32), at dw the scales d·sc of its first 16 and at dw+128 of its
// second 16.
func packQ6K(consts map[string]Mem, permLo, permHi Mem) {
	v := variant{true, false}
	bs := v.blockBytes()
	TEXT("kq512PackQ6K", NOSPLIT, "func(src *byte, rs int, nsb int, dst *byte, dw *byte)")
	Doc("kq512PackQ6K lays out 16 Q6_K rows (stride rs bytes) of nsb super-blocks for the G16 tiles: per block of 32 (packed blocks 1280 bytes apart), at dst 8 vectors whose lane j holds 4 consecutive 6-bit codes of row j, at dw the 16 rows' scales d·sc of the block's first 16 weights and at dw+128 of its second 16, as float32.")
	low4, pLo, pHi, m30 := Z30, Z29, Z28, Z27
	p := packParams()
	VPBROADCASTD(consts["kq512Low4"], low4)
	VPBROADCASTD(consts["kq512M30"], m30)
	VMOVDQU64(permLo, pLo)
	VMOVDQU64(permHi, pHi)
	TESTQ(p.nsb, p.nsb)
	JZ(LabelRef("pq6k_done"))
	Label("pq6k_loop")
	LEAQ(Mem{Base: p.src, Index: p.rs, Scale: 8}, p.hi)
	p.prefetch(210)
	H := func(e int) VecPhysical { return Z(16 + e) }
	t, u := Z24, Z25
	// out stores (v>>nib & 15) | (H<<sh & 0x30 or H>>-sh) as the codes of block b.
	out := func(vv VecPhysical, nib int, h VecPhysical, sh int, b, e int) {
		switch {
		case sh > 0:
			VPSLLD(U8(sh), h, t)
		case sh < 0:
			VPSRLD(U8(-sh), h, t)
		default:
			VMOVDQA64(h, t)
		}
		VPANDD(m30, t, t)
		src := vv
		if nib > 0 {
			VPSRLD(U8(nib), vv, u)
			src = u
		}
		VPTERNLOGD(U8(0xf8), low4, src, t) // t | (src & low4)
		VMOVDQU32(t, Mem{Base: p.dst, Disp: b*bs + 64*e})
	}
	for half := 0; half < 2; half++ {
		p.transpose32(128+32*half, pLo, pHi)
		for e := 0; e < 8; e++ {
			VMOVDQA64(dword(e), H(e))
		}
		p.transpose32(64*half, pLo, pHi) // ql[0:32]: blocks 0 (low nibbles) and 2 (high)
		for e := 0; e < 8; e++ {
			out(dword(e), 0, H(e), 4, 4*half, e)
			out(dword(e), 4, H(e), 0, 4*half+2, e)
		}
		p.transpose32(64*half+32, pLo, pHi) // ql[32:64]: blocks 1 and 3
		for e := 0; e < 8; e++ {
			out(dword(e), 0, H(e), 2, 4*half+1, e)
			out(dword(e), 4, H(e), -2, 4*half+3, e)
		}
	}
	// The scales: 16 int8 at 192, d (float16) at 208, transposed as the codes are from
	// the block's last 32 bytes (178-209): scale g is byte (g+2)%4 of dword (g+14)/4, d
	// the high half of dword 7.
	p.transpose32(178, pLo, pHi)
	d, t0 := Z2, Z0
	VPSRLD(U8(16), dword(7), t0)
	f16Lo(t0, Z1, d)
	for gi := 0; gi < 16; gi++ {
		VPSLLD(U8(24-8*((gi+2)%4)), dword((gi+14)/4), t0)
		VPSRAD(U8(24), t0, t0)
		VCVTDQ2PS(t0, t0)
		VMULPS(d, t0, t0)
		VMOVUPS(t0, Mem{Base: p.dw, Disp: gi/2*bs + 128*(gi%2)})
	}
	ADDQ(U32(210), p.src)
	ADDQ(U32(8*bs), p.dst)
	ADDQ(U32(8*bs), p.dw)
	DECQ(p.nsb)
	JNZ(LabelRef("pq6k_loop"))
	Label("pq6k_done")
	VZEROUPPER()
	RET()
}

// tile: func(w *byte, x *byte, xs int, nb int, out *float32, os int) adds the products of
// 32 packed weight rows (layout v) and C activation rows laid out by kq512PrepX (row
// stride xs bytes) over nb blocks of 32 to out[c*os/4 + r] (os in bytes), group after
// group.
func tile(v variant, C int) {
	const R = 2
	name := fmt.Sprintf("kq512Tile%sx%d", v.name(), C)
	TEXT(name, NOSPLIT, "func(w *byte, x *byte, xs int, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 32 weight rows packed in the %s layout and %d activation rows laid out by kq512PrepX (stride xs bytes) over nb blocks of 32 to out[c*os/4+r] (os in bytes).", name, v.name(), C))
	w, x, xs, nb, xs3, xs5 := RSI, RDI, RBX, RCX, R8, R9
	Load(Param("w"), w)
	Load(Param("x"), x)
	Load(Param("xs"), xs)
	Load(Param("nb"), nb)
	LEAQ(Mem{Base: xs, Index: xs, Scale: 2}, xs3)
	LEAQ(Mem{Base: xs, Index: xs, Scale: 4}, xs5)
	row := func(c, disp int) Mem {
		m := Mem{Base: x, Disp: disp}
		switch c {
		case 0:
		case 1, 2, 4:
			m.Index, m.Scale = xs, uint8(c)
		case 3:
			m.Index, m.Scale = xs3, 1
		case 5:
			m.Index, m.Scale = xs5, 1
		default:
			panic("C too large")
		}
		return m
	}
	acc := func(r, c int) VecPhysical { return Z(r*C + c) }
	fac := func(r, c int) VecPhysical { return Z(R*C + r*C + c) }
	wv := func(r int) VecPhysical { return Z(2*R*C + r) }
	mnv := func(r int) VecPhysical { return Z(2*R*C + R + r) }
	out, os := RDX, RAX
	Load(Param("out"), out)
	Load(Param("os"), os)
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VMOVUPS(Mem{Base: out, Disp: 64 * r}, fac(r, c))
		}
		if c+1 < C {
			ADDQ(os, out)
		}
	}
	lp, done := name+"_loop", name+"_done"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	ng := v.groups()
	for h := 0; h < ng; h++ {
		cOff, xsOff := v.xOffs(h)
		for c := 0; c < C; c++ {
			for r := 0; r < R; r++ {
				if cOff < 0 {
					VPXORD(acc(r, c), acc(r, c), acc(r, c))
				} else {
					VPBROADCASTD(row(c, cOff), acc(r, c))
				}
			}
		}
		for t := 8 / ng * h; t < 8/ng*(h+1); t++ {
			for r := 0; r < R; r++ {
				VMOVDQU32(Mem{Base: w, Disp: r*groupBytes + 64*t}, wv(r))
			}
			for c := 0; c < C; c++ {
				for r := 0; r < R; r++ {
					avoext.VPDPBUSDBcst(row(c, 4*t), wv(r), acc(r, c))
				}
			}
		}
		if v.mins {
			for r := 0; r < R; r++ {
				VMOVUPS(Mem{Base: w, Disp: v.mnOff(h, r)}, mnv(r))
			}
		}
		for c := 0; c < C; c++ {
			for r := 0; r < R; r++ {
				VCVTDQ2PS(acc(r, c), acc(r, c))
				VMULPS_BCST(row(c, 32), acc(r, c), acc(r, c))
				VFMADD231PS(Mem{Base: w, Disp: v.scOff(h, r)}, acc(r, c), fac(r, c))
				if v.mins {
					VFMADD231PS_BCST(row(c, xsOff), mnv(r), fac(r, c))
				}
			}
		}
	}
	ADDQ(U32(v.blockBytes()), w)
	ADDQ(U8(v.xBlock()), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	Load(Param("out"), out)
	for c := 0; c < C; c++ {
		for r := 0; r < R; r++ {
			VMOVUPS(fac(r, c), Mem{Base: out, Disp: 64 * r})
		}
		if c+1 < C {
			ADDQ(os, out)
		}
	}
	Label(done)
	VZEROUPPER()
	RET()
}

// prefetchLines: func(p *byte, n int) fetches the n cache lines from p into the cache.
func prefetchLines() {
	TEXT("kq512Prefetch", NOSPLIT, "func(p *byte, n int)")
	Doc("kq512Prefetch fetches the n cache lines (64 bytes) from p on into the cache.")
	ptr := Load(Param("p"), GP64())
	n := Load(Param("n"), GP64())
	TESTQ(n, n)
	JLE(LabelRef("pf_done"))
	Label("pf_loop")
	PREFETCHT0(Mem{Base: ptr})
	ADDQ(U8(64), ptr)
	DECQ(n)
	JNZ(LabelRef("pf_loop"))
	Label("pf_done")
	RET()
}
