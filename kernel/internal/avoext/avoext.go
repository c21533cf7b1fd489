// Package avoext emits, for the kernel generators, instructions that avo v0.5.0 does not
// know but Go's assembler does, and instruction sequences several generators share.
package avoext

import (
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// VPDPBUSD emits VPDPBUSD s, u, acc: acc += Σ4 u8(u)·s8(s) in each int32 lane
// (AVX512_VNNI). s is a register or memory.
func VPDPBUSD(s, u, acc operand.Op) { vnni(nil, s, u, acc) }

// VPDPBUSDBcst is VPDPBUSD with s four bytes of memory repeated in every lane.
func VPDPBUSDBcst(s, u, acc operand.Op) { vnni([]string{"BCST"}, s, u, acc) }

func vnni(suffixes []string, s, u, acc operand.Op) {
	build.Instruction(&ir.Instruction{
		Opcode:   "VPDPBUSD",
		Suffixes: suffixes,
		Operands: []operand.Op{s, u, acc},
		Inputs:   []operand.Op{s, u, acc},
		Outputs:  []operand.Op{acc},
		ISA:      []string{"AVX512_VNNI"},
	})
}

// Q8Scale emits the scalar middle of a Q8_0 quantizer block: the largest of the four
// lanes of h (the block's |x| maxima, NaNs already left out) is amax; d = amax/127 is
// stored at dst rounded to float16 (nearest even) and back; the returned register holds
// 1/d, or 0 where d is 0 or 1/d overflows. c127, one and inf are memory holding 127, 1
// and +Inf as float32.
func Q8Scale(h reg.VecVirtual, c127, one, inf, dst operand.Mem) reg.VecVirtual {
	h2 := build.XMM()
	build.VMOVHLPS(h, h2, h2)
	build.VMAXPS(h2, h, h)
	build.VMOVSHDUP(h, h2)
	build.VMAXSS(h2, h, h) // amax
	dd := build.XMM()
	build.VDIVSS(c127, h, dd) // amax/127
	id := build.XMM()
	build.VMOVSS(one, id)
	build.VDIVSS(dd, id, id) // 1/dd
	mask := build.XMM()
	build.VCMPSS(operand.U8(1), inf, id, mask) // id < +inf (false for dd = 0 and for overflow)
	build.VANDPS(mask, id, id)
	hf := build.XMM()
	build.VCVTPS2PH(operand.U8(0), dd, hf) // round to float16, nearest even
	build.VCVTPH2PS(hf, hf)
	build.VMOVSS(hf, dst)
	return id
}

// KScalesMins emits the start of a Q4_K/Q5_K super-block's dot product: it unpacks the eight
// 6-bit scales and mins at w+4..w+15 (ggml's get_scale_min_k4) with 32-bit integer ops,
// stores d·sc_j·dx_j (d the float16 at w, dx_j the floats at xd) as eight floats at local,
// and adds dmin·m_j·xs_j (dmin the float16 at w+2, xs_j the floats at xs) to macc.
func KScalesMins(w reg.Register, xd, xs, local operand.Mem, macc reg.VecVirtual) {
	KScalesMinsN(w, 1, func(int) (operand.Mem, operand.Mem, operand.Mem) { return xd, xs, local }, []reg.VecVirtual{macc})
}

// KScalesMinsN is KScalesMins for n activation rows sharing one weight super-block: the
// scales and mins are unpacked once, and row c (whose xd, xs and local rows(c) gives)
// gets the operations KScalesMins emits for one row, with macc[c].
func KScalesMinsN(w reg.Register, n int, rows func(c int) (xd, xs, local operand.Mem), macc []reg.VecVirtual) {
	a, b, c, t := build.GP32(), build.GP32(), build.GP32(), build.GP32()
	build.MOVL(operand.Mem{Base: w}.Offset(4), a)
	build.MOVL(operand.Mem{Base: w}.Offset(8), b)
	build.MOVL(operand.Mem{Base: w}.Offset(12), c)
	sc47, m47 := build.GP32(), build.GP32()
	build.MOVL(c, sc47)
	build.ANDL(operand.U32(0x0f0f0f0f), sc47)
	build.MOVL(a, t)
	build.SHRL(operand.U8(2), t)
	build.ANDL(operand.U32(0x30303030), t)
	build.ORL(t, sc47) // sc[4..7]
	build.MOVL(c, m47)
	build.SHRL(operand.U8(4), m47)
	build.ANDL(operand.U32(0x0f0f0f0f), m47)
	build.MOVL(b, t)
	build.SHRL(operand.U8(2), t)
	build.ANDL(operand.U32(0x30303030), t)
	build.ORL(t, m47)                      // m[4..7]
	build.ANDL(operand.U32(0x3f3f3f3f), a) // sc[0..3]
	build.ANDL(operand.U32(0x3f3f3f3f), b) // m[0..3]
	scx, mx := build.XMM(), build.XMM()
	build.VMOVD(a, scx)
	build.VPINSRD(operand.U8(1), sc47, scx, scx)
	build.VMOVD(b, mx)
	build.VPINSRD(operand.U8(1), m47, mx, mx)
	sc, mv := build.YMM(), build.YMM()
	build.VPMOVZXBD(scx, sc)
	build.VCVTDQ2PS(sc, sc)
	build.VPMOVZXBD(mx, mv)
	build.VCVTDQ2PS(mv, mv)
	d, dmin := build.YMM(), build.YMM()
	build.VPBROADCASTW(operand.Mem{Base: w}, d.AsX())
	build.VCVTPH2PS(d.AsX(), d)
	build.VPBROADCASTW(operand.Mem{Base: w}.Offset(2), dmin.AsX())
	build.VCVTPH2PS(dmin.AsX(), dmin)
	build.VMULPS(d, sc, sc)
	if n == 1 {
		xd, xs, local := rows(0)
		build.VMULPS(xd, sc, sc) // d·sc_j·dx_j
		build.VMOVUPS(sc, local)
		build.VMULPS(xs, mv, mv) // m_j·dx_j·Σx_j
		build.VFMADD231PS(mv, dmin, macc[0])
		return
	}
	for r := 0; r < n; r++ {
		xd, xs, local := rows(r)
		s, m := build.YMM(), build.YMM()
		build.VMULPS(xd, sc, s) // d·sc_j·dx_j
		build.VMOVUPS(s, local)
		build.VMULPS(xs, mv, m) // m_j·dx_j·Σx_j
		build.VFMADD231PS(m, dmin, macc[r])
	}
}

// SuperTileParams loads the parameters of the tiles of one super-block weight row by
// several activation rows (Q4_K, Q5_K, Q6_K, IQ4_XS),
// func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int):
// the weight row, the first activation row's values, scales and sums, the strides in
// bytes of xq (xs) and xd (xds), with xs3 = 3·xs and xds3 = 3·xds. The count of
// super-blocks goes to a local (counted down there: the tiles are short of general
// registers), returned as n, and the flags are set by testing it (JZ skips the loop).
func SuperTileParams() (w, xq, xd, xc, xs, xs3, xds, xds3 reg.Register, n operand.Mem) {
	w = build.Load(build.Param("w"), build.GP64())
	xq = build.Load(build.Param("xq"), build.GP64())
	xd = build.Load(build.Param("xd"), build.GP64())
	xc = build.Load(build.Param("xc"), build.GP64())
	xs = build.Load(build.Param("xs"), build.GP64())
	xds = build.Load(build.Param("xds"), build.GP64())
	xs3, xds3 = build.GP64(), build.GP64()
	build.LEAQ(operand.Mem{Base: xs, Index: xs, Scale: 2}, xs3)
	build.LEAQ(operand.Mem{Base: xds, Index: xds, Scale: 2}, xds3)
	n = build.AllocLocal(8)
	nsb := build.Load(build.Param("nsb"), build.GP64())
	build.MOVQ(nsb, n)
	build.TESTQ(nsb, nsb)
	return
}

// RowAt returns the address of row j (j < 4) of a tile's activations: base + j·stride,
// with s3 = 3·stride.
func RowAt(base, stride, s3 reg.Register, j int) operand.Mem {
	switch j {
	case 0:
		return operand.Mem{Base: base}
	case 3:
		return operand.Mem{Base: base, Index: s3, Scale: 1}
	}
	return operand.Mem{Base: base, Index: stride, Scale: uint8(j)}
}

// StoreSums writes, for each row c, the sum of the 8 lanes of acc[c] (less macc[c] where
// macc is not nil) to out[c*os/4] (the parameters out and os), in the order of the
// one-row kernels' ends: (l0+l4)+(l1+l5) + ((l2+l6)+(l3+l7)).
func StoreSums(acc, macc []reg.VecVirtual) {
	o := build.Load(build.Param("out"), build.GP64())
	os := build.Load(build.Param("os"), build.GP64())
	for c := range acc {
		if macc != nil {
			build.VSUBPS(macc[c], acc[c], acc[c])
		}
		x := build.XMM()
		build.VEXTRACTF128(operand.U8(1), acc[c], x)
		build.VADDPS(acc[c].AsX(), x, x)
		build.VHADDPS(x, x, x)
		build.VHADDPS(x, x, x)
		build.VMOVSS(x, operand.Mem{Base: o})
		if c+1 < len(acc) {
			build.ADDQ(os, o)
		}
	}
}

// HSum8 returns, in the low lane of a new XMM register, the sum of acc's eight float32
// lanes in the order (l0+l4)+(l1+l5) + ((l2+l6)+(l3+l7)) that the plain-Go twins' hsum8
// reproduces: the high half added to the low, then two horizontal adds.
func HSum8(acc reg.VecVirtual) reg.VecVirtual {
	x := build.XMM()
	build.VEXTRACTF128(operand.U8(1), acc, x)
	build.VADDPS(acc.AsX(), x, x)
	build.VHADDPS(x, x, x)
	build.VHADDPS(x, x, x)
	return x
}
