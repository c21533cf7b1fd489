package main

import (
	"math"

	"github.com/decilm/decilm/kernel/internal/avoext"
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The packed kernels work on Q8_0 and Q4_0 weights laid out again at load time
// (kernel/packed_amd64.go) in groups of 16 rows. Per group: the float16 scales, 16 per
// block (32 bytes), then the values, block after block. A Q8_0 block is 512 bytes in the
// VNNI layout of a tile's B operand: 8 rows of 64 bytes, row q holding values 4q..4q+3 of
// each of the 16 weight rows. A Q4_0 block is 256 bytes: 4 rows of 64 bytes whose low
// nibbles are rows 2z and whose high nibbles are rows 2z+1 of that layout, unsigned
// (value + 8). Each group is then one sequential stream, and 16 rows' block sums come out
// of the integer units as one vector, without horizontal sums.
//
// Every output is computed as in the other quantized kernels: the exact int32 block sum
// s, then acc += (float(s)·dx)·dw, one fused multiply-add per block, so that results are
// the same bits on every path and for any number of activation rows.

// How far ahead of their use the packed kernels prefetch the weights, in bytes: the tile
// kernels into L1 and L2 (chosen with kernel's BenchmarkPackedDRAM), the one-row kernels
// into L1, for Q8_0 and Q4_0 (chosen with decilm bench's tg on the 1b preset: Q4_0 +1.5%
// at 3072 over 2048, Q8_0 1% better at 2048; 4096 and more lose 3-10%), and for Q8_0 also
// into L2 (+2% at 8192 or 16384; no gain for Q4_0).
const (
	pkTileNear, pkTileFar = 2048, 12288
	pkVecAheadQ8          = 2048
	pkVecFarQ8            = 8192
	pkVecAheadQ4          = 3072
)

// noPrefetch tells pkTile's scale step to prefetch nothing.
const noPrefetch = math.MinInt

// Tile registers of pkTile: two pairs of C tiles, so that the tile unit works on one
// pair of blocks while the vector unit scales the other's sums; A tiles hold activations,
// B tiles weights.
const (
	pC0, pC1, pC2, pC3 = 0, 1, 2, 3
	pA0, pA1           = 4, 5
	pB0, pB1           = 6, 7
)

// packedTile generates the tile kernel on packed weights: activations are the A tiles
// (16 rows of one block, 32 int8 each, straight from the quantized rows), weights the B
// tiles, so C holds for activation row t the 16 weight rows' block sums, which scale and
// accumulate into out row t without a transpose.
//
// With q4, the kernel (pkTileQ4) reads a packed Q4_0 group and unpacks each step's blocks
// to int8 in cbuf (past the 8192 bytes of sums) just before the tile loads take them.
func packedTile(q4 bool) {
	name, qb := "pkTile", 512
	if q4 {
		name, qb = "pkTileQ4", 256
	}
	TEXT(name, NOSPLIT, "func(cfg *byte, wq *byte, sc *uint16, xa *int8, dx *float32, nb int, nt int, cbuf *int32, out *float32, os int)")
	what := "int8 weight rows (wq: nb blocks of 512 bytes in the VNNI layout"
	scratch := "8192"
	if q4 {
		what = "Q4_0 weight rows (wq: nb blocks of 256 bytes of nibbles"
		scratch = "10240"
	}
	Doc(name + " computes, for nt tiles of 16 activation rows (xa: per tile, per block, the 16 rows' 32 int8 values, 512 bytes), the products with one packed group of 16 " + what + "; sc: nb×16 float16 scales), scaled per block by the weight scales and dx (per tile, per block, 16 activation scales), into out[t*os/4+r] (os in bytes; tile T starts at out + 16*T*os). cbuf is " + scratch + " bytes of scratch, cfg the tile configuration (amxConfigPacked).")
	Load(Param("cfg"), RSI)
	ldtilecfg()
	xq := Load(Param("xa"), RDX)
	dx := Load(Param("dx"), R8)
	cb := R10
	nt := Load(Param("nt"), R12)
	out := Load(Param("out"), R13)
	wp, sp, cnt, xp := R14, R15, R11, R9

	acc := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15}
	tmp := []VecPhysical{Z17, Z18, Z19, Z20, Z21, Z22, Z23}
	// scale adds one block (its scales at sp+swOff, dx at dx+dxOff, C at cb+cOff). Unless
	// pf is noPrefetch, it also prefetches the weights of the block whose values are at wp+pf, a
	// line into L1 (pkTileNear ahead) or into L2 (pkTileFar ahead) every 16/lines rows:
	// prefetches spread among the arithmetic keep more of the stream in flight than
	// the same prefetches issued together (Q8_0 m=16, BenchmarkPackedDRAM 19 → 22-24 GB/s).
	lines := qb / 64
	scale := func(cb Register, dxOff, swOff, cOff, pf int) {
		VCVTPH2PS(Mem{Base: sp}.Offset(swOff), Z16)
		for t := 0; t < 16; t++ {
			if every := 16 / (2 * lines); pf != noPrefetch && t%every == 0 {
				j := t / every
				if line := pf + 64*(j/2); j%2 == 0 {
					PREFETCHT0(Mem{Base: wp}.Offset(pkTileNear*qb/512 + line))
				} else {
					PREFETCHT2(Mem{Base: wp}.Offset(pkTileFar*qb/512 + line))
				}
			}
			a := tmp[t%len(tmp)]
			VCVTDQ2PS(Mem{Base: cb}.Offset(cOff+64*t), a)
			VMULPS_BCST(Mem{Base: dx}.Offset(dxOff+4*t), a, a) // block sum × dx
			VFMADD231PS(Z16, a, acc[t])                        // + that × dw
		}
	}
	// pair multiplies blocks off/512 and off/512+1 (from the current ones) into tiles c0
	// and c1 and stores them at cb+cOff, 1024 bytes each.
	pair := func(cb Register, c0, c1 byte, off, cOff int) {
		bsrc, boff := wp, off
		if q4 {
			bsrc, boff = RCX, off%2048 // unpacked into the scratch at RCX
		}
		tilezero(c0)
		tilezero(c1)
		MOVQ(U32(32), RDI)
		LEAQ(Mem{Base: xp}.Offset(off), RSI)
		tileloadd(pA0)
		LEAQ(Mem{Base: xp}.Offset(off+512), RSI)
		tileloadd(pA1)
		MOVQ(U32(64), RDI)
		LEAQ(Mem{Base: bsrc}.Offset(boff), RSI)
		tileloadd(pB0)
		LEAQ(Mem{Base: bsrc}.Offset(boff+512), RSI)
		tileloadd(pB1)
		tdpbssd(c0, pA0, pB0)
		tdpbssd(c1, pA1, pB1)
		LEAQ(Mem{Base: cb}.Offset(cOff), RSI)
		tilestored(c0)
		LEAQ(Mem{Base: cb}.Offset(cOff+1024), RSI)
		tilestored(c1)
	}
	// unpack unpacks n Q4_0 blocks at wp to int8 at RCX (Z24: 0x0f bytes, Z25: 8s).
	unpack := func(n int) {
		for z := 0; z < 4*n; z++ {
			v, hi := Z26, Z27
			if z%2 == 1 {
				v, hi = Z28, Z29
			}
			unpackQ4Row(Mem{Base: wp}.Offset(64*z), Mem{Base: RCX}.Offset(128*z), v, hi, Z24, Z25)
		}
	}
	// quadTiles multiplies the next four blocks into cb (4096 bytes) and moves on.
	quadTiles := func(cb Register) {
		if q4 {
			unpack(4)
		}
		pair(cb, pC0, pC1, 0, 0)
		pair(cb, pC2, pC3, 1024, 2048)
		ADDQ(U32(4*qb), wp)
		ADDQ(U32(2048), xp)
		SUBQ(Imm(4), cnt)
	}
	// quadScale adds the four blocks whose sums are at cb and moves on; with prefetch,
	// it prefetches the weights of the four blocks quadTiles last multiplied, ahead.
	quadScale := func(cb Register, prefetch bool) {
		for i := 0; i < 4; i++ {
			pf := noPrefetch
			if prefetch {
				pf = (i - 4) * qb // quadTiles has moved wp past them
			}
			scale(cb, 64*i, 32*i, 1024*i, pf)
		}
		ADDQ(U32(128), sp)
		ADDQ(U32(256), dx)
	}
	cur, prv := RBX, cb

	Label("tile")
	for _, a := range acc {
		VPXORD(a, a, a)
	}
	Load(Param("wq"), wp)
	Load(Param("sc"), sp)
	Load(Param("nb"), cnt)
	MOVQ(xq, xp)
	Load(Param("cbuf"), prv)
	LEAQ(Mem{Base: prv}.Offset(4096), cur)
	if q4 {
		LEAQ(Mem{Base: prv}.Offset(8192), RCX)
		c := RAX
		MOVL(U32(0x0f0f0f0f), c.As32())
		VPBROADCASTD(c.As32(), Z24)
		MOVL(U32(0x08080808), c.As32())
		VPBROADCASTD(c.As32(), Z25)
	}

	// Four blocks a step, software-pipelined: the tile unit multiplies the next four
	// blocks into one half of cbuf while the vector unit scales the last four's sums
	// from the other half (stored a whole step earlier, so that their loads do not wait
	// for the tile stores).
	CMPQ(cnt, Imm(4))
	JL(LabelRef("pair"))
	quadTiles(cur)
	Label("quad")
	XCHGQ(cur, prv)
	CMPQ(cnt, Imm(4))
	JL(LabelRef("drain"))
	quadTiles(cur)
	quadScale(prv, true)
	JMP(LabelRef("quad"))
	Label("drain")
	quadScale(prv, false)

	Label("pair")
	CMPQ(cnt, Imm(2))
	JL(LabelRef("single"))
	if q4 {
		unpack(2)
	}
	pair(prv, pC0, pC1, 0, 0)
	scale(prv, 0, 0, 0, noPrefetch)
	scale(prv, 64, 32, 1024, noPrefetch)
	ADDQ(U32(2*qb), wp)
	ADDQ(U32(64), sp)
	ADDQ(U32(1024), xp)
	ADDQ(U32(128), dx)
	SUBQ(Imm(2), cnt)

	Label("single")
	TESTQ(cnt, cnt)
	JZ(LabelRef("store"))
	tilezero(pC0)
	MOVQ(U32(32), RDI)
	MOVQ(xp, RSI)
	tileloadd(pA0)
	MOVQ(U32(64), RDI)
	if q4 {
		unpack(1)
		MOVQ(RCX, RSI)
	} else {
		MOVQ(wp, RSI)
	}
	tileloadd(pB0)
	tdpbssd(pC0, pA0, pB0)
	MOVQ(prv, RSI)
	tilestored(pC0)
	scale(prv, 0, 0, 0, noPrefetch)
	ADDQ(U32(64), dx)

	Label("store")
	os := Load(Param("os"), RDI)
	MOVQ(out, RSI)
	for _, a := range acc {
		VMOVUPS(a, Mem{Base: RSI})
		ADDQ(os, RSI)
	}
	MOVQ(RSI, out)
	// The next tile of activation rows: nb blocks of 512 bytes further.
	Load(Param("nb"), RAX)
	SHLQ(Imm(9), RAX)
	ADDQ(RAX, xq)
	DECQ(nt)
	JNZ(LabelRef("tile"))
	tilerelease()
	VZEROUPPER()
	RET()
}

// packedVec generates the one-activation-row kernels on packed weights (AVX-512 VNNI):
// each 64-byte row of a block is multiplied by four activation values broadcast to every
// lane, so the 16 weight rows' block sums build up in one register.
//
// Q8_0: VPDPBUSD multiplies unsigned by signed bytes; the activations go in unsigned,
// x + 128 (xu), and 128·Σw, counted by a second VPDPBUSD against ones, comes off the
// sums. Q4_0: the weights' nibbles are the unsigned side as they are (w + 8), the
// activations the broadcast signed side, and 8·Σx per block (cx) comes off.
func packedVec(q4 bool) {
	name, qb, ahead := "pkVecQ8", 512, pkVecAheadQ8
	if q4 {
		name, qb, ahead = "pkVecQ4", 256, pkVecAheadQ4
	}
	TEXT(name, NOSPLIT, "func(grp *byte, gs int, qoff int, ng int, x *int8, dx *float32, cx *int32, nb int, out *float32)")
	what := "x + 128 as unsigned bytes (cx unused)"
	if q4 {
		what = "x as int8, cx: 8·Σx per block"
	}
	Doc(name + " sets out[16*i+r], for the ng packed groups i of 16 weight rows (group i at grp + i*gs, its scales first, its values at qoff), to the dot product of row r and one quantized activation row of nb blocks (x: " + what + "; dx: block scales).")
	g := Load(Param("grp"), GP64())
	gs := Load(Param("gs"), GP64())
	qoff := Load(Param("qoff"), GP64())
	ng := Load(Param("ng"), GP64())
	out := Load(Param("out"), GP64())
	TESTQ(ng, ng)
	JZ(LabelRef("done"))
	mask := ZMM()
	if q4 {
		c := GP32()
		MOVL(U32(0x0f0f0f0f), c)
		VPBROADCASTD(c, mask)
	} else {
		c := GP32()
		MOVL(U32(0x01010101), c)
		VPBROADCASTD(c, mask) // ones, to count Σw
	}
	Label("group")
	acc := ZMM()
	VPXORD(acc, acc, acc)
	sp, wp, xp, dxp, cxp, cnt := GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	MOVQ(g, sp)
	LEAQ(Mem{Base: g, Index: qoff, Scale: 1}, wp)
	Load(Param("x"), xp)
	Load(Param("dx"), dxp)
	Load(Param("cx"), cxp)
	Load(Param("nb"), cnt)
	TESTQ(cnt, cnt)
	JZ(LabelRef("stored"))
	Label("block")
	for i := 0; i < qb; i += 64 {
		PREFETCHT0(Mem{Base: wp}.Offset(ahead + i))
		if !q4 {
			PREFETCHT2(Mem{Base: wp}.Offset(pkVecFarQ8 + i))
		}
	}
	s0, s1 := ZMM(), ZMM()
	VPXORD(s0, s0, s0)
	VPXORD(s1, s1, s1)
	if q4 {
		for z := 0; z < 4; z++ {
			v, hi := ZMM(), ZMM()
			VMOVDQU64(Mem{Base: wp}.Offset(64*z), v)
			VPSRLW(U8(4), v, hi)
			VPANDD(mask, v, v)
			VPANDD(mask, hi, hi)
			avoext.VPDPBUSDBcst(Mem{Base: xp}.Offset(8*z), v, s0)
			avoext.VPDPBUSDBcst(Mem{Base: xp}.Offset(8*z+4), hi, s1)
		}
		VPADDD(s1, s0, s0)
		VPSUBD_BCST(Mem{Base: cxp}, s0, s0) // less 8·Σx
	} else {
		w0, w1 := ZMM(), ZMM()
		VPXORD(w0, w0, w0)
		VPXORD(w1, w1, w1)
		sw := []VecVirtual{w0, w1}
		ss := []VecVirtual{s0, s1}
		for q := 0; q < 8; q++ {
			w, xb := ZMM(), ZMM()
			VMOVDQU64(Mem{Base: wp}.Offset(64*q), w)
			VPBROADCASTD(Mem{Base: xp}.Offset(4*q), xb)
			avoext.VPDPBUSD(w, xb, ss[q%2])
			avoext.VPDPBUSD(w, mask, sw[q%2])
		}
		VPADDD(s1, s0, s0)
		VPADDD(w1, w0, w0)
		VPSLLD(U8(7), w0, w0)
		VPSUBD(w0, s0, s0) // less 128·Σw
	}
	a, d := ZMM(), ZMM()
	VCVTDQ2PS(s0, a)
	VMULPS_BCST(Mem{Base: dxp}, a, a) // block sums × dx
	VCVTPH2PS(Mem{Base: sp}, d)
	VFMADD231PS(d, a, acc) // + those × dw
	ADDQ(U32(qb), wp)
	ADDQ(U32(32), sp)
	ADDQ(U32(32), xp)
	ADDQ(U32(4), dxp)
	ADDQ(U32(4), cxp)
	DECQ(cnt)
	JNZ(LabelRef("block"))
	Label("stored")
	VMOVUPS(acc, Mem{Base: out})
	ADDQ(U32(64), out)
	ADDQ(gs, g)
	DECQ(ng)
	JNZ(LabelRef("group"))
	VZEROUPPER()
	Label("done")
	RET()
}

// unpackQ4Row unpacks the 64 bytes of packed Q4_0 nibbles at src to two rows of the Q8_0
// layout at dst (the low nibbles, then the high ones, 64 bytes each) as int8 values in
// -8..7, using v and hi as scratch; mask holds 0x0f bytes, eight 8s.
func unpackQ4Row(src, dst Mem, v, hi, mask, eight Register) {
	VMOVDQU64(src, v)
	VPSRLW(U8(4), v, hi)
	VPANDD(mask, v, v)
	VPANDD(mask, hi, hi)
	VPSUBB(eight, v, v)
	VPSUBB(eight, hi, hi)
	VMOVDQU64(v, dst)
	VMOVDQU64(hi, dst.Offset(64))
}

// packedUnpackQ4 generates the unpacking of a packed Q4_0 group's values to int8 in the
// Q8_0 packed layout, for the tile kernel.
func packedUnpackQ4() {
	TEXT("pkUnpackQ4", NOSPLIT, "func(dst *int8, src *byte, nb int)")
	Doc("pkUnpackQ4 unpacks nb blocks of a packed Q4_0 group (256 bytes each) to int8 values in -8..7 in the packed Q8_0 layout (512 bytes each).")
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	nb := Load(Param("nb"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	mask, eight := ZMM(), ZMM()
	c := GP32()
	MOVL(U32(0x0f0f0f0f), c)
	VPBROADCASTD(c, mask)
	MOVL(U32(0x08080808), c)
	VPBROADCASTD(c, eight)
	Label("block")
	PREFETCHT0(Mem{Base: src}.Offset(2048))
	PREFETCHT0(Mem{Base: src}.Offset(2048 + 64))
	PREFETCHT0(Mem{Base: src}.Offset(2048 + 128))
	PREFETCHT0(Mem{Base: src}.Offset(2048 + 192))
	for z := 0; z < 4; z++ {
		unpackQ4Row(Mem{Base: src}.Offset(64*z), Mem{Base: dst}.Offset(128*z), ZMM(), ZMM(), mask, eight)
	}
	ADDQ(U32(256), src)
	ADDQ(U32(512), dst)
	DECQ(nb)
	JNZ(LabelRef("block"))
	VZEROUPPER()
	Label("done")
	RET()
}
