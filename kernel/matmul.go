package kernel

import (
	"encoding/binary"
	"sync"
	"unsafe"

	"github.com/decilm/decilm/tensor"
)

// floatTileFn adds the R×C dot products of R weight rows (F32, BF16 or F16, stride ws
// bytes) and C float32 rows (stride xs bytes) over k elements, k a multiple of 8, to
// out[c*os/4+r] (os in bytes: the output of weight row r for activation row c).
type floatTileFn func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int)

// quantTileFn adds the R×C dot products of R Q8_0 weight rows (raw, stride ws bytes, or
// unpacked by q8Pack) and C rows of activations quantized by QuantizeQ8 (int8 values with
// stride xs bytes, float32 scales with stride xds bytes) over nb blocks of 32 to
// out[c*os/4+r].
type quantTileFn func(w *byte, ws int, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)

// q4pTileFn adds the R×C dot products of R Q4_0 rows packed in pairs by q4Pack (nb
// blocks of 96 bytes, stride ps bytes between pairs) and C rows quantized by QuantizeQ8
// (with xc: per block 8 int32 lanes of 8·Σx, see q4Corr) to out[c*os/4+r]. Each result is
// bit-identical to that of the matrix-vector kernel q4Vec over the same blocks.
type q4pTileFn func(w *byte, ps int, xq *int8, xs int, xd *float32, xds int, xc *int32, xcs int, nb int, out *float32, os int)

// The fast kernels, filled in at start-up where the CPU has them (fast_amd64.go).
var (
	useAsm      bool
	floatTiles  [3][5][5]floatTileFn // [f32, bf16, f16][R][C]
	quantTiles  [5]quantTileFn       // Q8_0 R×1, for a matrix-vector product
	dotVec      func(a, b *float32, n int) float32
	axpyVec     func(a float32, x, y *float32, n int)
	dotRowsVec  func(q, k *float32, stride, n, rows int, scale float32, out *float32)
	axpyRowsVec func(a, x *float32, stride, rows int, y *float32, n int)

	quantizeQ8Vec func(x *float32, q *int8, d *float32, nb int)
	siluMulVec    func(out, gate, up *float32, n int)
	expSumVec     func(x *float32, n int, m float32) float32

	q4PackVec func(dst, src *byte, ws, nb int)
	// q8PackVec unpacks a Q8_0 row for the q8pTiles, which sum exactly as quantTiles do.
	q8PackVec func(dst, src *byte, nb int)
	q8pTiles  [4][4]quantTileFn // [R][C]
	q4pTiles  [5][5]q4pTileFn   // [R][C]
	dotQ6KVec func(w *byte, xq *int8, xd *float32, xc *int32, nsb int) float32
	dotQ4KVec func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32

	// q4Vec[p] is the Q4_0 matrix-vector kernel for 2p rows, on x laid out by prepQ4Vec.
	// It and the q4pTiles sum alike: per block, 4 exact int32 lanes per row, each times
	// dw·dx into its float32 lane by one FMA; the lanes summed at the end of a call.
	q4Vec [5]func(w *byte, ws int, xp *byte, xd *float32, nb int, out *float32)
)

// Wider paths (AVX-512), set at start-up where the CPU has them. Each returns false for a
// call it does not handle, which then takes the AVX2 tiles below. matMulQuantWide (any m)
// and matVecQuantWide (m = 1) get x already quantized by QuantizeQ8 (s.q, s.d: m rows of k
// values, k/32 scales per row).
var (
	matMulFloatWide func(p *Pool, out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) bool
	matMulQuantWide func(p *Pool, out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) bool
	matVecQuantWide func(p *Pool, out []float32, s *quantScratch, n, k int, data []byte, rs int, dt tensor.DType) bool

	// matMulQuantAMX and matMulBF16AMX run on the tile unit (AMX) where the CPU has one.
	matMulQuantAMX func(p *Pool, out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) bool
	matMulBF16AMX  func(p *Pool, out, x []float32, m, n, k int, data []byte, rs int) bool
)

// Tiling of the matrix products. A matrix-vector product (m = 1) walks 4 weight rows at
// a time (8 for Q4_0). With m > 1 the activation rows are taken mBlock at a time and the
// shared dimension kBlock elements at a time, so that the block of x being reused stays
// in the L2 cache (256 KiB of float32 or 256 KiB of int8) while each weight tile is used
// against every activation row of the block: the weights stream from memory once per
// mBlock activation rows (once for a 128-token prefill with quantized weights, twice with
// float weights, where each weight byte then still feeds 32 or more flops).
const (
	mBlockFloat = 64
	mBlockQuant = 128
	kBlockFloat = 1024 // float32 elements
	kBlockQuant = 2048 // quantized elements (a multiple of 32)
)

func floatIndex(dt tensor.DType) int {
	switch dt {
	case tensor.F32:
		return 0
	case tensor.BF16:
		return 1
	case tensor.F16:
		return 2
	}
	return -1
}

// matMulFloat is MatMul for F32, BF16 and F16 weights with the tile kernels.
func (p *Pool) matMulFloat(out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	if matMulFloatWide != nil && matMulFloatWide(p, out, x, m, n, k, data, rs, dt) {
		return
	}
	tiles := &floatTiles[floatIndex(dt)]
	esize := rs / k
	kv := k &^ 7
	tail := func(j, i int) float32 {
		var s float32
		row := data[j*rs : (j+1)*rs]
		for l := kv; l < k; l++ {
			s += x[i*k+l] * weightAt(row, dt, l)
		}
		return s
	}
	if m == 1 {
		p.runGrain(n, 4, func(lo, hi int) {
			for j := lo; j < hi; j += 4 {
				r := min(4, hi-j)
				for a := 0; a < r; a++ {
					out[j+a] = 0
					if kv < k {
						out[j+a] = tail(j+a, 0)
					}
				}
				// In kBlockFloat pieces, as the m > 1 path below adds them, so that a
				// row's outputs are bit-identical whatever the number of rows.
				for l0 := 0; l0 < kv; l0 += kBlockFloat {
					tiles[r][1](&data[j*rs+l0*esize], rs, &x[l0], 0, min(kBlockFloat, kv-l0), &out[j], 0)
				}
			}
		})
		return
	}
	const R, C = 3, 4
	p.runGrain(n, R, func(lo, hi int) {
		for i0 := 0; i0 < m; i0 += mBlockFloat {
			i1 := min(m, i0+mBlockFloat)
			for i := i0; i < i1; i++ {
				if kv == k {
					clear(out[i*n+lo : i*n+hi])
					continue
				}
				for j := lo; j < hi; j++ {
					out[i*n+j] = tail(j, i)
				}
			}
			for l0 := 0; l0 < kv; l0 += kBlockFloat {
				kc := min(kBlockFloat, kv-l0)
				for j := lo; j < hi; j += R {
					r := min(R, hi-j)
					f := tiles[r]
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						f[c](&data[j*rs+l0*esize], rs, &x[i*k+l0], 4*k, kc, &out[i*n+j], 4*n)
					}
				}
			}
		}
	})
}

// quantScratch holds activations quantized by QuantizeQ8 for one MatMul call, and for
// Q6_K the sums 32·Σx over each 4 consecutive values (for Q4_0 and several rows, q4Corr), for Q4_K each block's scale times
// the sum of its values, for a Q4_0 matrix-vector product the layout of prepQ4Vec.
type quantScratch struct {
	q []int8
	d []float32
	c []int32
	s []float32
	p []byte
}

// prepQ4Vec lays out one quantized row for the Q4_0 matrix-vector kernels: per block of
// 32, 96 bytes: x[0..15] twice, x[16..31] twice, and 8 little-endian int32 lanes, lane j
// of each half holding 8·Σ x over elements 4j..4j+3 and 16+4j..16+4j+3.
func prepQ4Vec(s *quantScratch, xq []int8) []byte {
	nb := len(xq) / 32
	if cap(s.p) < 96*nb {
		s.p = make([]byte, 96*nb)
	}
	xp := s.p[:96*nb]
	xb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xq))), len(xq))
	for b := 0; b < nb; b++ {
		x, d := xb[32*b:32*b+32], xp[96*b:96*b+96]
		copy(d[0:16], x[:16])
		copy(d[16:32], x[:16])
		copy(d[32:48], x[16:])
		copy(d[48:64], x[16:])
		for j := 0; j < 4; j++ {
			sum := int32(int8(x[4*j])) + int32(int8(x[4*j+1])) + int32(int8(x[4*j+2])) + int32(int8(x[4*j+3])) +
				int32(int8(x[16+4*j])) + int32(int8(x[16+4*j+1])) + int32(int8(x[16+4*j+2])) + int32(int8(x[16+4*j+3]))
			binary.LittleEndian.PutUint32(d[64+4*j:], uint32(8*sum))
			binary.LittleEndian.PutUint32(d[80+4*j:], uint32(8*sum))
		}
	}
	return xp
}

var quantScratchPool = sync.Pool{New: func() any { return new(quantScratch) }}

// quantizeRows quantizes the m rows of x (k values each, k a multiple of 32) into s,
// splitting the rows over the pool's threads.
func (p *Pool) quantizeRows(s *quantScratch, x []float32, m, k int) {
	nb := k / 32
	if cap(s.q) < m*k {
		s.q = make([]int8, m*k)
		s.d = make([]float32, m*nb)
	}
	s.q, s.d = s.q[:m*k], s.d[:m*nb]
	quant := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			QuantizeQ8(s.q[i*k:(i+1)*k], s.d[i*nb:(i+1)*nb], x[i*k:(i+1)*k])
		}
	}
	if m*k < 1<<14 {
		quant(0, m)
	} else {
		p.Run(m, quant)
	}
}

// matMulQuant is MatMul for Q8_0 and Q4_0 weights: x is quantized to 8 bits per value
// once, then multiplied with integer tile kernels (or the plain version without them).
func (p *Pool) matMulQuant(out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	if !useAsm {
		matMulQuantGeneric(p, out, s.q, s.d, m, n, k, data, rs, dt)
		return
	}
	// Every wide path computes each output as Σ_b (s_b·dx_b)·dw_b, block after block, so
	// a row's results do not depend on which of them runs or on m.
	if m == 1 && matVecQuantWide != nil && matVecQuantWide(p, out, s, n, k, data, rs, dt) {
		return
	}
	if matMulQuantAMX != nil && matMulQuantAMX(p, out, s, m, n, k, data, rs, dt) {
		return
	}
	if matMulQuantWide != nil && matMulQuantWide(p, out, s, m, n, k, data, rs, dt) {
		return
	}
	nb := k / 32
	xq, xd := s.q, s.d
	if m == 1 && dt == tensor.Q4_0 {
		const kb = kBlockQuant / 32
		xp := prepQ4Vec(s, xq[:k])
		p.runGrain(n, 8, func(lo, hi int) {
			clear(out[lo:hi])
			j := lo
			for j+2 <= hi {
				pairs := min(4, (hi-j)/2)
				// In kBlockQuant pieces, as matMulQ4 adds them.
				for b0 := 0; b0 < nb; b0 += kb {
					q4Vec[pairs](&data[j*rs+18*b0], rs, &xp[96*b0], &xd[b0], min(kb, nb-b0), &out[j])
				}
				j += 2 * pairs
			}
			if j < hi { // an odd last row, as the first of a pair with itself
				for b0 := 0; b0 < nb; b0 += kb {
					two := [2]float32{out[j], 0}
					q4Vec[1](&data[j*rs+18*b0], 0, &xp[96*b0], &xd[b0], min(kb, nb-b0), &two[0])
					out[j] = two[0]
				}
			}
		})
		return
	}
	if m == 1 {
		const kb = kBlockQuant / 32
		bb := dt.BlockBytes()
		p.runGrain(n, 4, func(lo, hi int) {
			clear(out[lo:hi])
			for j := lo; j < hi; j += 4 {
				// In kBlockQuant pieces, as the m > 1 path adds them.
				for b0 := 0; b0 < nb; b0 += kb {
					quantTiles[min(4, hi-j)](&data[j*rs+b0*bb], rs, &xq[b0*32], 0, &xd[b0], 0, min(kb, nb-b0), &out[j], 0)
				}
			}
		})
		return
	}
	if dt == tensor.Q4_0 {
		p.matMulQ4(out, m, n, k, data, rs, s)
		return
	}
	p.matMulQ8(out, m, n, k, data, rs, xq, xd)
}

// matMulQ8 is MatMul for Q8_0 weights and several rows of x (already quantized). Tiles of
// weights (R rows by kb blocks) are unpacked once per mBlockQuant rows of x (q8PackVec:
// |w|, w and the scale as float32 per block) and multiplied with every row of the block
// by the q8pTiles, which give the bits of the matrix-vector tiles, kBlockQuant values a
// call, so that a row's results are the same whatever m.
func (p *Pool) matMulQ8(out []float32, m, n, k int, data []byte, rs int, xq []int8, xd []float32) {
	const R, C = 3, 3
	const kb = kBlockQuant / 32
	nb := k / 32
	p.runGrain(n, R, func(lo, hi int) {
		wbuf := make([]byte, R*kb*96)
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for b0 := 0; b0 < nb; b0 += kb {
				bc := min(kb, nb-b0)
				for j := lo; j < hi; j += R {
					r := min(R, hi-j)
					for a := 0; a < r; a++ {
						q8PackVec(&wbuf[a*bc*96], &data[(j+a)*rs+b0*34], bc)
					}
					f := &q8pTiles[r]
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						f[c](&wbuf[0], bc*96, &xq[i*k+b0*32], k, &xd[i*nb+b0], 4*nb, bc, &out[i*n+j], 4*n)
					}
				}
			}
		}
	})
}

// q4Corr fills xc (8 int32 per block of each of the m rows of xq, k values a row) for the
// q4pTiles: lanes j and 4+j of a block hold 8·Σx over its elements 4j..4j+3 and
// 16+4j..16+4j+3, the offset 8 of Q4_0 that the kernels take off the unsigned nibbles.
func q4Corr(xc []int32, xq []int8) {
	for b := 0; b < len(xq)/32; b++ {
		x, c := xq[32*b:32*b+32], xc[8*b:8*b+8]
		for j := 0; j < 4; j++ {
			v := 8 * (int32(x[4*j]) + int32(x[4*j+1]) + int32(x[4*j+2]) + int32(x[4*j+3]) +
				int32(x[16+4*j]) + int32(x[16+4*j+1]) + int32(x[16+4*j+2]) + int32(x[16+4*j+3]))
			c[j], c[4+j] = v, v
		}
	}
}

// matMulQ4 is MatMul for Q4_0 weights and several rows of x (already quantized in s).
// Tiles of weights (R rows by kb blocks) are unpacked once per mBlockQuant rows of x, two
// rows at a time, into the nibble and scale vectors that q4Vec builds from the raw blocks;
// the tiles then sum exactly as q4Vec does, kBlockQuant values a call, so that a row's
// results are the same whatever m.
func (p *Pool) matMulQ4(out []float32, m, n, k int, data []byte, rs int, s *quantScratch) {
	const R, C = 4, 3
	const kb = kBlockQuant / 32
	nb := k / 32
	xq, xd := s.q, s.d
	if cap(s.c) < 8*m*nb {
		s.c = make([]int32, 8*m*nb)
	}
	xc := s.c[:8*m*nb]
	q4Corr(xc, xq)
	p.runGrain(n, R, func(lo, hi int) {
		wbuf := make([]byte, (R+1)/2*kb*96)
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for b0 := 0; b0 < nb; b0 += kb {
				bc := min(kb, nb-b0)
				for j := lo; j < hi; j += R {
					r := min(R, hi-j)
					for a := 0; a < r; a += 2 {
						ws := rs
						if a+1 == r {
							ws = 0 // an odd last row: a pair with itself
						}
						q4PackVec(&wbuf[a/2*bc*96], &data[(j+a)*rs+b0*18], ws, bc)
					}
					f := &q4pTiles[r]
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						f[c](&wbuf[0], bc*96, &xq[i*k+b0*32], k, &xd[i*nb+b0], 4*nb,
							&xc[8*(i*nb+b0)], 32*nb, bc, &out[i*n+j], 4*n)
					}
				}
			}
		}
	})
}

// matMulSuper is MatMul for Q4_K and Q6_K weights: x is quantized by QuantizeQ8 and each
// weight row is multiplied with every row of x while it is in the cache.
func (p *Pool) matMulSuper(out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	if !useAsm {
		matMulQuantGeneric(p, out, s.q, s.d, m, n, k, data, rs, dt)
		return
	}
	nb, nsb := k/32, k/256
	var rowDot func(j, i int) float32
	if dt == tensor.Q6_K {
		if cap(s.c) < m*k/4 {
			s.c = make([]int32, m*k/4)
		}
		xc := s.c[:m*k/4]
		for i := range xc {
			q := s.q[4*i : 4*i+4]
			xc[i] = 32 * (int32(q[0]) + int32(q[1]) + int32(q[2]) + int32(q[3]))
		}
		rowDot = func(j, i int) float32 {
			return dotQ6KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xc[i*k/4], nsb)
		}
	} else {
		if cap(s.s) < m*nb {
			s.s = make([]float32, m*nb)
		}
		xs := s.s[:m*nb]
		for b := range xs {
			var sum int32
			for _, q := range s.q[32*b : 32*b+32] {
				sum += int32(q)
			}
			xs[b] = s.d[b] * float32(sum)
		}
		rowDot = func(j, i int) float32 {
			return dotQ4KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xs[i*nb], nsb)
		}
	}
	p.runGrain(n, 4, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			for i := 0; i < m; i++ {
				out[i*n+j] = rowDot(j, i)
			}
		}
	})
}
