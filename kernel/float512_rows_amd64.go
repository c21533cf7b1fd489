//go:build !purego

package kernel

import (
	"sync"
	"unsafe"
)

// The matrix product of F32 weights and 2 to f512RowsMaxC activation rows (batched
// generation). The activations are packed once by packF32x16 into groups of 16 elements
// of each row in turn (zeros past k), and each thread streams its weight rows through
// the f512Rows kernels a k-block of f512KBlockF32 elements at a time, so that the
// k-block of activations (32 KiB for 16 rows) stays in the L1 cache while every cache
// line of weights is loaded once and feeds up to 16 FMAs. A weight row's dot products
// with all the activation rows are reduced together into a row of 16 running sums (one
// 64-byte store a weight row rather than scattered scalars), scattered to out after the
// last k-block. A thread's rows go through all the k-blocks f512RowsSub rows at a time,
// so that the lines the hardware prefetcher fetches past a row's k-block are used before
// they leave the L2 cache (BenchmarkMatMulFloat512Stream m=16: 20.3 → 22.5 GB/s). For
// 16 activation rows the weight rows go three at a time (f512RowTriples16), which loads
// 7.3 vectors a line of weights beside its 16 FMAs rather than 10 for pairs: the loads,
// not only the FMAs, hold the step back (1B F32 model, 16 sequences: +4–6% with 30 rows
// a slice and 6 ahead rather than 32 and 4; BENCHMARKS.md). The kernels prefetch the weights
// f512RowsAhead rows ahead; the last rows of a k-block prefetch the first rows of the
// next, and those of the last k-block the next slice's. Both are multiples of 3, so that
// no row of a full slice falls to the one-row kernel (17 loads a line).
// The outputs are summed as by the tiles (the same lane sums, reduction tree and
// k-blocks, then added to the running sum in order from zero), so that they are
// bit-identical to those of m = 1.
const (
	f512RowsMaxC  = 16
	f512RowsAhead = 6
	f512RowsSub   = 30
)

// Modes of the f512Rows kernels: the first k-block adds to zero, the last one writes
// the sums to out.
const (
	f512RowsFirst = 1
	f512RowsLast  = 2
)

// f512RowsFn is the signature of the f512Rows kernels of float512_amd64.s.
type f512RowsFn func(w *float32, ws int, rows int, x *float32, k int, acc *float32, out *float32, os int, pfd int, mode int)

// f512RowsKernels[C] are the one-row kernels for C activation rows (set with the tiles).
var f512RowsKernels [f512RowsMaxC + 1]f512RowsFn

// f512RowsBuf holds the packed activations and the running sums of a product.
type f512RowsBuf struct{ x, acc []float32 }

var f512RowsPool = sync.Pool{New: func() any { return new(f512RowsBuf) }}

// matMulF32Rows is matMulFloat512 for F32 weights and 2 ≤ m ≤ f512RowsMaxC.
func matMulF32Rows(p *Pool, out, x []float32, m, n, k int, data []byte, rs int) {
	kp := (k + 15) &^ 15
	b := f512RowsPool.Get().(*f512RowsBuf)
	defer f512RowsPool.Put(b)
	if cap(b.x) < kp*m {
		b.x = make([]float32, kp*m)
	}
	if cap(b.acc) < 16*n {
		b.acc = make([]float32, 16*n)
	}
	xs, acc := b.x[:kp*m], b.acc[:16*n]
	for c := 0; c < m; c++ {
		packF32x16(&xs[16*c], 64*m, (*byte)(unsafe.Pointer(&x[c*k])), k)
	}
	f := f512RowsKernels[m]
	// run takes the rows [j, j+r) of the k-block at l0: for m = 16 three at a time
	// (then a pair or one).
	run := func(j, r, l0, kc, pfd, mode int) {
		w := func() *float32 { return (*float32)(unsafe.Pointer(&data[j*rs+4*l0])) }
		if m == f512RowsMaxC {
			if g := r / 3; g > 0 {
				f512RowTriples16(w(), rs, g, &xs[l0*m], kc, &acc[16*j], &out[j], 4*n, pfd, mode)
				j, r = j+3*g, r-3*g
			}
			if r == 2 {
				f512RowPairs16(w(), rs, 1, &xs[l0*m], kc, &acc[16*j], &out[j], 4*n, pfd, mode)
				return
			}
		}
		if r > 0 {
			f(w(), rs, r, &xs[l0*m], kc, &acc[16*j], &out[j], 4*n, pfd, mode)
		}
	}
	p.runGrain(n, f512R, func(clo, chi int) {
		for lo := clo; lo < chi; lo += f512RowsSub {
			hi := min(lo+f512RowsSub, chi)
			for l0 := 0; l0 < k; l0 += f512KBlockF32 {
				kc := min(f512KBlockF32, k-l0)
				mode := 0
				if l0 == 0 {
					mode |= f512RowsFirst
				}
				if l0+kc >= k {
					mode |= f512RowsLast
				}
				// Rows [lo, split) prefetch f512RowsAhead rows ahead, the rest the first
				// rows of the next k-block, or after the last k-block those of the next
				// slice at the first.
				split := max(lo, hi-f512RowsAhead)
				if split > lo {
					run(lo, split-lo, l0, kc, f512RowsAhead*rs, mode)
				}
				if split < hi {
					pfd := (lo-split)*rs + 4*kc
					if mode&f512RowsLast != 0 {
						pfd = f512RowsAhead*rs - 4*l0
					}
					run(split, hi-split, l0, kc, pfd, mode)
				}
			}
		}
	})
}
