package kernel

import (
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

// q4iTileFn adds the 8×C dot products of 8 Q4_0 rows interleaved by q4iPack (nb blocks of
// 288 bytes) and C rows quantized by QuantizeQ8 (with xc: 8·Σx per block as int32, see
// q4Sums) to out[c*os/4+r], block after block.
type q4iTileFn func(w *byte, xq *int8, xs int, xd *float32, xds int, xc *int32, xcs int, nb int, out *float32, os int)

// q8gTileFn adds the 8×C dot products of 8 rows of a packed Q8_0 group (scales sc,
// values q, 544 bytes a block) and C rows quantized by QuantizeQ8 (strides xs, xds in
// bytes) over nb blocks to out[c*os/4+r], block after block.
type q8gTileFn func(sc, q *byte, xq *int8, xs int, xd *float32, xds int, nb int, out *float32, os int)

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

	// q4iVec, q4iPackVec and q4iTiles are the Q4_0 kernels: one activation row against
	// 8 weight rows interleaved in registers, or several against 8 rows interleaved once
	// per block of activation rows. Both sum alike (exact int32 block sums, then
	// out += (s·dx)·dw block after block), so that a row's results do not depend on m.
	q4iVec     func(w *byte, ws int, xq *int8, xd *float32, xc *int32, nb int, out *float32)
	q4iPackVec func(dst, w *byte, ws, nb int)
	q4iTiles   [3]q4iTileFn // [C]

	// q4pVec and q4pUnpack read Q4_0 weights laid out by Pack in groups of 16 rows
	// (packGroup, groupLayout: 288 bytes a block) where the CPU has AVX2 and nothing
	// faster (q4PackedOn).
	q4pVec    func(w *byte, xq *int8, xd *float32, xc *int32, nb int, out *float32)
	q4pUnpack func(dst, sc, q *byte, nb int)

	// q8gVec and q8gTiles read Q8_0 weights laid out by Pack in groups of 16 rows
	// (packGroup, groupLayout: 544 bytes a block) where the CPU has AVX2 and nothing
	// faster (q8PackedOn): one activation row against 16 weight rows, or C = 1..4 against
	// 8, with the same arithmetic.
	q8gVec   func(w *byte, xq *int8, xd *float32, nb int, out *float32)
	q8gTiles [5]q8gTileFn // [C]

	// q8PackVec unpacks a Q8_0 row for the q8pTiles, which sum exactly as quantTiles do.
	q8PackVec func(dst, src *byte, nb int)
	q8pTiles  [4][4]quantTileFn // [R][C]
	dotQ6KVec func(w *byte, xq *int8, xd *float32, xc *int32, nsb int) float32
	dotQ4KVec func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
	// q4KTiles, q6KTiles, q5KTiles, iq4XSTiles, q3KTiles and iq2XSTiles serve C = 2..4
	// activation rows with one weight row, each row summed as the one-row kernel of the
	// type sums it.
	q4KTiles, q6KTiles, q5KTiles, iq4XSTiles, q3KTiles, iq2XSTiles [5]superTileFn
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
// Q6_K the sums 32·Σx over each 4 consecutive values (for Q4_0, 8·Σx per block: q4Sums),
// for Q4_K each block's scale times the sum of its values.
type quantScratch struct {
	q []int8
	d []float32
	c []int32
	s []float32
}

var quantScratchPool = sync.Pool{New: func() any { return new(quantScratch) }}

// packBufLen is the size of the buffers that hold a tile of weights unpacked by
// q4iPackVec (kBlockQuant values of 8 rows) or q8PackVec (of 3 rows); packBufPool keeps
// them from one MatMul call to the next.
const packBufLen = kBlockQuant / 32 * 288

var packBufPool = sync.Pool{New: func() any { return new([packBufLen]byte) }}

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
		xc := q4Sums(s, xq[:k])
		p.runGrain(n, 8, func(lo, hi int) {
			clear(out[lo:hi])
			j := lo
			for ; j+8 <= hi; j += 8 {
				q4iVec(&data[j*rs], rs, &xq[0], &xd[0], &xc[0], nb, &out[j])
			}
			if j < hi { // fewer than 8 rows left: from a copy padded with zero rows
				pad := make([]byte, 8*rs)
				copy(pad, data[j*rs:hi*rs])
				var tmp [8]float32
				q4iVec(&pad[0], rs, &xq[0], &xd[0], &xc[0], nb, &tmp[0])
				copy(out[j:hi], tmp[:])
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
		wp := packBufPool.Get().(*[packBufLen]byte)
		defer packBufPool.Put(wp)
		wbuf := wp[:R*kb*96]
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

// q4Sums fills s.c with 8·Σx for each block of 32 of xq, the offset 8 of Q4_0 that the
// kernels take off the sums of the unsigned nibbles, and returns it.
func q4Sums(s *quantScratch, xq []int8) []int32 {
	nb := len(xq) / 32
	if cap(s.c) < nb {
		s.c = make([]int32, nb)
	}
	xc := s.c[:nb]
	for b := range xc {
		var sum int32
		for _, v := range xq[32*b : 32*b+32] {
			sum += int32(v)
		}
		xc[b] = 8 * sum
	}
	return xc
}

// matMulQ4 is MatMul for Q4_0 weights as stored and several rows of x (already quantized
// in s). Each group of 8 weight rows is interleaved (q4iPackVec, kBlockQuant values at a
// time) once per mBlockQuant rows of x and multiplied with all of them by the q4iTiles,
// which give the bits of the matrix-vector kernel q4iVec.
func (p *Pool) matMulQ4(out []float32, m, n, k int, data []byte, rs int, s *quantScratch) {
	const kb = kBlockQuant / 32
	var pads sync.Pool
	p.q4Tiles(out, m, n, s, k/32, func(dst []byte, j, r, b0, bc int) {
		if r == 8 {
			q4iPackVec(&dst[0], &data[j*rs+18*b0], rs, bc)
			return
		}
		// Fewer than 8 rows left: from a copy padded with zero rows.
		pad, _ := pads.Get().([]byte)
		if pad == nil {
			pad = make([]byte, 8*kb*18)
		}
		clear(pad)
		for a := 0; a < r; a++ {
			copy(pad[a*bc*18:(a+1)*bc*18], data[(j+a)*rs+18*b0:])
		}
		q4iPackVec(&dst[0], &pad[0], bc*18, bc)
		pads.Put(pad)
	})
}

// q4Tiles multiplies Q4_0 weights with several rows of x (quantized in s, nb blocks a
// row) with the q4iTiles: for every 8 weight rows j..j+r-1 (r ≤ 8) and kBlockQuant values
// from block b0 (bc blocks), unpack writes the tiles' interleaved layout of those rows to
// dst (rows past r zero), once per mBlockQuant rows of x.
func (p *Pool) q4Tiles(out []float32, m, n int, s *quantScratch, nb int, unpack func(dst []byte, j, r, b0, bc int)) {
	const C = 2
	const kb = kBlockQuant / 32
	k := 32 * nb
	xq, xd := s.q, s.d
	xc := q4Sums(s, xq[:m*k])
	p.runGrain(n, 8, func(lo, hi int) {
		wp := packBufPool.Get().(*[packBufLen]byte)
		defer packBufPool.Put(wp)
		wbuf := wp[:kb*288]
		var tmp [C * 8]float32
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for b0 := 0; b0 < nb; b0 += kb {
				bc := min(kb, nb-b0)
				for j := lo; j < hi; j += 8 {
					r := min(8, hi-j)
					unpack(wbuf, j, r, b0, bc)
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						tile := func(o *float32, os int) {
							q4iTiles[c](&wbuf[0], &xq[i*k+b0*32], k, &xd[i*nb+b0], 4*nb, &xc[i*nb+b0], 4*nb, bc, o, os)
						}
						if r == 8 {
							tile(&out[i*n+j], 4*n)
							continue
						}
						for a := 0; a < c; a++ {
							copy(tmp[8*a:8*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						tile(&tmp[0], 32)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[8*a:8*a+r])
						}
					}
				}
			}
		}
	})
}

// q4PackedOn reports whether Pack lays out Q4_0 weights for the AVX2 kernels of packed
// groups (q4pVec, q4pUnpack): where the CPU has AVX2 and no faster path (AMX, AVX-512
// VNNI) takes Q4_0.
func q4PackedOn() bool {
	return useAsm && q4pVec != nil && packedMatMuls == nil && matMulQuantWide == nil && matVecQuantWide == nil && matMulQuantAMX == nil
}

// matMulQ4Packed is MatMul for Q4_0 weights laid out by Pack (packGroup: groups of 16
// rows, each block's scales in front of its values, groupLayout) on the AVX2 kernels. One
// activation row takes q4pVec, a group at a time: the weights stream from memory in one
// sequential run, already interleaved. Several take the q4iTiles, each group's halves
// unpacked by q4pUnpack. Both sum as the kernels of unpacked weights do, so packing
// changes speed, not results.
func (p *Pool) matMulQ4Packed(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb := k / 32
	gs := groupLayout(tensor.Q4_0, k).size
	if m > 1 {
		p.q4Tiles(out, m, n, s, nb, func(dst []byte, j, r, b0, bc int) {
			g, h := j/16, j%16/8
			q4pUnpack(&dst[0], &w[g*gs+288*b0+16*h], &w[g*gs+288*b0+32+32*h], bc)
		})
		return
	}
	xq, xd := s.q, s.d
	xc := q4Sums(s, xq[:k])
	p.runGrain(n, 16, func(lo, hi int) {
		for j := lo; j < hi; j += 16 {
			grp := w[j/16*gs:]
			if j+16 <= n {
				clear(out[j : j+16])
				q4pVec(&grp[0], &xq[0], &xd[0], &xc[0], nb, &out[j])
				continue
			}
			var tmp [16]float32 // the last group, padded with zero rows
			q4pVec(&grp[0], &xq[0], &xd[0], &xc[0], nb, &tmp[0])
			copy(out[j:n], tmp[:])
		}
	})
}

// q8PackedOn reports whether Pack lays out Q8_0 weights for the AVX2 kernels of packed
// groups (q8gVec, q8gTiles): where the CPU has AVX2 and no faster path (AMX, AVX-512
// VNNI) takes Q8_0.
func q8PackedOn() bool {
	return useAsm && q8gVec != nil && packedMatMuls == nil && matMulQuantWide == nil && matVecQuantWide == nil && matMulQuantAMX == nil
}

// matMulQ8Packed is MatMul for Q8_0 weights laid out by Pack for the AVX2 kernels
// (packGroup, groupLayout: groups of 16 rows, each block's 16 scales in front of its
// values, one int32 lane a row). One activation row takes q8gVec, a group at a time, the
// weights one sequential stream; several take the q8gTiles, 8 weight rows against up to
// 4 activation rows, mBlockQuant activation rows and kBlockQuant values at a time, the
// weights read as they are (no unpacking). Both sum each output as
// acc = (float(Σ w·x)·dx)·dw + acc, block after block, so a row's results do not
// depend on m; they differ in rounding from the kernels of Q8_0 rows as stored.
//
// Against those (dotQ8_0 4×1; dotQ8P 3×3 after q8PackAVX), BenchmarkMatMulQ8Packed on
// the loaded Zen 5 with GODEBUG=cpu.avx512f=off, one thread, GFLOP/s of thread CPU time
// (medians of 2, stored → packed): [512, 2048] m=1 52.5 → 89.9, m=16 75.5 → 138.0,
// m=128 91.7 → 141.1; [2048, 5632] m=1 54.3 → 89.5, m=16 58.4 → 106.4, m=128 80.0 → 143.7.
func (p *Pool) matMulQ8Packed(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb := k / 32
	gs := groupLayout(tensor.Q8_0, k).size
	xq, xd := s.q, s.d
	if m == 1 {
		p.runGrain(n, 16, func(lo, hi int) {
			for j := lo; j < hi; j += 16 {
				grp := w[j/16*gs:]
				if j+16 <= n {
					clear(out[j : j+16])
					q8gVec(&grp[0], &xq[0], &xd[0], nb, &out[j])
					continue
				}
				var tmp [16]float32 // the last group, padded with zero rows
				q8gVec(&grp[0], &xq[0], &xd[0], nb, &tmp[0])
				copy(out[j:n], tmp[:])
			}
		})
		return
	}
	const C = 4
	const kb = kBlockQuant / 32
	p.runGrain(n, 8, func(lo, hi int) {
		var tmp [C * 8]float32
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for b0 := 0; b0 < nb; b0 += kb {
				bc := min(kb, nb-b0)
				for j := lo; j < hi; j += 8 {
					r := min(8, hi-j)
					blk := w[j/16*gs+544*b0:]
					sc, q := &blk[16*(j%16/8)], &blk[32+32*(j%16/8)]
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						tile := func(o *float32, os int) {
							q8gTiles[c](sc, q, &xq[i*k+b0*32], k, &xd[i*nb+b0], 4*nb, bc, o, os)
						}
						if r == 8 {
							tile(&out[i*n+j], 4*n)
							continue
						}
						for a := 0; a < c; a++ { // fewer than 8 rows: through tmp
							copy(tmp[8*a:8*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						tile(&tmp[0], 32)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[8*a:8*a+r])
						}
					}
				}
			}
		}
	})
}

// matMulSuper is MatMul for Q4_K and Q6_K weights: x is quantized by QuantizeQ8, and each
// weight row is unpacked once for up to 4 activation rows (superTiles), mBlockSuper rows
// of x at a time so that they stay in the L2 cache while the weight rows stream past.
// The tiles sum each row as the one-row kernels do, so a row's results do not depend on
// m.
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
	var tiles *[5]superTileFn
	var xc unsafe.Pointer // per row: Q6_K's 32·Σx per 4 values (stride k bytes), Q4_K's dx·Σq per block (stride 4·nb)
	if dt == tensor.Q6_K {
		if cap(s.c) < m*k/4 {
			s.c = make([]int32, m*k/4)
		}
		xc6 := s.c[:m*k/4]
		for i := range xc6 {
			q := s.q[4*i : 4*i+4]
			xc6[i] = 32 * (int32(q[0]) + int32(q[1]) + int32(q[2]) + int32(q[3]))
		}
		xc = unsafe.Pointer(&xc6[0])
		rowDot = func(j, i int) float32 {
			return dotQ6KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xc6[i*k/4], nsb)
		}
		tiles = &q6KTiles
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
		xc = unsafe.Pointer(&xs[0])
		rowDot = func(j, i int) float32 {
			return dotQ4KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xs[i*nb], nsb)
		}
		tiles = &q4KTiles
	}
	xcRow := k // bytes per row of xc
	if dt == tensor.Q4_K {
		xcRow = 4 * nb
	}
	p.superRows(out, m, n, k, data, rs, s, rowDot, tiles, xc, xcRow, nsb)
}

// superRows computes out[i*n+j] = rowDot(j, i) for the m rows of x quantized in s and the
// n weight rows of data (rs bytes each), with the tiles where there are any (tiles[2..4],
// for 2 to 4 activation rows; xc the per-row sums they take, xcRow bytes a row; units the
// count they walk: super-blocks, or blocks of 32 for the types stored that way): each
// weight row is used against mBlockSuper rows of x, up to 4 at a time.
func (p *Pool) superRows(out []float32, m, n, k int, data []byte, rs int, s *quantScratch, rowDot func(j, i int) float32, tiles *[5]superTileFn, xc unsafe.Pointer, xcRow, units int) {
	if m == 1 || tiles == nil || tiles[2] == nil {
		p.runGrain(n, 4, func(lo, hi int) {
			for j := lo; j < hi; j++ {
				for i := 0; i < m; i++ {
					out[i*n+j] = rowDot(j, i)
				}
			}
		})
		return
	}
	nb := k / 32
	if xc == nil {
		xc = unsafe.Pointer(&s.d[0]) // not read
	}
	p.runGrain(n, 4, func(lo, hi int) {
		for i0 := 0; i0 < m; i0 += mBlockSuper {
			i1 := min(m, i0+mBlockSuper)
			for j := lo; j < hi; j++ {
				for i := i0; i < i1; i += 4 {
					c := min(4, i1-i)
					if c == 1 {
						out[i*n+j] = rowDot(j, i)
						continue
					}
					tiles[c](&data[j*rs], &s.q[i*k], &s.d[i*nb], (*byte)(unsafe.Add(xc, i*xcRow)), k, 4*nb, units, &out[i*n+j], 4*n)
				}
			}
		}
	})
}

// mBlockSuper is how many activation rows matMulSuper takes at a time: 32 rows of int8
// values and their sums (Q6_K: as many bytes again) are 256 KiB at k = 4096.
const mBlockSuper = 32

// superTileFn writes the dot products of one Q4_K or Q6_K weight row (nsb super-blocks)
// with C rows quantized by QuantizeQ8 (xq, xd, and xc as matMulSuper lays it out; xs and
// xds the strides in bytes of xq and xd) to out[c*os/4].
type superTileFn func(w *byte, xq *int8, xd *float32, xc *byte, xs, xds, nsb int, out *float32, os int)
