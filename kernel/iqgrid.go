package kernel

import (
	"encoding/binary"
	"math"

	"github.com/decilm/decilm/tensor"
)

// IQ3_XXS, IQ2_XXS, IQ3_S and IQ2_S on AVX-512 VNNI CPUs, every number of activation rows
// (issue 16 item 1): IQ2_XS's design (iq2xs.go) for the other grid i-quants. Each block of
// 32 weights is 4 (IQ2: 8-byte entries, magnitudes 8, 25, 43) or 8 (IQ3: 4-byte entries,
// IQ3_XXS 4..62, IQ3_S 1..15) grid entries with a sign per weight and an odd integer
// scale 2s+1 (s ≤ 15) for the block (IQ2_S: one for each half of 16), and the super-block
// of 256 has one f16 d. Each output sums its blocks one after the other (b the block of
// 32, Σ exact in int32):
//
//	T_b = (2s_lo+1)·Σ_lo w·x + (2s_hi+1)·Σ_hi w·x      (w = ±g: the signed grid value)
//	acc = float32(T_b)·((d·dmul)·dx_b) + acc
//
// with dmul, the power of two that makes d·dmul·(2s+1) the weights' scale, per type:
// IQ3_XXS 1/4, IQ2_XXS 1/8, IQ3_S 1, IQ2_S 1/8 (d·dmul is exact; the product in
// parentheses is rounded once, "+ acc" is one fused multiply-add). |T_b| ≤ 31·62·127·32 <
// 2^23 (IQ3_XXS, the largest), so T_b is exact in int32 and in float32. With one
// activation row the type's dot<T>32AVX512 (asmgenk's gridRow32) decodes a super-block as
// the AVX2 kernel does, takes each block's Σ g·x by VPDPBUSD (IQ2_S: VPMADDUBSW, then
// VPMADDWD with the halves' scales), folds the 8 blocks into one vector (VPHADDD), applies
// the scales (VPMULLD) and chains the 8 fused multiply-adds; dot<T>32x2AVX512 does two rows
// a call, their two chains in two lanes of one register (half the shuffles of the tail),
// and serves m = 1 (the odd last row: dot<T>32AVX512). With several, each 8 weight rows'
// piece of kp512KB super-blocks is decoded once (the type's <t>UnpackAVX512: asmgenk's
// gridUnpack512) into the q6KPBlock format as u = w + 64 (2..126: an unsigned byte for
// VPDPBUSD), the scales' words and d·dmul as float32, and the kp512 Q6_K tiles multiply two
// such pieces with all activation rows, their sums started at -64·Σx (iq2XSPrep) so that
// they come out as T_b; iq2XSTiles (kp512PieceRows) walks the rows. So a row's result is the same bits for
// any m, and dotGrid32Generic is the plain version. CPUs without AVX-512 VNNI keep the
// AVX2 kernels and their order (dotGridGeneric).
//
// Why: the AVX2 kernels' order (per 4 values an int sum times the scale, converted, one
// FMA into 8 lanes: dotGridGeneric) costs a convert and an FMA per 4 values and output, so
// their 1×C tiles ran at 50-66 cpu-GFLOP/s for every m; the block-of-32 order is exact in
// int32 and is the Q6_K tiles', whose q6KPBlock format takes these values offset by 64
// (|w| ≤ 62), so no new tile was needed. Not kept: a one-row kernel that stored T_b and
// (d·dmul)·dx_b and read them back a lane at a time (IQ3_XXS m = 1 22.5 against the AVX2
// kernel's 25.5 cpu-GFLOP/s), and in the IQ3_XXS unpacker one VPGATHERDD for two blocks'
// 16 grid entries (BenchmarkIQGridUnpack 39-49 against 34-42 ns per row super-block with
// scalar loads) or the grid looked up in vectors as iq2XSUnpackVBMI does (8 VPERMT2D on
// 64-byte pieces of the table from memory and 7 VPBLENDMD on index bits 5-7 for two
// blocks: 39-54 against 29-35).
//
// Measured (BenchmarkIQGridVNNI, 5632×2048, -cpu 1 -count 5 -benchtime 10x, one thread,
// medians of cpu-GFLOP/s from the thread's CPU time, Zen 5 shared by several processes,
// load 8-10 on 2 vCPUs: rough), this path / the AVX2 kernels it replaces, same run:
//
//	            m=1            m=16           m=128
//	IQ3_XXS     18.0 / 21.0    97.8 / 48.7    274 / 47.3
//	IQ2_XXS     31.9 / 31.7    170 / 63.3     350 / 53.2
//	IQ3_S       13.8 / 15.6    80.1 / 42.7    298 / 43.9
//	IQ2_S       18.4 / 23.3    108 / 52.4     280 / 56.5
//
// and in an earlier run (load 6): m=16 132 / 62.4, 228 / 66.3, 173 / 53.4, 143 / 58.1;
// m=128 339 / 62.6, 367 / 66.5, 325 / 53.3, 332 / 60.1. m = 1 drifts with the load when
// the two variants run one after the other; four interleaved rounds (-count 1, -benchtime
// 20x, load 9-10), this / old: IQ3_XXS 26.9/27.8, 28.4/27.2, 28.0/25.7, 27.5/25.5;
// IQ2_XXS 32.6/33.3, 34.0/33.0, 30.7/28.0, 30.4/31.3; IQ3_S 21.6/22.2, 21.8/21.1,
// 21.6/22.4, 19.5/21.2; IQ2_S 29.5/30.5, 30.6/31.2, 28.7/30.8, 30.1/31.1: within about
// ±5% of the AVX2 kernels (IQ3_S and IQ2_S 3-4% behind on average). The unpackers alone
// (BenchmarkIQGridUnpack, L2-resident, load 8): 20-40 thread-CPU ns per row super-block
// (IQ3_XXS the most: 8 scalar grid loads a block of 32), against 13.6 for IQ2_XS's
// unpacker; at m = 16 they are about 40% of the time.
//
// End to end (decilm bench -p 128 -n 32 -b 16 -r 1 --threads 2, 1b preset quantized by
// llama-quantize --imatrix to IQ3_XXS: 66 IQ3_XXS, 44 IQ2_S, 23 IQ3_S, 22 Q4_K tensors and
// a Q5_K embedding; load 8-10 on the 2 vCPUs: very rough), main before / this, one after the other:
// pp128 10.2 / 75.2 t/s, tg32 9.9 / 9.6 t/s, 16 sequences 11.7 / 34.8 t/s; the whole
// process 32.9 / 16.5 user CPU s (69.8 / 22.4 s wall). llama.cpp c392e509 (llama-bench -p
// 128 -n 32 -t 2 -r 1) right after: pp128 6.0, tg32 0.58 t/s (its threads spin: meaningless
// at this load).

// iqGridFns are the kernels of one type of the VNNI order (iqGrid: nil where the CPU
// lacks AVX-512 F, BW, VL and VNNI, or without the kp512 Q6_K tiles).
type iqGridFns struct {
	// dot is the one-row kernel: w holds nsb super-blocks, xq and xd a row quantized by
	// QuantizeQ8.
	dot func(w *byte, xq *int8, xd *float32, nsb int) float32
	// dot2 writes the products of the rows at w and w+ws to out[0], out[1], each as dot
	// computes it (the type's dot<T>32x2AVX512).
	dot2 func(w *byte, ws int, xq *int8, xd *float32, nsb int, out *float32)
	// unpack decodes nsb super-blocks of 8 rows (row r at w+off[r]) into dst in the
	// q6KPBlock format, as gridUnpack8.
	unpack func(dst, w *byte, off *int64, nsb int)
}

// iqGrid returns the VNNI-order kernels of dt, or nil where dt does not take that order.
func iqGrid(dt tensor.DType) *iqGridFns {
	if kp512Q6KTiles == nil {
		return nil
	}
	switch dt {
	case tensor.IQ3_XXS:
		return iqGridIQ3XXS
	case tensor.IQ2_XXS:
		return iqGridIQ2XXS
	case tensor.IQ3_S:
		return iqGridIQ3S
	case tensor.IQ2_S:
		return iqGridIQ2S
	}
	return nil
}

// The kernels of each type (set at start-up by iqgrid_amd64.go).
var iqGridIQ3XXS, iqGridIQ2XXS, iqGridIQ3S, iqGridIQ2S *iqGridFns

// iqGridOn reports whether dt takes the VNNI order on this CPU.
func iqGridOn(dt tensor.DType) bool { return iqGrid(dt) != nil }

// dotGrid32Generic is the plain version of the VNNI order of dt (IQ3_XXS, IQ2_XXS, IQ3_S,
// IQ2_S): w holds nsb super-blocks, xq and xd a row quantized by QuantizeQ8; each block of
// 32 gives the exact T_b above and acc = fmaF32(float32(T_b), (d·dmul)·dx_b, acc), block
// after block.
func dotGrid32Generic(dt tensor.DType, w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	u := make([]int8, 256)
	sc, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(dt)
	bb := dt.BlockBytes()
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*bb : sb*bb+bb]
		unpack(u, sc, mn, blk) // the signed grid values; the scales are formed below
		s, dmul := gridScales(dt, blk)
		dd := f16At(blk, 0) * dmul
		for ib := 0; ib < 8; ib++ {
			var t int32
			for h := 0; h < 2; h++ {
				var isum int32
				for e := 32*ib + 16*h; e < 32*ib+16*h+16; e++ {
					isum += int32(u[e]) * int32(xq[256*sb+e])
				}
				t += s[2*ib+h] * isum
			}
			acc = fmaF32(float32(t), dd*xd[8*sb+ib], acc)
		}
	}
	return acc
}

// gridUnpack8 decodes super-blocks s0..s0+sc-1 of weight rows j..j+rows-1 of type dt
// (rows ≤ 8; row r at data[(j+r)·rs:]) into dst in the q6KPBlock format, row r in lane r
// (lanes rows..7 are left as they were): per block of 32, value e of row r at byte
// 32·(e/4) + 4r + e%4 as u = w + 64, at 256 + 4r the low half's scale 2s+1 as int16
// twice, at 288 + 4r the high half's twice, at 320 + 4r the two, and at 352 + 4r d·dmul
// as float32 (IQ1_S, IQ1_M: u = 8·g + δ + 64, tensor.Unpacker's value plus 64, and d/8,
// iq1D).
func gridUnpack8(dt tensor.DType, dst, data []byte, rs, j, rows, s0, sc int) {
	le := binary.LittleEndian
	bb := dt.BlockBytes()
	u := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(dt)
	for r := 0; r < rows; r++ {
		row := data[(j+r)*rs:]
		for s := 0; s < sc; s++ {
			blk := row[(s0+s)*bb : (s0+s+1)*bb]
			unpack(u, sf, mn, blk)
			scl, dmul := gridScales(dt, blk)
			dd := math.Float32bits(f16At(blk, 0) * dmul)
			if dt == tensor.IQ1_S || dt == tensor.IQ1_M {
				dd = math.Float32bits(iq1D(dt, blk))
			}
			for ib := 0; ib < 8; ib++ {
				o := dst[(8*s+ib)*q6KPBlock : (8*s+ib+1)*q6KPBlock]
				for e := 0; e < 32; e++ {
					o[32*(e/4)+4*r+e%4] = byte(int(u[32*ib+e]) + 64)
				}
				lo, hi := uint32(scl[2*ib]), uint32(scl[2*ib+1])
				le.PutUint32(o[256+4*r:], lo|lo<<16)
				le.PutUint32(o[288+4*r:], hi|hi<<16)
				le.PutUint32(o[320+4*r:], lo|hi<<16)
				le.PutUint32(o[352+4*r:], dd)
			}
		}
	}
}

// gridUnpack8Asm is gridUnpack8 on the type's assembly unpacker, which always decodes 8
// rows: lanes rows..7 get copies of row rows-1 (they are not read back).
func gridUnpack8Asm(f *iqGridFns, bb int, dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q6KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*bb-1]
	f.unpack(&dst[0], &data[j*rs+s0*bb], &off[0], sc)
}

// matMulGrid512 is MatMul for dt weights (IQ3_XXS, IQ2_XXS, IQ3_S, IQ2_S, and IQ1_S,
// IQ1_M: iq1.go; n rows of rs bytes, k values) in the VNNI order on f, dt's kernels
// (iqGrid, iq1Fns), on x quantized into s: two rows a call of the one-row kernels for
// m = 1, else the pieces decoded by the type's unpacker on the kp512 Q6_K tiles.
func (p *Pool) matMulGrid512(f *iqGridFns, out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) {
	nsb := k / 256
	if m == 1 {
		p.runGrain(n, 4, func(lo, hi int) {
			j := lo
			for ; j+2 <= hi; j += 2 {
				f.dot2(&data[j*rs], rs, &s.q[0], &s.d[0], nsb, &out[j])
			}
			for ; j < hi; j++ {
				out[j] = f.dot(&data[j*rs], &s.q[0], &s.d[0], nsb)
			}
		})
		return
	}
	bb := dt.BlockBytes()
	p.iq2XSTiles(out, s, m, n, k, data, rs, kp512Q6KTiles, kp512Q6KC, func(dst, data []byte, rs, j, rows, s0, sc int) {
		gridUnpack8Asm(f, bb, dst, data, rs, j, rows, s0, sc)
	})
}
