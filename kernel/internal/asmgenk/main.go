// Command asmgenk generates the AVX2 assembly of package kernel for block types beyond
// Q8_0, Q4_0, Q4_K and Q6_K (kquant_amd64.s, declared in kquant_stubs_amd64.go) with avo
// (github.com/mmcloughlin/avo). Run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// Each kernel is the dot product of one weight row, decoded block by block in registers,
// with one row of activations quantized by QuantizeQ8 (int8 values in blocks of 32 and a
// float32 scale per block): exact integer sums per block of 32, scaled and accumulated in
// eight float32 lanes. The Go code in kquant.go holds the plain versions they are tested
// against. The -avx512 flag generates the AVX-512 variants (kquant512_amd64.s) of the
// kernels where those are faster and give the same bits. grid.go and block32.go hold
// the kernels of the remaining block types (the grid i-quants, the ternary types, Q8_K,
// and the blocks of 32 IQ4_NL, Q5_0, Q4_1, Q5_1).
package main

import (
	"flag"
	"fmt"
	"math/bits"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// prefetch is how far ahead in the weight row the kernels prefetch (bytes), as the Q4_K
// kernel does: 8 blocks of 144 bytes.
const prefetch = 1152

var signBit, onesW, low4, bit5, iq4Table, threes, fours, thirtyTwo, evenOdd, repWord Mem

// IQ2_XS decoding (iq2XSSuper).
var iq2Parity, iq2SignShuf, iq2BitSel, iq2Seven7F, iq2ScaleTable, eighth Mem

// Q3_K scale unpacking (q3KScales16).
var q3KLowSrc, q3KLowShift, q3KHighSrc, q3KHighShift, q3KHighMask Mem

// avx512 selects the AVX-512 kernels (kquant512_amd64.s) instead of the AVX2 ones.
var avx512 = flag.Bool("avx512", false, "generate the AVX-512 kernels")

// iqgrid selects the VNNI-order grid i-quant kernels (iqgrid_amd64.s, iqgrid512.go).
var iqgrid = flag.Bool("iqgrid", false, "generate the VNNI-order grid i-quant kernels")

// iq1 selects the VNNI-order IQ1_S and IQ1_M kernels (iq1_amd64.s, iq1512.go).
var iq1 = flag.Bool("iq1", false, "generate the VNNI-order IQ1_S and IQ1_M kernels")

func main() {
	flag.Parse()
	ConstraintExpr("!purego")
	if *iqgrid {
		iqGrid512()
		Generate()
		return
	}
	if *iq1 {
		iq1512()
		Generate()
		return
	}
	if *avx512 {
		iq2Consts()
		q2KConsts512()
		iq2XS512()
		iq2XS32512()
		iq2XSUnpack512()
		iq2XSUnpackVBMI512()
		iq2XS32Consts()
		iq2DxIdx = GLOBL("kq_iq2dxidx", RODATA|NOPTR)
		for j := 0; j < 16; j++ {
			DATA(4*j, U32(uint32(j/4+4*(j%4/2))))
		}
		iq2XS32x2512()
		q2K512()
		lowBit512()
		Generate()
		return
	}
	onesW = GLOBL("kq_onesw", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(2*i, U16(1))
	}
	low4 = GLOBL("kq_low4", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x0f))
	}
	bit5 = GLOBL("kq_sixteen", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x10))
	}
	// ggml's kvalues_iq4nl, twice (one copy per 128-bit lane for VPSHUFB).
	iq4 := []int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
	iq4Table = GLOBL("kq_iq4nl", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(uint8(iq4[i%16])))
	}
	threes = GLOBL("kq_threes", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(3))
	}
	fours = GLOBL("kq_fours", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(4))
	}
	thirtyTwo = GLOBL("kq_thirtytwo", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(32))
	}
	// Bytes 0, 2, ..., 14 then 1, 3, ..., 15: Q3_K's even scales before its odd ones.
	evenOdd = GLOBL("kq_evenodd", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(2*(i%8)+i/8))
	}
	// Eight masks of 32 bytes: mask j repeats 16-bit element j across each 128-bit lane.
	repWord = GLOBL("kq_repword", RODATA|NOPTR)
	for j := 0; j < 8; j++ {
		for i := 0; i < 32; i++ {
			DATA(32*j+i, U8(2*j+i%2))
		}
	}
	q3KLowSrc = GLOBL("kq_q3klowsrc", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(2+i%8))
	}
	q3KLowShift = GLOBL("kq_q3klowshift", RODATA|NOPTR)
	for i, sh := range []uint32{0, 0, 4, 4} {
		DATA(4*i, U32(sh))
	}
	q3KHighSrc = GLOBL("kq_q3khighsrc", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(10+i%4))
	}
	q3KHighShift = GLOBL("kq_q3khighshift", RODATA|NOPTR)
	for i, sh := range []uint32{0, 2, 4, 6} {
		DATA(4*i, U32(sh))
	}
	q3KHighMask = GLOBL("kq_q3khighmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(0x30))
	}
	iq2Consts()
	signBit = GLOBL("kq_signbit", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x80000000))
	}
	q5K()
	iq4XS()
	q3K()
	iq2XS()
	q2K()
	for c := 2; c <= 4; c++ {
		q2KTile(c)
		q5KTile(c)
		iq4XSTile(c)
		q3KTile(c)
		iq2XSTile(c)
	}
	iq2XSP()
	gridConsts()
	for _, g := range gridKinds {
		gridRow(g)
	}
	for c := 2; c <= 4; c++ {
		for _, g := range gridKinds {
			gridTile(g, c)
		}
	}
	for _, k := range b32Kinds {
		block32Row(k)
	}
	for c := 2; c <= 4; c++ {
		for _, k := range b32Kinds {
			block32Tile(k, c)
		}
	}
	Generate()
}

// iq2Consts defines the constants of the IQ2_XS kernels.
func iq2Consts() {
	// 0x80 where the 4-bit index has an odd number of set bits.
	iq2Parity = GLOBL("kq_iq2parity", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(uint8(bits.OnesCount8(uint8(i%16))%2)<<7))
	}
	// Two masks: byte e takes byte 2·(e/8) (then 8 + 2·(e/8)) of its 128-bit lane, the
	// sign byte of entry e/8 of the first (second) four entries of the lane's eight.
	iq2SignShuf = GLOBL("kq_iq2signshuf", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(8*(i/32)+2*(i%32/8)))
	}
	iq2BitSel = GLOBL("kq_iq2bitsel", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(1<<(i%8)))
	}
	iq2Seven7F = GLOBL("kq_iq2x7f", RODATA|NOPTR)
	for i := 0; i < 32; i++ {
		DATA(i, U8(0x7f))
	}
	// For each scales byte b, 16 int16: 2·(b & 15) + 1 eight times, then 2·(b >> 4) + 1.
	iq2ScaleTable = GLOBL("kq_iq2scales", RODATA|NOPTR)
	for b := 0; b < 256; b++ {
		lo, hi := uint64(2*(b&15)+1), uint64(2*(b>>4)+1)
		for i := 0; i < 4; i++ {
			v := lo * 0x0001000100010001
			if i >= 2 {
				v = hi * 0x0001000100010001
			}
			DATA(32*b+8*i, U64(v))
		}
	}
	eighth = GLOBL("kq_eighth", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, F32(0.125))
	}
}

// q5K: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
// One Q5_K row (nsb super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and
// mins packed as Q4_K's, qh[32] fifth bits, qs[128] nibbles) against a quantized row, given
// xs (each block's scale times the sum of its int8 values): weight e of sub-block j is
// d·sc_j·q_e - dmin·m_j, q_e = nibble + 16·(bit j of qh[e%32]), so the product is
// Σ_j d·sc_j·dx_j·Σ q·x  -  dmin·Σ_j m_j·xs_j.
func q5K() {
	TEXT("dotQ5KAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32")
	Doc("dotQ5KAVX returns the dot product of nsb Q5_K super-blocks with a row quantized by QuantizeQ8 (xs: scale·Σq per block).")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nsb := Load(Param("nsb"), GP64())
	local := AllocLocal(32)
	acc, macc := YMM(), YMM()
	VXORPS(acc, acc, acc)
	VXORPS(macc, macc, macc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 176; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	// The scales and mins, as ggml's get_scale_min_k4.
	avoext.KScalesMins(w, Mem{Base: xd}, Mem{Base: xs}, local, macc)
	qh := YMM()
	VMOVDQU(Mem{Base: w}.Offset(16), qh)
	for g := 0; g < 4; g++ {
		q, lo, hi, s := YMM(), YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(48+32*g), q)
		VPAND(low4, q, lo)
		VPSRLW(U8(4), q, hi)
		VPAND(low4, hi, hi)
		for half, v := range []VecVirtual{lo, hi} {
			j := 2*g + half
			// bit j of each qh byte, moved to bit 4 (16), joins the nibble.
			h := YMM()
			switch {
			case j < 4:
				VPSLLW(U8(4-j), qh, h)
			case j > 4:
				VPSRLW(U8(j-4), qh, h)
			default:
				VMOVDQA(qh, h)
			}
			VPAND(bit5, h, h)
			VPOR(h, v, v)
			VPMADDUBSW(Mem{Base: xq}.Offset(32*j), v, v) // q (≤ 31) times x in pairs
			VPMADDWD(onesW, v, v)
			VCVTDQ2PS(v, v)
			VBROADCASTSS(local.Offset(4*j), s)
			VFMADD231PS(v, s, acc)
		}
	}
	ADDQ(U32(176), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(32), xs)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VSUBPS(macc, acc, acc)
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// iq4XS: func(w *byte, xq *int8, xd *float32, nsb int) float32
// One IQ4_XS row (nsb super-blocks of 256: f16 d, uint16 scales_h, scales_l[4], qs[128])
// against a quantized row: sub-block ib (32 weights, one block of x) has scale
// d·(ls_ib - 32), ls_ib = (scales_l[ib/2] >> 4·(ib%2)) & 15 | ((scales_h >> 2·ib) & 3) << 4,
// and its weights are kvalues_iq4nl[nibble]: low nibbles of qs[16·ib..] first, then high.
// The signed values meet x through VPMADDUBSW as |v| times x·sign(v).
func iq4XS() {
	TEXT("dotIQ4XSAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int) float32")
	Doc("dotIQ4XSAVX returns the dot product of nsb IQ4_XS super-blocks with a row quantized by QuantizeQ8.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc := YMM()
	VXORPS(acc, acc, acc)
	table := YMM()
	VMOVDQU(iq4Table, table)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 136; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	d := YMM()
	VPBROADCASTW(Mem{Base: w}, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	sh, sl := GP32(), GP32()
	MOVWLZX(Mem{Base: w}.Offset(2), sh)
	MOVL(Mem{Base: w}.Offset(4), sl)
	for g := 0; g < 4; g++ {
		q, lo, hi := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(8+32*g), q)
		VPSRLW(U8(4), q, hi)
		VPAND(low4, q, lo)
		VPAND(low4, hi, hi)
		VPSHUFB(lo, table, lo)
		VPSHUFB(hi, table, hi)
		for half := 0; half < 2; half++ {
			ib := 2*g + half
			v := YMM()
			// sub-block ib: its low nibbles (lane half of lo), then its high ones.
			VPERM2I128(U8(0x20+0x11*half), hi, lo, v)
			ls, t := GP32(), GP32()
			MOVL(sl, ls)
			SHRL(U8(4*ib), ls)
			ANDL(U32(15), ls)
			MOVL(sh, t)
			SHRL(U8(2*ib), t)
			ANDL(U32(3), t)
			SHLL(U8(4), t)
			ORL(t, ls)
			SUBL(U32(32), ls)
			s := XMM()
			VXORPS(s, s, s)
			VCVTSI2SSL(ls, s, s)
			VMULSS(Mem{Base: xd}.Offset(4*ib), s, s)
			sv := YMM()
			VBROADCASTSS(s, sv)
			VMULPS(d, sv, sv) // d·(ls-32)·dx: the order the plain version uses
			x, a := YMM(), YMM()
			VMOVDQU(Mem{Base: xq}.Offset(32*ib), x)
			VPSIGNB(v, x, x)
			VPSIGNB(v, v, a)
			VPMADDUBSW(x, a, a)
			VPMADDWD(onesW, a, a)
			VCVTDQ2PS(a, a)
			VFMADD231PS(a, sv, acc)
		}
	}
	ADDQ(U32(136), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// q3K: func(w *byte, xq *int8, xd *float32, nsb int) float32
// One Q3_K row (nsb super-blocks of 256: hmask[32], qs[64], 12 bytes of sixteen 6-bit
// scales, f16 d) against a quantized row. Half n (128 weights) and step s (0..3) give the
// 32 weights of block j = 4n+s of x: q2 - h4 with q2 = (qs[32n+l] >> 2s) & 3 and h4 = 4
// where bit j of hmask[l] is clear, the first 16 with scale sc_2j - 32, the next 16 with
// sc_2j+1 - 32. Both parts meet x through VPMADDUBSW (q2 and h4 are unsigned), their
// difference is scaled in int16 by VPMADDWD (each int32 lane: (sc - 32)·Σ of 4 q·x,
// exact), and the lanes are summed in float32 times dx_j over the super-block's eight
// blocks, then that sum times d is added to the accumulator (a super-block's chain of
// FMAs does not wait for the previous one's). dotQ3KGeneric is the plain version, in the
// same order.
func q3K() {
	TEXT("dotQ3KAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int) float32")
	Doc("dotQ3KAVX returns the dot product of nsb Q3_K super-blocks with a row quantized by QuantizeQ8.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc := YMM()
	VXORPS(acc, acc, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 110; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	sc := q3KScales16(w)
	hinv := q3KHInv(w)
	t := YMM()
	for j := 0; j < 8; j++ {
		q2, h4, sv := q3KBlock(w, hinv, sc, j)
		q3KRowDot(q2, h4, sv, Mem{Base: xq}.Offset(32*j), Mem{Base: xd}.Offset(4*j), t, j == 0)
	}
	q3KAddD(w, []VecVirtual{t}, []VecVirtual{acc})
	ADDQ(U32(110), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// iq2XS: func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32
// One IQ2_XS row (nsb super-blocks of 256: f16 d, qs[32] uint16, scales[8]) against a
// quantized row; iq2XSSuper gives the layout and the order of the sums. Each super-block's
// eight-lane sum t is multiplied by d/8 into the accumulator acc, whose lanes are added
// at the end (avoext.HSum8). dotIQ2XSGeneric is the plain version, in the same order.
//
// Measured (BenchmarkIQ2XS, thread CPU time, one thread, shared Zen 5, 1B shapes), with
// GODEBUG=cpu.avx512f=off: 2048×2048 m=1 214 µs (before this kernel: 462 µs; llama.cpp's
// AVX2 ggml_vec_dot_iq2_xs_q8_K on the same rows: 258 µs), 5632×2048 587 µs (1232, 707),
// 2048×5632 551 µs (1193, 721); m=16 through the 1×4 tiles 1927/5167/5167 µs (before
// 3514/9698/9559).
func iq2XS() {
	TEXT("dotIQ2XSAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32")
	Doc("dotIQ2XSAVX returns the dot product of nsb IQ2_XS super-blocks with a row quantized by QuantizeQ8 (grid: tensor.IQ2XSGrid).")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	acc, t := YMM(), YMM()
	VXORPS(acc, acc, acc)
	bmi, cs := iq2BMI(), iq2SignConsts(true)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	iq2XSSuper(w, grid, 1, func(int) Mem { return Mem{Base: xq} }, func(int) Mem { return Mem{Base: xd} }, []VecVirtual{t}, bmi, cs)
	iq2XSAddD(w, []VecVirtual{t}, []VecVirtual{acc})
	ADDQ(U32(74), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// iq2XSSuper sums the IQ2_XS super-block at w against C activation rows (row c's 256 int8
// values at xrow(c), its eight block scales at drow(c)) into t[c], eight float32 lanes.
// Each uint16 of qs gives 8 weights: grid[q & 511]'s 8 byte values (0..43), negated where
// bit e of the sign byte s = (q >> 9) | parity(q >> 9) << 7 is set (ggml's "even signs":
// the eighth sign makes the count of negated weights even). Sub-block ib (32 weights, one
// block of x) has the integer scales 2·nibble + 1 for its two halves (low nibble of
// scales[ib] first; the weight's scale is d·(2·nibble + 1)/8).
//
// The 16 grid indices and sign bytes of each half super-block are formed in two vectors
// and stored to local (128 bytes): the indices are read back one by one to load the grid
// entries (two 8-byte loads per 128-bit lane), the sign bytes four at a time, spread to
// 32 bytes (VPSHUFB, bit select, compare) as ±1 for VPSIGNB on x. The grid values meet
// x·sign through VPMADDUBSW, the int16 pairs meet the half's scale through VPMADDWD (each
// int32 lane: (2·nibble + 1)·Σ of 4 q·x, exact), and lane l of sub-block ib is converted
// to float32 and, times dx_ib, added to t[c] lane l in the order ib = 0..7 (ib = 0 sets
// it; each add one fused multiply-add).
//
// With one row (C = 1) the sign constants are held in registers and the grid indices
// taken out of one 8-byte load by BMI (iq2Grid); bmi holds its control registers then.
func iq2XSSuper(w, grid Register, C int, xrow, drow func(c int) Mem, t []VecVirtual, bmi []Register, cs []Op) {
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	var sgn, dup VecVirtual
	for ib := 0; ib < 8; ib++ {
		if ib%4 == 0 {
			// The sign bytes of entries 16·h..16·h+15 in the low bytes of the words of sgn.
			q, u, par := YMM(), YMM(), YMM()
			sgn = YMM()
			VMOVDQU(Mem{Base: w}.Offset(2+8*ib), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u) // bits 0-3: the parity of the 7 bits folded to 4
			VMOVDQU(iq2Parity, par)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
		}
		g := iq2Grid(w, grid, bmi, 2+8*ib)
		if ib%2 == 0 {
			// sgn's low lane (ib%4 = 0, 1) or high lane (2, 3) in both lanes.
			dup = YMM()
			VPERMQ(U8(0x44+0xaa*(ib%4/2)), sgn, dup)
		}
		// Byte e: bit e%8 of sign byte e/8 of the sub-block's four, kept (bit select),
		// plus 127: 127 (positive) where clear, 128..255 (negative as int8) where set.
		sg := YMM()
		VPSHUFB(cs[ib%2], dup, sg)
		VPAND(cs[2], sg, sg)
		VPADDB(cs[3], sg, sg)
		// The sub-block's two scales, from the table by the byte scales[ib].
		si := GP64()
		MOVBQZX(Mem{Base: w}.Offset(66+ib), si)
		SHLQ(U8(5), si)
		scib := Mem{Base: tbl, Index: si, Scale: 1}
		for c := 0; c < C; c++ {
			x, f := YMM(), YMM()
			VMOVDQU(xrow(c).Offset(32*ib), x)
			VPSIGNB(sg, x, x)
			VPMADDUBSW(x, g, x)
			VPMADDWD(scib, x, x)
			VCVTDQ2PS(x, x)
			VBROADCASTSS(drow(c).Offset(4*ib), f)
			if ib == 0 {
				VMULPS(f, x, t[c])
			} else {
				VFMADD231PS(x, f, t[c])
			}
		}
	}
}

// iq2SignConsts returns the four constants of the sign expansion (the two shuffle masks,
// the bit select, 0x7f bytes): in registers where regs, else as memory operands.
func iq2SignConsts(regs bool) []Op {
	ms := []Mem{iq2SignShuf, iq2SignShuf.Offset(32), iq2BitSel, iq2Seven7F}
	cs := make([]Op, 4)
	for i, m := range ms {
		cs[i] = m
		if regs {
			r := YMM()
			VMOVDQU(m, r)
			cs[i] = r
		}
	}
	return cs
}

// iq2BMI returns the BMI control registers of iq2Grid: the bit count 9 (BZHI) and the
// BEXTR controls of bits 16..24, 32..40 and 48..56.
func iq2BMI() []Register {
	r := []Register{GP64(), GP64(), GP64(), GP64()}
	MOVQ(U32(9), r[0])
	for i := 1; i < 4; i++ {
		MOVQ(U32(16*i|9<<8), r[i])
	}
	return r
}

// iq2Grid returns the four grid entries of the IQ2_XS qs words at w+o (the low 9 bits of
// each index the grid). Without bmi each index is a 16-bit load and an AND; with bmi
// (iq2BMI) the four words are one 8-byte load and each index one BZHI or BEXTR.
func iq2Grid(w, grid Register, bmi []Register, o int) VecVirtual {
	var idx [4]Register
	var q Register
	if bmi != nil {
		q = GP64()
		MOVQ(Mem{Base: w}.Offset(o), q)
	}
	for l := range idx {
		idx[l] = GP64()
		switch {
		case bmi == nil:
			MOVWQZX(Mem{Base: w}.Offset(o+2*l), idx[l])
			ANDQ(U32(511), idx[l])
		case l == 0:
			BZHIQ(bmi[0], q, idx[l])
		default:
			BEXTRQ(bmi[l], q, idx[l])
		}
	}
	var gx [2]VecVirtual
	for hh := 0; hh < 2; hh++ {
		gx[hh] = XMM()
		VMOVQ(Mem{Base: grid, Index: idx[2*hh], Scale: 8}, gx[hh])
		VPINSRQ(U8(1), Mem{Base: grid, Index: idx[2*hh+1], Scale: 8}, gx[hh], gx[hh])
	}
	g := YMM()
	VINSERTI128(U8(1), gx[1], gx[0].AsY(), g)
	return g
}

// iq2XSAddD adds each row's super-block sum t[c] times d/8 (d: the super-block's f16
// scale; the multiply by 1/8 is exact) to acc[c].
func iq2XSAddD(w Register, t, acc []VecVirtual) {
	d := YMM()
	VPBROADCASTW(Mem{Base: w}, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	VMULPS(eighth, d, d)
	for c := range t {
		VFMADD231PS(t[c], d, acc[c])
	}
}

// q5KTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One Q5_K row against C rows quantized by QuantizeQ8 (strides in bytes; xc: q5K's xs,
// scale·Σq per block as float32, with the stride of xd), writing row c's dot product to
// out[c*os/4]. The scales, mins and 5-bit values are unpacked once for the C rows, and
// each row is summed with the operations of q5K in their order: bit-identical to it.
func q5KTile(C int) {
	name := fmt.Sprintf("dotQ5K_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb Q5_K super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	local := AllocLocal(32 * C)
	w, xq, xd, xc, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc, macc := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], macc[c] = YMM(), YMM()
		VXORPS(acc[c], acc[c], acc[c])
		VXORPS(macc[c], macc[c], macc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 176; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	avoext.KScalesMinsN(w, C, func(c int) (Mem, Mem, Mem) {
		return avoext.RowAt(xd, xds, xds3, c), avoext.RowAt(xc, xds, xds3, c), local.Offset(32 * c)
	}, macc)
	for g := 0; g < 4; g++ {
		q, lo, hi := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(48+32*g), q)
		VPAND(low4, q, lo)
		VPSRLW(U8(4), q, hi)
		VPAND(low4, hi, hi)
		for half, v := range []VecVirtual{lo, hi} {
			j := 2*g + half
			h := YMM()
			VMOVDQU(Mem{Base: w}.Offset(16), h)
			switch {
			case j < 4:
				VPSLLW(U8(4-j), h, h)
			case j > 4:
				VPSRLW(U8(j-4), h, h)
			}
			VPAND(bit5, h, h)
			VPOR(h, v, v)
			for c := 0; c < C; c++ {
				p, s := YMM(), YMM()
				VPMADDUBSW(avoext.RowAt(xq, xs, xs3, c).Offset(32*j), v, p)
				VPMADDWD(onesW, p, p)
				VCVTDQ2PS(p, p)
				VBROADCASTSS(local.Offset(32*c+4*j), s)
				VFMADD231PS(p, s, acc[c])
			}
		}
	}
	ADDQ(U32(176), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(32), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, macc)
	VZEROUPPER()
	RET()
}

// iq4XSTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One IQ4_XS row against C rows quantized by QuantizeQ8 (strides in bytes; xc unused),
// writing row c's dot product to out[c*os/4]. The values, their magnitudes and the
// integer scales are unpacked once for the C rows, and each row is summed with the
// operations of iq4XS in their order: bit-identical to it.
func iq4XSTile(C int) {
	name := fmt.Sprintf("dotIQ4XS_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb IQ4_XS super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	w, xq, xd, _, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	table := YMM()
	VMOVDQU(iq4Table, table)
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 136; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	d := YMM()
	VPBROADCASTW(Mem{Base: w}, d.AsX())
	VCVTPH2PS(d.AsX(), d)
	for g := 0; g < 4; g++ {
		q, lo, hi := YMM(), YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(8+32*g), q)
		VPSRLW(U8(4), q, hi)
		VPAND(low4, q, lo)
		VPAND(low4, hi, hi)
		VPSHUFB(lo, table, lo)
		VPSHUFB(hi, table, hi)
		for half := 0; half < 2; half++ {
			ib := 2*g + half
			v, a := YMM(), YMM()
			VPERM2I128(U8(0x20+0x11*half), hi, lo, v)
			VPSIGNB(v, v, a) // |v|
			ls, t := GP32(), GP32()
			MOVL(Mem{Base: w}.Offset(4), ls)
			SHRL(U8(4*ib), ls)
			ANDL(U32(15), ls)
			MOVWLZX(Mem{Base: w}.Offset(2), t)
			SHRL(U8(2*ib), t)
			ANDL(U32(3), t)
			SHLL(U8(4), t)
			ORL(t, ls)
			SUBL(U32(32), ls)
			lf := XMM()
			VXORPS(lf, lf, lf)
			VCVTSI2SSL(ls, lf, lf)
			for c := 0; c < C; c++ {
				s, sv, x := XMM(), YMM(), YMM()
				VMULSS(avoext.RowAt(xd, xds, xds3, c).Offset(4*ib), lf, s)
				VBROADCASTSS(s, sv)
				VMULPS(d, sv, sv) // d·(ls-32)·dx: the order the plain version uses
				VMOVDQU(avoext.RowAt(xq, xs, xs3, c).Offset(32*ib), x)
				VPSIGNB(v, x, x)
				VPMADDUBSW(x, a, x)
				VPMADDWD(onesW, x, x)
				VCVTDQ2PS(x, x)
				VFMADD231PS(x, sv, acc[c])
			}
		}
	}
	ADDQ(U32(136), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}

// q3KTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One Q3_K row against C rows quantized by QuantizeQ8 (strides in bytes; xc unused),
// writing row c's dot product to out[c*os/4]. The scales and the 3-bit values are unpacked
// once for the C rows, and each row is summed with the operations of q3K in their order:
// bit-identical to it.
func q3KTile(C int) {
	name := fmt.Sprintf("dotQ3K_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb Q3_K super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	w, xq, xd, _, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc, t := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], t[c] = YMM(), YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	for o := 0; o < 110; o += 64 {
		PREFETCHT0(Mem{Base: w}.Offset(prefetch + o))
	}
	sc := q3KScales16(w)
	hinv := q3KHInv(w)
	for j := 0; j < 8; j++ {
		q2, h4, sv := q3KBlock(w, hinv, sc, j)
		for c := 0; c < C; c++ {
			q3KRowDot(q2, h4, sv, avoext.RowAt(xq, xs, xs3, c).Offset(32*j), avoext.RowAt(xd, xds, xds3, c).Offset(4*j), t[c], j == 0)
		}
	}
	q3KAddD(w, t, acc)
	ADDQ(U32(110), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}

// q3KScales16 returns a Q3_K super-block's sixteen scales sc - 32 (unpacked as ggml's
// dequantize_row_q3_K unpacks them) as int16: the even ones (sc_0, sc_2, ..., sc_14) in
// the low 128-bit lane, the odd ones in the high lane, so that q3KBlock takes block j's
// two scales from element j of each lane.
func q3KScales16(w Register) VecVirtual {
	// Bytes 94..109 of the block: the 12 scale bytes sit at 2..13. Scale i (i < 8) is the
	// low nibble of byte i, scale 8+i the high nibble; each takes two high bits from byte
	// 8 + i%4 at bit 2·(i/4).
	x, v, h := XMM(), XMM(), XMM()
	VMOVDQU(Mem{Base: w}.Offset(94), x)
	VPSHUFB(q3KLowSrc, x, v)
	VPSRLVD(q3KLowShift, v, v)
	VPAND(low4.Offset(0), v, v)
	VPSHUFB(q3KHighSrc, x, h)
	VPSRLVD(q3KHighShift, h, h)
	VPSLLD(U8(4), h, h)
	VPAND(q3KHighMask, h, h)
	VPOR(h, v, v)
	VPSUBB(thirtyTwo, v, v) // sc - 32, signed
	VPSHUFB(evenOdd, v, v)
	sc := YMM()
	VPMOVSXBW(v, sc)
	return sc
}

// q3KAddD adds each row's super-block sum t[r] times the super-block's scale d to acc[r].
func q3KAddD(w Register, t, acc []VecVirtual) {
	d := YMM()
	VPBROADCASTW(Mem{Base: w}.Offset(108), d.AsX())
	VCVTPH2PS(d.AsX(), d)
	for r := range t {
		VFMADD231PS(t[r], d, acc[r])
	}
}

// q3KHInv returns the super-block's hmask inverted: bit j of byte l set where weight l of
// block j takes -4.
func q3KHInv(w Register) VecVirtual {
	h := YMM()
	VPCMPEQB(h, h, h)
	VPXOR(Mem{Base: w}, h, h)
	return h
}

// q3KBlock returns block j's 2-bit values q2 (0..3), the 4 to subtract h4 (0 or 4), and
// its two int16 scales (sc_2j - 32 in the low lane, sc_2j+1 - 32 in the high one).
func q3KBlock(w Register, hinv, sc VecVirtual, j int) (q2, h4, sv VecVirtual) {
	n, s := j/4, j%4
	q2, h4, sv = YMM(), YMM(), YMM()
	VMOVDQU(Mem{Base: w}.Offset(32+32*n), q2)
	if s > 0 {
		VPSRLW(U8(2*s), q2, q2)
	}
	VPAND(threes, q2, q2)
	// bit j of each byte of hinv to bit 2 (value 4)
	switch {
	case j < 2:
		VPSLLW(U8(2-j), hinv, h4)
		VPAND(fours, h4, h4)
	case j == 2:
		VPAND(fours, hinv, h4)
	default:
		VPSRLW(U8(j-2), hinv, h4)
		VPAND(fours, h4, h4)
	}
	VPSHUFB(repWord.Offset(32*j), sc, sv)
	return q2, h4, sv
}

// q3KRowDot adds one block of one activation row (its 32 int8 values at x) to the
// super-block's sum t (first: sets it): (q2·x - h4·x) in pairs, times the scales, as
// float32, times dx (the float32 at xd).
func q3KRowDot(q2, h4, sv VecVirtual, x, xd Mem, t VecVirtual, first bool) {
	p, u, b := YMM(), YMM(), YMM()
	VMOVDQU(x, u)
	VPMADDUBSW(u, q2, p)
	VPMADDUBSW(u, h4, u)
	VPSUBW(u, p, p)
	VPMADDWD(sv, p, p)
	VCVTDQ2PS(p, p)
	VBROADCASTSS(xd, b)
	if first {
		VMULPS(b, p, t)
	} else {
		VFMADD231PS(p, b, t)
	}
}

// iq2XSTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One IQ2_XS row against C rows quantized by QuantizeQ8 (strides in bytes; xc: the grid,
// tensor.IQ2XSGrid), writing row c's dot product to out[c*os/4]. The grid values, signs
// and scales are decoded once for the C rows (iq2XSSuper), and each row is summed with
// the operations of iq2XS in their order: bit-identical to it.
func iq2XSTile(C int) {
	name := fmt.Sprintf("dotIQ2XS_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb IQ2_XS super-blocks of one row with %d int8-quantized rows to out[c*os/4] (xc: the grid table, tensor.IQ2XSGrid).", name, C))
	w, xq, xd, grid, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc, t := make([]VecVirtual, C), make([]VecVirtual, C)
	for c := range acc {
		acc[c], t[c] = YMM(), YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	iq2XSSuper(w, grid, C,
		func(c int) Mem { return avoext.RowAt(xq, xs, xs3, c) },
		func(c int) Mem { return avoext.RowAt(xd, xds, xds3, c) }, t, nil, iq2SignConsts(false))
	iq2XSAddD(w, t, acc)
	ADDQ(U32(74), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}

// iq2XS512: func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32
// dotIQ2XSAVX with AVX-512 (F, BW, VL) and the same arithmetic in the same order, so its
// results are the same bits as dotIQ2XSAVX's and the AVX2 tiles' (row invariance). Two
// sub-blocks a, b = a+1 share 512-bit registers for their integer work: the 8 grid
// entries, the 64 activations, negated where the weight is through a mask register
// (the sign bytes of 8 entries, narrowed from words by VPMOVWB, are its 64 bits), the
// VPMADDUBSW and VPMADDWD (the scales of a and b from the table) and the conversion to
// float32; then the low eight lanes (sub-block a) times dx_a and the high eight times dx_b
// are added to the super-block's sum by two 256-bit FMAs, in iq2XSSuper's order.
//
// Where the CPU has AVX-512 VNNI too, IQ2_XS takes kernel's iq2xs.go path instead
// (iq2XS32x2512, iq2XSUnpack512), so this kernel serves AVX-512 CPUs without VNNI.
//
// Measured as iq2XS's numbers: 2048×2048 m=1 205 µs (AVX2 kernel 214 µs; llama.cpp native
// build 254 µs), 5632×2048 529 µs (684), 2048×5632 513 µs (680).
func iq2XS512() {
	TEXT("dotIQ2XSAVX512", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32")
	Doc("dotIQ2XSAVX512 is dotIQ2XSAVX with AVX-512 (F, BW, VL): the same arithmetic in the same order, so the same bits.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc, zero, par := YMM(), ZMM(), YMM()
	VXORPS(acc, acc, acc)
	VPXORD(zero, zero, zero)
	VMOVDQU(iq2Parity, par)
	bmi := iq2BMI()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	t := YMM()
	var ks [2]Register
	for a := 0; a < 8; a += 2 {
		if a%4 == 0 {
			// The sign bytes of entries 16·h..16·h+15, as in iq2XSSuper, narrowed to
			// bytes: the low 8 the mask of sub-blocks a, a+1, the high 8 of a+2, a+3.
			q, u, sgn := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(2+8*a), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
			sb := XMM()
			VPMOVWB(sgn, sb)
			r0, r1 := GP64(), GP64()
			VMOVQ(sb, r0)
			VPEXTRQ(U8(1), sb, r1)
			ks[0], ks[1] = K(), K()
			KMOVQ(r0, ks[0])
			KMOVQ(r1, ks[1])
		}
		// The 8 grid entries of sub-blocks a and a+1.
		gy := [2]VecVirtual{iq2Grid(w, grid, bmi, 2+8*a), iq2Grid(w, grid, bmi, 2+8*(a+1))}
		g := ZMM()
		VINSERTI64X4(U8(1), gy[1], gy[0].AsZ(), g)
		// The scales of a (low 256 bits) and a+1.
		sc := ZMM()
		for s := 0; s < 2; s++ {
			si := GP64()
			MOVBQZX(Mem{Base: w}.Offset(66+a+s), si)
			SHLQ(U8(5), si)
			if s == 0 {
				VMOVDQU(Mem{Base: tbl, Index: si, Scale: 1}, sc.AsY())
			} else {
				VINSERTI64X4(U8(1), Mem{Base: tbl, Index: si, Scale: 1}, sc, sc)
			}
		}
		x, f, fh, b := ZMM(), YMM(), YMM(), YMM()
		VMOVDQU64(Mem{Base: xq}.Offset(32*a), x)
		VPSUBB(x, zero, ks[a%4/2], x) // x negated where the weight is
		VPMADDUBSW(x, g, x)
		VPMADDWD(sc, x, x)
		VCVTDQ2PS(x, x)
		VEXTRACTF64X4(U8(1), x, fh)
		VBROADCASTSS(Mem{Base: xd}.Offset(4*a), f)
		if a == 0 {
			VMULPS(f, x.AsY(), t)
		} else {
			VFMADD231PS(x.AsY(), f, t)
		}
		VBROADCASTSS(Mem{Base: xd}.Offset(4*a+4), b)
		VFMADD231PS(fh, b, t)
	}
	iq2XSAddD(w, []VecVirtual{t}, []VecVirtual{acc})
	ADDQ(U32(74), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// iq2XS32512: func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32
// One IQ2_XS row against a quantized row in the order of the VNNI tile path (kernel's
// iq2xs.go, dotIQ2XS32Generic): per block b of 32 the exact integer
// T_b = (2s_lo+1)·Σ_lo w·x + (2s_hi+1)·Σ_hi w·x, then acc = float32(T_b)·((d/8)·dx_b) + acc
// block after block, each one fused multiply-add on a scalar. The integer work is
// iq2XS512's: two sub-blocks a, a+1 share a zmm (grid entries, x negated through the sign
// mask, VPMADDUBSW, VPMADDWD with the half scales) and leave 16 int32 lanes, eight a
// sub-block; the four such vectors of a super-block are folded to the eight T_b
// (VSHUFI64X2, VPUNPCKLQDQ/HQDQ, VPSHUFD, VPADDD: any order, the sums are exact), converted
// to float32 (exact below 2^24) and taken out one by one (VEXTRACTF32X4, VMOVHLPS) into
// the chain of eight VFMADD231SS with the products (d/8)·dx_b (VMULSS).
func iq2XS32512() {
	TEXT("dotIQ2XS32AVX512", NOSPLIT, "func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32")
	Doc("dotIQ2XS32AVX512 returns the dot product of nsb IQ2_XS super-blocks with a row quantized by QuantizeQ8 (grid: tensor.IQ2XSGrid) in the order of dotIQ2XS32Generic: per block of 32 the exact integer sum with the half scales, times (d/8)·dx, fused into one scalar.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	nsb := Load(Param("nsb"), GP64())
	grid := Load(Param("grid"), GP64())
	tbl := GP64()
	LEAQ(iq2ScaleTable, tbl)
	acc, zero, par := XMM(), ZMM(), YMM()
	VXORPS(acc, acc, acc)
	VPXORD(zero, zero, zero)
	VMOVDQU(iq2Parity, par)
	bmi := iq2BMI()
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	var ks [2]Register
	var P [4]VecVirtual
	for a := 0; a < 8; a += 2 {
		if a%4 == 0 {
			q, u, sgn := YMM(), YMM(), YMM()
			VMOVDQU(Mem{Base: w}.Offset(2+8*a), q)
			VPSRLW(U8(9), q, sgn)
			VPSRLW(U8(13), q, u)
			VPXOR(sgn, u, u)
			VPSHUFB(u, par, u)
			VPOR(u, sgn, sgn)
			sb := XMM()
			VPMOVWB(sgn, sb)
			r0, r1 := GP64(), GP64()
			VMOVQ(sb, r0)
			VPEXTRQ(U8(1), sb, r1)
			ks[0], ks[1] = K(), K()
			KMOVQ(r0, ks[0])
			KMOVQ(r1, ks[1])
		}
		gy := [2]VecVirtual{iq2Grid(w, grid, bmi, 2+8*a), iq2Grid(w, grid, bmi, 2+8*(a+1))}
		g := ZMM()
		VINSERTI64X4(U8(1), gy[1], gy[0].AsZ(), g)
		sc := ZMM()
		for s := 0; s < 2; s++ {
			si := GP64()
			MOVBQZX(Mem{Base: w}.Offset(66+a+s), si)
			SHLQ(U8(5), si)
			if s == 0 {
				VMOVDQU(Mem{Base: tbl, Index: si, Scale: 1}, sc.AsY())
			} else {
				VINSERTI64X4(U8(1), Mem{Base: tbl, Index: si, Scale: 1}, sc, sc)
			}
		}
		x := ZMM()
		VMOVDQU64(Mem{Base: xq}.Offset(32*a), x)
		VPSUBB(x, zero, ks[a%4/2], x) // x negated where the weight is
		VPMADDUBSW(x, g, x)
		VPMADDWD(sc, x, x)
		P[a/2] = x
	}
	// P[k] lanes 8q..8q+7 (128-bit chunks 2q, 2q+1) belong to sub-block 2k+q. Z01's chunk i
	// holds four parts of T_i, Z23's of T_4+i; then each chunk is folded to
	// [T_i, T_i, T_4+i, T_4+i].
	var Zs [2]VecVirtual
	for h := 0; h < 2; h++ {
		x, y := ZMM(), ZMM()
		VSHUFI64X2(U8(0x88), P[2*h+1], P[2*h], x)
		VSHUFI64X2(U8(0xdd), P[2*h+1], P[2*h], y)
		VPADDD(y, x, x)
		Zs[h] = x
	}
	w1, w2 := ZMM(), ZMM()
	VPUNPCKLQDQ(Zs[1], Zs[0], w1)
	VPUNPCKHQDQ(Zs[1], Zs[0], w2)
	VPADDD(w2, w1, w1)
	VPSHUFD(U8(0xb1), w1, w2)
	VPADDD(w2, w1, w1)
	VCVTDQ2PS(w1, w1)
	d := XMM()
	VPBROADCASTW(Mem{Base: w}, d)
	VCVTPH2PS(d, d)
	VMULSS(eighth, d, d)
	// T_b: b < 4 element 0 of chunk b, else element 2 of chunk b-4.
	var ch [4]Op
	ch[0] = w1.AsX()
	for i := 1; i < 4; i++ {
		c := XMM()
		VEXTRACTF32X4(U8(i), w1, c)
		ch[i] = c
	}
	for b := 0; b < 8; b++ {
		t, f := ch[b%4], XMM()
		if b >= 4 {
			h := XMM()
			VMOVHLPS(ch[b%4], ch[b%4], h)
			t = h
		}
		VMULSS(Mem{Base: xd}.Offset(4*b), d, f) // (d/8)·dx_b
		VFMADD231SS(f, t, acc)
	}
	ADDQ(U32(74), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	Store(acc, ReturnIndex(0))
	RET()
}

// q2K: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
// One Q2_K row (nsb super-blocks of 256: scales[16], qs[64], f16 d, f16 dmin) against a
// quantized row, given xs (for each 16 activations, its block's scale times their sum).
// Group g of 16 weights has the value d·(scales[g] & 15)·q - dmin·(scales[g] >> 4),
// q = (qs[32·(g/8) + 16·(g%2) + l] >> 2·((g/2)%4)) & 3; block j of x (32 values) holds
// groups 2j and 2j+1. q2KSuper gives the order of the sums; dotQ2KGeneric is the plain
// version, in the same order.
//
// Measured (2048×2048, m=1, one thread, shared Zen 5): BenchmarkMatVecBlocks/q2_K 0.79 ms
// wall (the rows unpacked to int8 in Go before it: 25.5 ms); BenchmarkQ2K thread CPU
// 146 µs with GODEBUG=cpu.avx512f=off (llama.cpp AVX2 build: ~88 µs).
func q2K() {
	TEXT("dotQ2KAVX", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32")
	Doc("dotQ2KAVX returns the dot product of nsb Q2_K super-blocks with a row quantized by QuantizeQ8 (xs: scale·Σq per 16 values).")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc := YMM()
	VXORPS(acc, acc, acc)
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	q2KSuper(w, 1, func(int) Mem { return Mem{Base: xq} }, func(int) Mem { return Mem{Base: xd} },
		func(int) Mem { return Mem{Base: xs} }, []VecVirtual{acc})
	ADDQ(U32(84), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(64), xs)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}

// q2KSuper adds the Q2_K super-block at w times C activation rows (row c: int8 values at
// xrow(c), block scales at drow(c), per-16 sums at xsrow(c)) to acc[c], eight float32
// lanes. Block j's 2-bit values meet x through VPMADDUBSW and the scales of its two
// groups (int16: the low lane 2j, the high lane 2j+1) through VPMADDWD; each int32 lane
// (sc·Σ of 4 q·x, exact) is converted and, times dx_j, added to the super-block's sum t
// (j = 0..7, j = 0 sets it; fused multiply-adds). Then acc += t·d, and the mins' sum
// tm = m_0..7·xs_0..7 + m_8..15·xs_8..15 (lane l: groups l and 8+l) gives acc += tm·(-dmin).
func q2KSuper(w Register, C int, xrow, drow, xsrow func(c int) Mem, acc []VecVirtual) {
	// The scales (low nibbles) as int16, even groups in the low lane, odd in the high.
	b, v := XMM(), XMM()
	VMOVDQU(Mem{Base: w}, b)
	VPAND(low4.Offset(0), b, v)
	VPSHUFB(evenOdd, v, v)
	sc := YMM()
	VPMOVZXBW(v, sc)
	t := make([]VecVirtual, C)
	for c := range t {
		t[c] = YMM()
	}
	for j := 0; j < 8; j++ {
		n, s := j/4, j%4
		q2, scj := YMM(), YMM()
		VMOVDQU(Mem{Base: w}.Offset(16+32*n), q2)
		if s > 0 {
			VPSRLW(U8(2*s), q2, q2)
		}
		VPAND(threes, q2, q2)
		VPSHUFB(repWord.Offset(32*j), sc, scj)
		for c := 0; c < C; c++ {
			p, f := YMM(), YMM()
			VPMADDUBSW(xrow(c).Offset(32*j), q2, p)
			VPMADDWD(scj, p, p)
			VCVTDQ2PS(p, p)
			VBROADCASTSS(drow(c).Offset(4*j), f)
			if j == 0 {
				VMULPS(f, p, t[c])
			} else {
				VFMADD231PS(p, f, t[c])
			}
		}
	}
	q2KEnd(w, C, xsrow, t, acc)
}

// q2KEnd ends a Q2_K super-block for C rows: acc[c] += t[c]·d, then the mins' sum
// (m_0..7·xs_0..7 + m_8..15·xs_8..15, row c's per-16 sums at xsrow(c)) times -dmin.
func q2KEnd(w Register, C int, xsrow func(c int) Mem, t, acc []VecVirtual) {
	d, dm := YMM(), YMM()
	VPBROADCASTW(Mem{Base: w}.Offset(80), d.AsX())
	VCVTPH2PS(d.AsX(), d)
	VPBROADCASTW(Mem{Base: w}.Offset(82), dm.AsX())
	VCVTPH2PS(dm.AsX(), dm)
	VXORPS(signBit, dm, dm) // -dmin
	// The mins (high nibbles) as float32: groups 0..7, then 8..15.
	var mf [2]VecVirtual
	for h := 0; h < 2; h++ {
		mf[h] = YMM()
		VPMOVZXBD(Mem{Base: w}.Offset(8*h), mf[h])
		VPSRLD(U8(4), mf[h], mf[h])
		VCVTDQ2PS(mf[h], mf[h])
	}
	for c := 0; c < C; c++ {
		VFMADD231PS(t[c], d, acc[c])
		tm := YMM()
		VMULPS(xsrow(c), mf[0], tm)
		VFMADD231PS(xsrow(c).Offset(32), mf[1], tm)
		VFMADD231PS(tm, dm, acc[c])
	}
}

// q2KTile: func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
// One Q2_K row against C rows quantized by QuantizeQ8 (strides in bytes; xc: q2K's xs,
// per-16 sums, with twice the stride of xd), writing row c's dot product to out[c*os/4].
// The values and scales are unpacked once for the C rows (q2KSuper), and each row is
// summed with the operations of q2K in their order: bit-identical to it.
func q2KTile(C int) {
	name := fmt.Sprintf("dotQ2K_1x%d", C)
	TEXT(name, NOSPLIT, "func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s writes the dot products of nsb Q2_K super-blocks of one row with %d int8-quantized rows to out[c*os/4].", name, C))
	w, xq, xd, xc, xs, xs3, xds, xds3, nsb := avoext.SuperTileParams()
	acc := make([]VecVirtual, C)
	for c := range acc {
		acc[c] = YMM()
		VXORPS(acc[c], acc[c], acc[c])
	}
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	// Row c's per-16 sums are at xc + 2·c·xds.
	xsRow := func(c int) Mem {
		switch c {
		case 0:
			return Mem{Base: xc}
		case 3:
			return Mem{Base: xc, Index: xds3, Scale: 2}
		}
		return Mem{Base: xc, Index: xds, Scale: uint8(2 * c)}
	}
	q2KSuper(w, C,
		func(c int) Mem { return avoext.RowAt(xq, xs, xs3, c) },
		func(c int) Mem { return avoext.RowAt(xd, xds, xds3, c) }, xsRow, acc)
	ADDQ(U32(84), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(64), xc)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	avoext.StoreSums(acc, nil)
	VZEROUPPER()
	RET()
}

// The constants of q2K512.
var q2KShift512, q2KPerm512, threes64 Mem

// q2KConsts512 defines q2K512's constants and those it shares with q2KSuper.
func q2KConsts512() {
	signBit = GLOBL("kq_signbit", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x80000000))
	}
	low4 = GLOBL("kq_low4", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(0x0f))
	}
	evenOdd = GLOBL("kq_evenodd", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(i, U8(2*(i%8)+i/8))
	}
	threes64 = GLOBL("kq_threes64", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(3))
	}
	// Two vectors of 32 word shift counts: 2s for words 0..15, 2s+2 for 16..31 (s = 0, 2).
	q2KShift512 = GLOBL("kq_q2kshift", RODATA|NOPTR)
	for v := 0; v < 2; v++ {
		for p := 0; p < 32; p++ {
			DATA(64*v+2*p, U16(uint16(4*v+2*(p/16))))
		}
	}
	// Four VPERMW index vectors, pair j = 0, 2, 4, 6: word p takes the scale of block
	// j + p/16, half (p%16)/8 (q3KScales16's layout: word b even, 8 + b odd).
	q2KPerm512 = GLOBL("kq_q2kperm", RODATA|NOPTR)
	for v := 0; v < 4; v++ {
		for p := 0; p < 32; p++ {
			DATA(64*v+2*p, U16(uint16(8*((p%16)/8)+2*v+p/16)))
		}
	}
}

// q2K512: func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
// dotQ2KAVX with AVX-512 (F, BW, VL) and the same arithmetic in the same order, so the
// same bits (and the AVX2 tiles keep rows invariant beside it). Blocks j and j+1 share
// 512-bit registers: their 2-bit values (the 32 qs bytes broadcast to both halves and
// shifted by VPSRLVW), their scales (VPERMW from q2KSuper's int16 scales), the 64
// activations, VPMADDUBSW, VPMADDWD and the conversion; then the low eight lanes times
// dx_j and the high eight times dx_j+1 are added to the super-block sum by two 256-bit
// FMAs, and q2KEnd ends the super-block as q2KSuper does.
//
// Measured (BenchmarkQ2K, thread CPU time, one thread, shared Zen 5): 2048×2048 m=1
// 116 µs (dotQ2KAVX 146 µs; llama.cpp's native ggml_vec_dot_q2_K_q8_K 87 µs, which sums
// whole super-blocks in integers against q8_K's one scale per 256).
func q2K512() {
	TEXT("dotQ2KAVX512", NOSPLIT, "func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32")
	Doc("dotQ2KAVX512 is dotQ2KAVX with AVX-512 (F, BW, VL): the same arithmetic in the same order, so the same bits.")
	w := Load(Param("w"), GP64())
	xq := Load(Param("xq"), GP64())
	xd := Load(Param("xd"), GP64())
	xs := Load(Param("xs"), GP64())
	nsb := Load(Param("nsb"), GP64())
	acc := YMM()
	VXORPS(acc, acc, acc)
	var perm [4]VecVirtual
	for v := range perm {
		perm[v] = ZMM()
		VMOVDQU64(q2KPerm512.Offset(64*v), perm[v])
	}
	TESTQ(nsb, nsb)
	JZ(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: w}.Offset(prefetch))
	PREFETCHT0(Mem{Base: w}.Offset(prefetch + 64))
	b, v := XMM(), XMM()
	VMOVDQU(Mem{Base: w}, b)
	VPAND(low4, b, v)
	VPSHUFB(evenOdd, v, v)
	sc := YMM()
	VPMOVZXBW(v, sc)
	t := YMM()
	for j := 0; j < 8; j += 2 {
		n, s := j/4, j%4
		q, scz, p, ph, f := ZMM(), ZMM(), ZMM(), YMM(), YMM()
		VBROADCASTI64X4(Mem{Base: w}.Offset(16+32*n), q)
		VPSRLVW(q2KShift512.Offset(64*(s/2)), q, q)
		VPANDD(threes64, q, q)
		VPERMW(sc.AsZ(), perm[j/2], scz)
		VMOVDQU64(Mem{Base: xq}.Offset(32*j), p)
		VPMADDUBSW(p, q, p)
		VPMADDWD(scz, p, p)
		VCVTDQ2PS(p, p)
		VEXTRACTF64X4(U8(1), p, ph)
		VBROADCASTSS(Mem{Base: xd}.Offset(4*j), f)
		if j == 0 {
			VMULPS(f, p.AsY(), t)
		} else {
			VFMADD231PS(p.AsY(), f, t)
		}
		f2 := YMM()
		VBROADCASTSS(Mem{Base: xd}.Offset(4*j+4), f2)
		VFMADD231PS(ph, f2, t)
	}
	q2KEnd(w, 1, func(int) Mem { return Mem{Base: xs} }, []VecVirtual{t}, []VecVirtual{acc})
	ADDQ(U32(84), w)
	ADDQ(U32(256), xq)
	ADDQ(U32(32), xd)
	ADDQ(U32(64), xs)
	DECQ(nsb)
	JNZ(LabelRef("loop"))
	Label("done")
	x := avoext.HSum8(acc)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}
