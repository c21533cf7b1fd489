package kernel

import (
	"encoding/binary"

	"github.com/decilm/decilm/tensor"
)

// IQ1_S and IQ1_M on AVX-512 VNNI CPUs, every number of activation rows (issue 16). The
// rows are stored as llama-quantize writes them: block_iq1_s (50 bytes a super-block of
// 256: f16 d, qs[32], qh[8] uint16: per block of 32 a 3-bit scale s, a shift sign and the
// high index bits of its four groups of 8) and block_iq1_m (56 bytes: qs[32], qh[16] with
// each group's high index bits and shift sign, four uint16 of 3-bit scales, one a half
// block, whose top nibbles hold d). Each group of 8 weights is d·(2s+1)·(g + δ/8) with g
// an entry of the 2048-entry grid of {-1, 0, 1}^8 and δ = ±1, so 8·weight/(d·(2s+1)) =
// 8·g + δ is a small integer (|v| ≤ 9). Both sum each output row block after block (b the
// block of 32, every sum exact in int32, |T_b| ≤ 15·9·127·32 < 2^20):
//
//	T_b = Σ_half (2s_half+1)·(8·Σ_half g·x + Σ_group δ_group·Σ_group x)
//	acc = float32(T_b)·((d/8)·dx_b) + acc
//
// (the product in parentheses rounded once, "+ acc" one fused multiply-add; IQ1_S's two
// halves share a scale), so a row's result is the same bits for any m. dotIQ132Generic is
// the plain version of this order. With one activation row dot<T>32x2AVX512 decodes two
// rows a call in registers (asmgenk's iq1Row32x2: the values 8·g + δ met as |v| and
// x·sign(v), IQ1_S's Σ by VPDPBUSD and one VPMULLD by 2s+1 for 8 blocks, IQ1_M's halves by
// VPMADDUBSW and VPMADDWD with their scales; dot<T>32AVX512 the odd last row). With
// several, each 8 weight rows' piece of kp512KB super-blocks is decoded once
// (<t>UnpackAVX512: u = 8·g + δ + 64, 55..73, the halves' 2s+1 as int16, d/8 as float32)
// into the q6KPBlock format, and the kp512 Q6_K tiles multiply two such pieces with all
// activation rows, their sums started at -64·Σx (iq2XSPrep) so that they come out as T_b;
// iq2XSTiles (kp512PieceRows) walks the rows, as for IQ2_XS and the grid i-quants (iqgrid.go). CPUs
// without AVX-512 F, BW, VL, VNNI (or BMI2, for IQ1_M's scales in the one-row kernel), and
// -tags purego, keep the AVX2 kernels and their order (dotGridGeneric) or the unpacked rows.
//
// Why: the AVX2 kernels' order (per 4 values an int sum times the scale, converted, one
// FMA into 8 lanes: dotGridGeneric) costs a convert and an FMA per 4 values and output, so
// their 1×C tiles ran at 45-48 cpu-GFLOP/s for every m; the block-of-32 order is exact in
// int32 and is the Q6_K tiles', whose q6KPBlock format takes these values offset by 64,
// so no new tile was needed.
//
// Measured (BenchmarkIQ1VNNI, 5632×2048, go test -run none -bench IQ1VNNI -cpu 1 -count 5
// -benchtime 10x, one thread, medians of cpu-GFLOP/s from the thread's CPU time, Zen 5
// with 2 vCPUs shared with other engineers, load about 2: rough), this path / the AVX2
// kernels it replaces, same run:
//
//	            m=1            m=16           m=128
//	IQ1_S       21.1 / 21.9    172 / 47.4     336 / 46.6
//	IQ1_M       18.7 / 20.0    150 / 45.1     329 / 47.6
//
// so m = 1 costs 4-7% more (the grid loads, 32 a super-block, are the same; the
// sums' folding and the scalar chain are what is added), several rows 3.3-7.2× less.
// The unpackers alone (BenchmarkIQ1Unpack, L2-resident, -cpu 1 -count 5, medians, load
// about 3): IQ1_S 22.2, IQ1_M 30.6 thread-CPU ns per row super-block (IQ1_M's scales and
// shifts cost more to spread), about 40% of the m = 16 time.
//
// End to end (decilm bench -p 128 -n 32 -b 16 -r 1 --threads 2 on the 1b preset quantized
// by llama-quantize --imatrix kq-1b-imatrix.gguf to IQ1_S: 108 IQ1_S, 22 IQ2_XXS, 22 Q4_K,
// 3 Q2_K tensors and a Q5_K output; load 1-3 on the 2 vCPUs: rough), main before / this,
// one after the other: pp128 46.5 / 231.7 t/s, 16 sequences 25.2 / 50.6 t/s, the whole
// process 34.1 / 16.2 user CPU s (29.9 / 14.8 s wall). tg32 alone swings 8.6-24 t/s with
// the load; four interleaved runs (-p 0 -n 32), main / this: 8.65 / 9.47, 11.97 / 14.77.
// llama.cpp c392e509 (llama-bench -p 128 -n 32 -t 2 -r 1) right after: pp128 20.7, tg32
// 17.1 t/s (its threads spin: rough at this load).

// pathIQ1 are the types of the VNNI order of this file (paths.go's lines "(iq1, ...)").
var pathIQ1 = []tensor.DType{tensor.IQ1_S, tensor.IQ1_M}

// iq1SFns and iq1MFns are the kernels of IQ1_S and IQ1_M in the VNNI order (set at
// start-up by iq1_amd64.go; nil where the CPU lacks the instructions).
var iq1SFns, iq1MFns *iqGridFns

// iq1Fns returns the VNNI-order kernels of dt, or nil where dt does not take that order.
func iq1Fns(dt tensor.DType) *iqGridFns {
	if kp512Q6KTiles == nil {
		return nil
	}
	switch dt {
	case tensor.IQ1_S:
		return iq1SFns
	case tensor.IQ1_M:
		return iq1MFns
	}
	return nil
}

// iq1On reports whether dt (IQ1_S or IQ1_M) takes the VNNI order on this CPU.
func iq1On(dt tensor.DType) bool { return iq1Fns(dt) != nil }

// iq1D returns d/8 of an IQ1_S or IQ1_M super-block (IQ1_M's f16 d: the top nibbles of its
// four scales words, word i's in bits 4i..4i+3).
func iq1D(dt tensor.DType, blk []byte) float32 {
	if dt == tensor.IQ1_M {
		var h uint16
		for i := 0; i < 4; i++ {
			h |= binary.LittleEndian.Uint16(blk[48+2*i:]) >> 12 << (4 * i)
		}
		return tensor.F16ToF32(h) * 0.125
	}
	return f16At(blk, 0) * 0.125
}

// iq1Group returns group l (0..3) of block ib of an IQ1_S or IQ1_M super-block, decoded
// from the block's bytes: its grid entry (8 bytes -1, 0, 1) and its shift δ (±1).
func iq1Group(dt tensor.DType, blk []byte, ib, l int) (g uint64, delta int32) {
	var idx int
	delta = 1
	if dt == tensor.IQ1_M {
		h := int(blk[32+2*ib+l/2]) >> (4 * (l % 2))
		idx = int(blk[4*ib+l]) | (h&7)<<8
		if h&8 != 0 {
			delta = -1
		}
	} else {
		qh := int(binary.LittleEndian.Uint16(blk[34+2*ib:]))
		idx = int(blk[2+4*ib+l]) | (qh>>(3*l)&7)<<8
		if qh&0x8000 != 0 {
			delta = -1
		}
	}
	return tensor.IQ1SGrid()[idx], delta
}

// dotIQ132Generic is the plain version of the VNNI order of IQ1_S and IQ1_M (dt): w holds
// nsb super-blocks, xq and xd a row quantized by QuantizeQ8; each block of 32 gives the
// exact T_b above, formed as written there (Σ g·x and Σ x of each group of 8), and
// acc = fmaF32(float32(T_b), (d/8)·dx_b, acc), block after block.
func dotIQ132Generic(dt tensor.DType, w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc float32
	bb := dt.BlockBytes()
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*bb : (sb+1)*bb]
		s, _ := gridScales(dt, blk)
		d8 := iq1D(dt, blk)
		for ib := 0; ib < 8; ib++ {
			var t int32
			for h := 0; h < 2; h++ {
				var gx, dx int32 // 8·Σ g·x and Σ δ·Σ x over the half's two groups
				for l := 2 * h; l < 2*h+2; l++ {
					g, delta := iq1Group(dt, blk, ib, l)
					var sg, sx int32
					for e := 0; e < 8; e++ {
						x := int32(xq[256*sb+32*ib+8*l+e])
						sg += int32(int8(g>>(8*e))) * x
						sx += x
					}
					gx += 8 * sg
					dx += delta * sx
				}
				t += s[2*ib+h] * (gx + dx)
			}
			acc = fmaF32(float32(t), d8*xd[8*sb+ib], acc)
		}
	}
	return acc
}
