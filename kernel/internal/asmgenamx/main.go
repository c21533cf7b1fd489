// Command asmgenamx generates the AMX (Advanced Matrix Extensions) kernels of package
// kernel with avo (github.com/mmcloughlin/avo). Run it through go generate in the kernel
// directory, which writes kernel/amx_amd64.s and kernel/amx_stubs_amd64.go.
//
// Go's assembler does not know the AMX instructions, so they are written out as bytes
// (their encodings are checked in kernel's tests by running them against the plain Go
// kernels). Every tile instruction addresses memory as (SI)(DI*1): SI holds the address
// and DI the row stride.
//
// The kernel multiplies a 16-row tile of quantized weights (int8, one block of 32 values
// per tile product) with 16 activation rows in the VNNI layout (TDPBSSD: int8 × int8 →
// int32), then scales each block's 16×16 int32 result with AVX-512 and adds it to 16
// float32 accumulators held in registers: acc += (float(sum)·dx)·dw, one block after the
// other, the same operations as the AVX-512 VNNI kernels (asmgen512q), so that a row's
// results are the same on every path and for any number of rows.
package main

import (
	"flag"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	flag.Parse()
	ConstraintExpr("!purego")
	tileQ8()
	tileBF16()
	vecQ8()
	vecBF16()
	prepScales()
	prepQ4()
	packedTile(false)
	packedTile(true)
	packedVec(false)
	packedVec(true)
	packedUnpackQ4()
	Generate()
}

// bytes emits raw instruction bytes.
func bytes(comment string, bs ...byte) {
	Comment(comment)
	for _, b := range bs {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}

// Tile registers: C0, C1 accumulate the int32 products of two blocks, A0, A1 hold their
// weights and B0, B1 their activations.
const (
	tC0, tC1 = 0, 1
	tA0, tA1 = 2, 3
	tB0, tB1 = 4, 5
)

func ldtilecfg()      { bytes("LDTILECFG (SI)", 0xc4, 0xe2, 0x78, 0x49, 0x06) }
func tilerelease()    { bytes("TILERELEASE", 0xc4, 0xe2, 0x78, 0x49, 0xc0) }
func tilezero(t byte) { bytes("TILEZERO", 0xc4, 0xe2, 0x7b, 0x49, 0xc0|t<<3) }

// tileloadd loads tile t from (SI)(DI*1).
func tileloadd(t byte) { bytes("TILELOADD (SI)(DI*1)", 0xc4, 0xe2, 0x7b, 0x4b, 0x04|t<<3, 0x3e) }

// tilestored stores tile t to (SI)(DI*1).
func tilestored(t byte) { bytes("TILESTORED (SI)(DI*1)", 0xc4, 0xe2, 0x7a, 0x4b, 0x04|t<<3, 0x3e) }

// tdpbssd computes c += a·b (signed int8 × signed int8, int32 sums of 4 products).
func tdpbssd(c, a, b byte) {
	bytes("TDPBSSD", 0xc4, 0xe2, (^b&15)<<3|0x03, 0x5e, 0xc0|c<<3|a)
}

func tileQ8() {
	TEXT("amxTileQ8", NOSPLIT, "func(cfg *byte, w *byte, ws int, bs int, xp *int8, dx *float32, dw *float32, cbuf *int32, nb int, nt int, out *float32, os int)")
	Doc("amxTileQ8 computes, for nt tiles of 16 activation rows, the 16×16 products of 16 int8 weight rows (block b of row r at w + r*ws + b*bs, 32 values) and the activations (xp: per tile, nb blocks of 512 bytes in the VNNI layout), scaled per block by dw[b*16+r] and dx[b*16+t] (dx: nb*16 values per tile), into out[t*os/4+r] (os in bytes; tile T starts at out + 16*T*os). cbuf is 2048 bytes of scratch, cfg the tile configuration.")
	Load(Param("cfg"), RSI)
	ldtilecfg()
	ws := Load(Param("ws"), RBX)
	bs := Load(Param("bs"), RCX)
	xp := Load(Param("xp"), RDX)
	dx := Load(Param("dx"), R8)
	dw0 := Load(Param("dw"), R9)
	cb := Load(Param("cbuf"), R10)
	nt := Load(Param("nt"), R12)
	out := Load(Param("out"), R13)
	wp, dw, cnt := R14, R15, R11 // per tile: weight pointer, scale pointer, blocks left

	acc := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15}
	tmp := []VecPhysical{Z17, Z18, Z19, Z20, Z21, Z22, Z23}
	// scale adds block (dx, dw, C at cbuf+off) to the accumulators.
	scale := func(dxOff, dwOff, cOff int) {
		VMOVUPS(Mem{Base: dx}.Offset(dxOff), Z16)
		for r := 0; r < 16; r++ {
			a := tmp[r%7]
			VCVTDQ2PS(Mem{Base: cb}.Offset(cOff+64*r), a)
			VMULPS(Z16, a, a)                                            // block sum × dx
			VFMADD231PS_BCST(Mem{Base: dw}.Offset(dwOff+4*r), a, acc[r]) // + that × dw
		}
	}

	Label("tile")
	for _, a := range acc {
		VPXORD(a, a, a)
	}
	Load(Param("w"), wp)
	MOVQ(dw0, dw)
	Load(Param("nb"), cnt)
	q8Loop(wp, ws, bs, xp, cb, cnt, dx, dw, 512, 64, 1024, 64, scale)

	Label("store")
	storeTile(acc, out, nt)
}

// prefetchRows prefetches the cache lines at p + r*ws for the 16 rows r of a tile,
// advancing p.
func prefetchRows(p, ws Register) {
	for i := 0; i < 8; i++ {
		PREFETCHT0(Mem{Base: p})
		PREFETCHT0(Mem{Base: p, Index: ws, Scale: 1})
		if i < 7 {
			LEAQ(Mem{Base: p, Index: ws, Scale: 2}, p)
		}
	}
}

// tdpbf16ps computes c += a·b (bfloat16 pairs, float32 sums).
func tdpbf16ps(c, a, b byte) {
	bytes("TDPBF16PS", 0xc4, 0xe2, (^b&15)<<3|0x02, 0x5c, 0xc0|c<<3|a)
}

// The tile registers of the bfloat16 kernels: the hi, mid and lo parts' products, the
// weights, and the activations' three parts.
const tCh, tCm, tCl, tA, tBh, tBm, tBl = 0, 1, 2, 3, 4, 5, 6

// bf16Loop emits the chunk loop of amxTileBF16 and amxVecBF16 and stores the three C
// tiles at cb, each 16 rows of xs bytes apart: per chunk of 32 values, one A tile from the
// 16 weight rows (wp, stride ws) and the three parts of the activations at xp, 16·xs bytes
// each, rows xs bytes apart.
func bf16Loop(wp, ws, xp, cb, cnt Register, xs int) {
	tilezero(tCh)
	tilezero(tCm)
	tilezero(tCl)
	TESTQ(cnt, cnt)
	JZ(LabelRef("store"))
	Label("chunk")
	LEAQ(Mem{Base: wp}.Offset(512), RCX)
	prefetchRows(RCX, ws)
	MOVQ(wp, RSI)
	MOVQ(ws, RDI)
	tileloadd(tA)
	MOVQ(U32(xs), RDI)
	for i, t := range []byte{tBh, tBm, tBl} {
		LEAQ(Mem{Base: xp}.Offset(16*xs*i), RSI)
		tileloadd(t)
	}
	tdpbf16ps(tCh, tA, tBh)
	tdpbf16ps(tCm, tA, tBm)
	tdpbf16ps(tCl, tA, tBl)
	ADDQ(U32(64), wp)
	ADDQ(U32(3*16*xs), xp)
	DECQ(cnt)
	JNZ(LabelRef("chunk"))
	Label("store")
	MOVQ(U32(xs), RDI)
	for i, t := range []byte{tCh, tCm, tCl} {
		LEAQ(Mem{Base: cb}.Offset(16*xs*i), RSI)
		tilestored(t)
	}
}

// tileBF16 generates the bfloat16 kernel. The activations come as three bfloat16 parts,
// x = hi + mid + lo exactly (a float32 has 24 significant bits, a bfloat16 8), so the
// tile unit's exact bfloat16 products give w·x as float32 arithmetic would, at three
// times the tile work. Each part's products accumulate over all of k in its own tile
// register (no per-block scales), and the three are added at the end.
func tileBF16() {
	TEXT("amxTileBF16", NOSPLIT, "func(cfg *byte, w *byte, ws int, xp *uint16, nc int, nt int, cbuf *float32, out *float32, os int)")
	Doc("amxTileBF16 computes, for nt tiles of 16 activation rows, the 16×16 dot products of 16 bfloat16 weight rows (row r at w + r*ws, nc chunks of 32 values) and the activations (xp: per tile, nc chunks of 3072 bytes: the hi, mid and lo parts, each 16 rows of 16 bfloat16 pairs, the VNNI layout), into out[t*os/4+r] (os in bytes; tile T starts at out + 16*T*os). cbuf is 3072 bytes of scratch, cfg the tile configuration.")
	Load(Param("cfg"), RSI)
	ldtilecfg()
	w := Load(Param("w"), RAX)
	ws := Load(Param("ws"), RBX)
	xp := Load(Param("xp"), RDX)
	nt := Load(Param("nt"), R12)
	cb := Load(Param("cbuf"), R10)
	out := Load(Param("out"), R13)
	wp, cnt := R14, R11
	acc := []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15}

	Label("tile")
	MOVQ(w, wp)
	Load(Param("nc"), cnt)
	bf16Loop(wp, ws, xp, cb, cnt, 64)
	for r, a := range acc {
		VMOVUPS(Mem{Base: cb}.Offset(64*r), a)
		VADDPS(Mem{Base: cb}.Offset(1024+64*r), a, a)
		VADDPS(Mem{Base: cb}.Offset(2048+64*r), a, a)
	}
	storeTile(acc, out, nt)
}

// q8Loop emits the block loop of amxTileQ8 and amxVecQ8: pairs of blocks on two tile
// chains, then an odd last block, each block's products added by scale(dxOff, dwOff,
// cOff). Per block the activations (B tile, row stride xs) take xb bytes, the scales dx
// xd bytes and dw 64 bytes; a stored C tile takes cbytes. The weights (A tiles) are rows
// of wp with stride ws, blocks bs bytes apart.
func q8Loop(wp, ws, bs, xp, cb, cnt, dx, dw Register, xb, xs, cbytes, xd int, scale func(dxOff, dwOff, cOff int)) {
	Label("pair")
	CMPQ(cnt, Imm(2))
	JL(LabelRef("single"))
	LEAQ(Mem{Base: wp, Index: bs, Scale: 8}, RAX)
	prefetchRows(RAX, ws)
	tilezero(tC0)
	tilezero(tC1)
	MOVQ(wp, RSI)
	MOVQ(ws, RDI)
	tileloadd(tA0)
	LEAQ(Mem{Base: wp, Index: bs, Scale: 1}, RSI)
	tileloadd(tA1)
	MOVQ(xp, RSI)
	MOVQ(U32(xs), RDI)
	tileloadd(tB0)
	LEAQ(Mem{Base: xp}.Offset(xb), RSI)
	tileloadd(tB1)
	tdpbssd(tC0, tA0, tB0)
	tdpbssd(tC1, tA1, tB1)
	MOVQ(cb, RSI)
	tilestored(tC0)
	LEAQ(Mem{Base: cb}.Offset(cbytes), RSI)
	tilestored(tC1)
	scale(0, 0, 0)
	scale(xd, 64, cbytes)
	LEAQ(Mem{Base: wp, Index: bs, Scale: 2}, wp)
	ADDQ(U32(2*xb), xp)
	ADDQ(U32(2*xd), dx)
	ADDQ(U32(128), dw)
	SUBQ(Imm(2), cnt)
	JMP(LabelRef("pair"))

	Label("single")
	TESTQ(cnt, cnt)
	JZ(LabelRef("store"))
	tilezero(tC0)
	MOVQ(wp, RSI)
	MOVQ(ws, RDI)
	tileloadd(tA0)
	MOVQ(xp, RSI)
	MOVQ(U32(xs), RDI)
	tileloadd(tB0)
	tdpbssd(tC0, tA0, tB0)
	MOVQ(cb, RSI)
	tilestored(tC0)
	scale(0, 0, 0)
	ADDQ(U32(xb), xp)
	ADDQ(U32(xd), dx)
}

// vecQ8 generates the one-activation-row variant of amxTileQ8: the B tile is the
// activation block itself (8 rows of 4 values) and the C tile one column, so the 16 rows'
// block sums land in one vector, scaled and accumulated with three instructions. Each
// output is computed with the same operations as in amxTileQ8 (dx·dw, then one fused
// multiply-add per block), so a row's results do not depend on the number of rows.
func vecQ8() {
	TEXT("amxVecQ8", NOSPLIT, "func(cfg *byte, w *byte, ws int, bs int, xq *int8, dx *float32, dw *float32, cbuf *int32, nb int, out *float32)")
	Doc("amxVecQ8 sets out[r], r < 16, to the product of 16 int8 weight rows (block b of row r at w + r*ws + b*bs) and one activation row (xq: nb blocks of 32 int8, scales dx), scaled per block by dw[b*16+r] and dx[b]. cbuf is 128 bytes of scratch, cfg the tile configuration.")
	Load(Param("cfg"), RSI)
	ldtilecfg()
	wp := Load(Param("w"), R14)
	ws := Load(Param("ws"), RBX)
	bs := Load(Param("bs"), RCX)
	xq := Load(Param("xq"), RDX)
	dx := Load(Param("dx"), R8)
	dw := Load(Param("dw"), R15)
	cb := Load(Param("cbuf"), R10)
	cnt := Load(Param("nb"), R11)
	acc := Z0
	VPXORD(acc, acc, acc)
	scale := func(dxOff, dwOff, cOff int) {
		a, b := Z1, Z2
		if cOff != 0 {
			a, b = Z3, Z4
		}
		VCVTDQ2PS(Mem{Base: cb}.Offset(cOff), a)
		VMULPS_BCST(Mem{Base: dx}.Offset(dxOff), a, a) // block sums × dx
		VMOVUPS(Mem{Base: dw}.Offset(dwOff), b)
		VFMADD231PS(b, a, acc) // + those × dw
	}
	q8Loop(wp, ws, bs, xq, cb, cnt, dx, dw, 32, 4, 64, 4, scale)

	Label("store")
	Load(Param("out"), RSI)
	VMOVUPS(acc, Mem{Base: RSI})
	tilerelease()
	VZEROUPPER()
	RET()
}

// vecBF16 generates the one-activation-row variant of amxTileBF16 (a one-column C tile;
// the B tiles are the activation's three bfloat16 parts as they are), with the same
// per-output operations.
func vecBF16() {
	TEXT("amxVecBF16", NOSPLIT, "func(cfg *byte, w *byte, ws int, xh *uint16, nc int, cbuf *float32, out *float32)")
	Doc("amxVecBF16 sets out[r], r < 16, to the dot product of 16 bfloat16 weight rows (row r at w + r*ws, nc chunks of 32 values) and one activation row split in three bfloat16 parts (xh: per chunk of 32 values, the hi, mid and lo parts, 64 bytes each). cbuf is 192 bytes of scratch, cfg the tile configuration.")
	Load(Param("cfg"), RSI)
	ldtilecfg()
	wp := Load(Param("w"), R14)
	ws := Load(Param("ws"), RBX)
	xh := Load(Param("xh"), RDX)
	cb := Load(Param("cbuf"), R10)
	cnt := Load(Param("nc"), R11)
	bf16Loop(wp, ws, xh, cb, cnt, 4)
	VMOVUPS(Mem{Base: cb}, Z0)
	VADDPS(Mem{Base: cb}.Offset(64), Z0, Z0)
	VADDPS(Mem{Base: cb}.Offset(128), Z0, Z0)
	Load(Param("out"), RSI)
	VMOVUPS(Z0, Mem{Base: RSI})
	tilerelease()
	VZEROUPPER()
	RET()
}

// prepScales converts the float16 block scales of a group of weight rows to float32,
// one gather of 16 rows per block.
func prepScales() {
	TEXT("amxScales", NOSPLIT, "func(dw *float32, src *byte, rs int, bs int, nb int, rows int)")
	Doc("amxScales sets dw[b*16+r] to the float16 scale at src + r*rs + b*bs, for r < rows and b < nb, and to 0 for rows ≤ r < 16. It is the first pass over a group of weight rows, so it prefetches them ahead. (A version with one 16-row gather per block took no less time here.)")
	dw := Load(Param("dw"), GP64())
	src := Load(Param("src"), GP64())
	rs := Load(Param("rs"), GP64())
	bs := Load(Param("bs"), GP64())
	nb := Load(Param("nb"), GP64())
	rows := Load(Param("rows"), GP64())
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	CMPQ(rows, Imm(16))
	JNE(LabelRef("part"))
	rs3 := GP64()
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, rs3)
	pf, a := GP64(), GP64()
	Label("block")
	// Every other block, prefetch the 16 rows 8 blocks ahead (one cache line each).
	TESTQ(U32(1), nb)
	JNZ(LabelRef("load"))
	LEAQ(Mem{Base: src, Index: bs, Scale: 8}, pf)
	prefetchRows(pf, rs)
	Label("load")
	lo, hi := XMM(), XMM()
	MOVQ(src, a)
	for r := 0; r < 16; r++ {
		x := lo
		if r >= 8 {
			x = hi
		}
		var m Mem
		switch r % 4 {
		case 0:
			m = Mem{Base: a}
		case 1:
			m = Mem{Base: a, Index: rs, Scale: 1}
		case 2:
			m = Mem{Base: a, Index: rs, Scale: 2}
		case 3:
			m = Mem{Base: a, Index: rs3, Scale: 1}
		}
		VPINSRW(U8(r%8), m, x, x)
		if r%4 == 3 && r < 15 {
			LEAQ(Mem{Base: a, Index: rs, Scale: 4}, a)
		}
	}
	y := YMM()
	VINSERTI128(U8(1), hi, lo.AsY(), y)
	f := ZMM()
	VCVTPH2PS(y, f)
	VMOVUPS(f, Mem{Base: dw})
	ADDQ(bs, src)
	ADDQ(U32(64), dw)
	DECQ(nb)
	JNZ(LabelRef("block"))
	VZEROUPPER()
	RET()

	// Fewer than 16 rows (the last group of a matrix): one scale at a time.
	Label("part")
	z := ZMM()
	VPXORD(z, z, z)
	n2, d2 := GP64(), GP64()
	MOVQ(nb, n2)
	MOVQ(dw, d2)
	Label("zero")
	VMOVUPS(z, Mem{Base: d2})
	ADDQ(U32(64), d2)
	DECQ(n2)
	JNZ(LabelRef("zero"))
	TESTQ(rows, rows)
	JZ(LabelRef("clean"))
	Label("row")
	p, d, b := GP64(), GP64(), GP64()
	MOVQ(src, p)
	MOVQ(dw, d)
	MOVQ(nb, b)
	Label("one")
	h := GP32()
	MOVWLZX(Mem{Base: p}, h)
	x := XMM()
	VMOVD(h, x)
	VCVTPH2PS(x, x)
	VMOVSS(x, Mem{Base: d})
	ADDQ(bs, p)
	ADDQ(U32(64), d)
	DECQ(b)
	JNZ(LabelRef("one"))
	ADDQ(rs, src)
	ADDQ(U32(4), dw)
	DECQ(rows)
	JNZ(LabelRef("row"))
	Label("clean")
	VZEROUPPER()
	Label("done")
	RET()
}

// prepQ4 unpacks Q4_0 rows to int8 values, four blocks per step.
func prepQ4() {
	low4 := GLOBL("amxlow4", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(0x0f))
	}
	eights := GLOBL("amxeights", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(8))
	}
	perm := GLOBL("amxq4perm", RODATA|NOPTR)
	for i, v := range []uint64{0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15} {
		DATA(8*i, U64(v))
	}
	TEXT("amxUnpackQ4", NOSPLIT, "func(q *int8, qs int, src *byte, rs int, nb int, rows int)")
	Doc("amxUnpackQ4 unpacks nb Q4_0 blocks of each of rows rows (row r at src + r*rs) to int8 values in -8..7, block b of row r at q[r*qs+b*32:].")
	q := Load(Param("q"), GP64())
	qs := Load(Param("qs"), GP64())
	src := Load(Param("src"), GP64())
	rs := Load(Param("rs"), GP64())
	nb := Load(Param("nb"), GP64())
	rows := Load(Param("rows"), GP64())
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	TESTQ(nb, nb)
	JZ(LabelRef("done"))
	mask, off, pa, pb := ZMM(), ZMM(), ZMM(), ZMM()
	VMOVDQU64(low4, mask)
	VMOVDQU64(eights, off)
	VMOVDQU64(perm, pa)
	VMOVDQU64(perm.Offset(64), pb)
	Label("row")
	p, o, b := GP64(), GP64(), GP64()
	MOVQ(src, p)
	MOVQ(q, o)
	MOVQ(nb, b)
	Label("quad")
	CMPQ(b, Imm(4))
	JL(LabelRef("tail"))
	v, hi, lo2 := ZMM(), ZMM(), ZMM()
	VMOVDQU64(Mem{Base: p}.Offset(2), v.AsX())
	VINSERTI32X4(U8(1), Mem{Base: p}.Offset(20), v, v)
	VINSERTI32X4(U8(2), Mem{Base: p}.Offset(38), v, v)
	VINSERTI32X4(U8(3), Mem{Base: p}.Offset(56), v, v)
	VPSRLW(U8(4), v, hi)
	VPANDD(mask, v, v)
	VPANDD(mask, hi, hi)
	// v: low nibbles of blocks 0-3 (16 bytes each), hi: high nibbles. Block b's values
	// are its low 16 then its high 16.
	VMOVDQA64(v, lo2)
	VPERMT2Q(hi, pa, v)   // blocks 0, 1
	VPERMT2Q(hi, pb, lo2) // blocks 2, 3
	VPSUBB(off, v, v)
	VPSUBB(off, lo2, lo2)
	VMOVDQU64(v, Mem{Base: o})
	VMOVDQU64(lo2, Mem{Base: o}.Offset(64))
	ADDQ(U32(72), p)
	ADDQ(U32(128), o)
	SUBQ(Imm(4), b)
	JMP(LabelRef("quad"))
	Label("tail")
	TESTQ(b, b)
	JZ(LabelRef("next"))
	x, xh := XMM(), XMM()
	VMOVDQU(Mem{Base: p}.Offset(2), x)
	VPSRLW(U8(4), x, xh)
	VPAND(mask.AsX(), x, x)
	VPAND(mask.AsX(), xh, xh)
	y := YMM()
	VINSERTI128(U8(1), xh, x.AsY(), y)
	VPSUBB(off.AsY(), y, y)
	VMOVDQU(y, Mem{Base: o})
	ADDQ(U32(18), p)
	ADDQ(U32(32), o)
	DECQ(b)
	JMP(LabelRef("tail"))
	Label("next")
	ADDQ(rs, src)
	ADDQ(qs, q)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	Label("done")
	RET()
}

// storeTile ends the loop over activation tiles of the tile kernels: it transposes the
// 16×16 results in acc (row r: weight row r) and stores them as out[t*os/4+r] (os, the
// "os" parameter, in bytes), advances out to the next tile's rows, and when nt tiles are
// done releases the tile state and returns.
func storeTile(acc []VecPhysical, out, nt Register) {
	transpose16(acc)
	Load(Param("os"), RDI) // DI is the tile stride register until here
	MOVQ(out, RSI)
	for _, a := range acc {
		VMOVUPS(a, Mem{Base: RSI})
		ADDQ(RDI, RSI)
	}
	MOVQ(RSI, out)
	DECQ(nt)
	JNZ(LabelRef("tile"))
	tilerelease()
	VZEROUPPER()
	RET()
}

// transpose16 transposes the 16×16 float32 matrix held in the 16 registers r (row i in
// r[i]) in place, using Z16-Z31 as scratch: afterwards r[j] holds column j.
func transpose16(r []VecPhysical) {
	t := []VecPhysical{Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	for i := 0; i < 8; i++ {
		VUNPCKLPS(r[2*i+1], r[2*i], t[2*i])
		VUNPCKHPS(r[2*i+1], r[2*i], t[2*i+1])
	}
	for i := 0; i < 4; i++ {
		VSHUFPS(U8(0x44), t[4*i+2], t[4*i], r[4*i])
		VSHUFPS(U8(0xee), t[4*i+2], t[4*i], r[4*i+1])
		VSHUFPS(U8(0x44), t[4*i+3], t[4*i+1], r[4*i+2])
		VSHUFPS(U8(0xee), t[4*i+3], t[4*i+1], r[4*i+3])
	}
	for i := 0; i < 4; i++ {
		VSHUFF32X4(U8(0x88), r[i+4], r[i], t[i])
		VSHUFF32X4(U8(0xdd), r[i+4], r[i], t[i+4])
		VSHUFF32X4(U8(0x88), r[i+12], r[i+8], t[i+8])
		VSHUFF32X4(U8(0xdd), r[i+12], r[i+8], t[i+12])
	}
	for i := 0; i < 8; i++ {
		VSHUFF32X4(U8(0x88), t[i+8], t[i], r[i])
		VSHUFF32X4(U8(0xdd), t[i+8], t[i], r[i+8])
	}
}
