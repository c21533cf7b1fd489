//go:build !purego

package kernel

//go:generate go run ./internal/asmgen512f -out float512_amd64.s -stubs float512_stubs_amd64.go -pkg kernel

import (
	"sync"
	"unsafe"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// f512TileFn is the signature of the AVX-512 float tiles of float512_amd64.s: the R×C dot
// products of R float32 weight rows and C float32 activation rows over k elements (any
// k), added to out[c*os/4+r]; ws, xs and os are row strides in bytes.
type f512TileFn func(w *float32, ws int, x *float32, xs int, k int, out *float32, os int)

// Tiling of the AVX-512 float matrix product (m > 1; F32 weights with m ≤ f512RowsMaxC
// take the one-row kernels of float512_rows_amd64.go instead): tiles of f512R weight rows
// by up to f512C activation rows (24 zmm accumulators). The activation rows are taken
// f512MBlock at a time and the shared dimension a k-block at a time (f512KBlockOf: 512
// elements for F32 weights, 1024 for BF16 and F16): the block of x (256 or 512 KiB)
// stays in the L2 cache, and the tile's f512R weight rows of the k-block (8 or 16 KiB as
// float32; BF16 and F16 rows are first widened into a buffer) stay in L1 while every
// activation row of the block is multiplied with them. A 128-token prefill then streams
// the weights from memory once. While a tile is in use, the weights of the next one are
// prefetched (F32: by the tiles themselves, two rows of the next tile per call, a cache
// line per 16 elements; BF16 and F16: a slice before each call), and the outputs of the
// next activation rows one call ahead, so that their memory latency hides behind the
// arithmetic.
const (
	f512R      = 4
	f512C      = 6
	f512MBlock = 128
	f512KBlock = 1024 // a multiple of 16

	// f512KBlockF32 is the k-block of F32 weights (a multiple of 16), small enough for
	// the k-block of 16 activation rows (32 KiB) to stay in the L1 cache in the
	// f512Rows kernels.
	f512KBlockF32 = 512
)

// f512KBlockOf returns the k-block of weight type dt: the same for every m and every
// path, since each k-block's dot product is reduced and added to the output on its own
// (a different k-block would change the rounding).
func f512KBlockOf(dt tensor.DType) int {
	if dt == tensor.F32 {
		return f512KBlockF32
	}
	return f512KBlock
}

var f512Tiles [f512R + 1][f512C + 1]f512TileFn

// f512TilesPF[C] are the f512R×C tiles that also prefetch two rows of the next tile.
var f512TilesPF [f512C + 1]func(w *float32, ws int, x *float32, xs int, k int, out *float32, os int, pf *byte, pfs int)

// f512VecTiles[t][R] (t: F32, BF16, F16) are the R×1 tiles of the matrix-vector
// product, which read the weights where they are (BF16 and F16 widened in the loop).
var f512VecTiles [3][f512R + 1]func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int)

// f512Panel holds f512R weight rows of a k-block widened to float32.
type f512Panel [f512R * f512KBlock]float32

var f512PanelPool = sync.Pool{New: func() any { return new(f512Panel) }}

func init() {
	if !useAsm || !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL) {
		return
	}
	f512Tiles = [f512R + 1][f512C + 1]f512TileFn{
		1: {1: f512Tile1x1, 2: f512Tile1x2, 3: f512Tile1x3, 4: f512Tile1x4, 5: f512Tile1x5, 6: f512Tile1x6},
		2: {1: f512Tile2x1, 2: f512Tile2x2, 3: f512Tile2x3, 4: f512Tile2x4, 5: f512Tile2x5, 6: f512Tile2x6},
		3: {1: f512Tile3x1, 2: f512Tile3x2, 3: f512Tile3x3, 4: f512Tile3x4, 5: f512Tile3x5, 6: f512Tile3x6},
		4: {1: f512Tile4x1, 2: f512Tile4x2, 3: f512Tile4x3, 4: f512Tile4x4, 5: f512Tile4x5, 6: f512Tile4x6},
	}
	f512TilesPF = [f512C + 1]func(w *float32, ws int, x *float32, xs int, k int, out *float32, os int, pf *byte, pfs int){
		1: f512Tile4x1PF, 2: f512Tile4x2PF, 3: f512Tile4x3PF, 4: f512Tile4x4PF, 5: f512Tile4x5PF, 6: f512Tile4x6PF,
	}
	f512RowsKernels = [f512RowsMaxC + 1]f512RowsFn{
		2: f512Rows2, 3: f512Rows3, 4: f512Rows4, 5: f512Rows5, 6: f512Rows6, 7: f512Rows7, 8: f512Rows8,
		9: f512Rows9, 10: f512Rows10, 11: f512Rows11, 12: f512Rows12, 13: f512Rows13, 14: f512Rows14,
		15: f512Rows15, 16: f512Rows16,
	}
	f32Vec := func(f f512TileFn) func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int) {
		return func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int) {
			f((*float32)(unsafe.Pointer(w)), ws, x, xs, k, out, os)
		}
	}
	f512VecTiles = [3][f512R + 1]func(w *byte, ws int, x *float32, xs int, k int, out *float32, os int){
		{1: f32Vec(f512Tile1x1), 2: f32Vec(f512Tile2x1), 3: f32Vec(f512Tile3x1), 4: f32Vec(f512Tile4x1)},
		{1: f512TileBF16_1x1, 2: f512TileBF16_2x1, 3: f512TileBF16_3x1, 4: f512TileBF16_4x1},
		{1: f512TileF16_1x1, 2: f512TileF16_2x1, 3: f512TileF16_3x1, 4: f512TileF16_4x1},
	}
	matMulFloatWide = matMulFloat512
}

// matMulFloat512 is matMulFloat with the AVX-512 tiles. It takes m = 1 too (a
// matrix-vector product, bound by memory, where these kernels are no faster than the
// AVX2 ones): every output is then summed in the same order whatever m is and wherever
// its row falls in a tile, so that a sequence's logits are bit-identical alone or in a
// batch (model.TestBatchInvariance). It declines weight types other than F32, BF16 and
// F16.
func matMulFloat512(p *Pool, out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) bool {
	if m < 1 || n < 1 || k < 1 {
		return false
	}
	var pack func(dst *float32, ds int, src *byte, n int)
	switch dt {
	case tensor.F32:
	case tensor.BF16:
		pack = packBF16x16
	case tensor.F16:
		pack = packF16x16
	default:
		return false
	}
	esize := rs / k
	_ = data[(n-1)*rs+k*esize-1]
	_ = x[m*k-1]
	_ = out[m*n-1]
	kb := f512KBlockOf(dt)
	if m == 1 {
		// The same k-blocks, lane sums and reduction tree as the tiles below and the
		// one-row kernels, so the same bits.
		tiles := &f512VecTiles[floatIndex(dt)]
		p.runGrain(n, f512R, func(lo, hi int) {
			clear(out[lo:hi])
			for j := lo; j < hi; j += f512R {
				r := min(f512R, hi-j)
				for l0 := 0; l0 < k; l0 += kb {
					tiles[r](&data[j*rs+l0*esize], rs, &x[l0], 0, min(kb, k-l0), &out[j], 0)
				}
			}
		})
		return true
	}
	if dt == tensor.F32 && m <= f512RowsMaxC {
		matMulF32Rows(p, out, x, m, n, k, data, rs)
		return true
	}
	p.runGrain(n, f512R, func(lo, hi int) {
		var panel *f512Panel
		if pack != nil {
			panel = f512PanelPool.Get().(*f512Panel)
			defer f512PanelPool.Put(panel)
		}
		for i0 := 0; i0 < m; i0 += f512MBlock {
			i1 := min(m, i0+f512MBlock)
			calls := (i1 - i0 + f512C - 1) / f512C // tile calls per weight tile
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for l0 := 0; l0 < k; l0 += kb {
				kc := min(kb, k-l0)
				for j := lo; j < hi; j += f512R {
					r := min(f512R, hi-j)
					f := &f512Tiles[r]
					var w *float32
					ws := rs
					if pack == nil {
						w = (*float32)(unsafe.Pointer(&data[j*rs+4*l0]))
					} else {
						kp := (kc + 15) &^ 15
						for a := 0; a < r; a++ {
							pack(&panel[a*kp], 64, &data[(j+a)*rs+l0*esize], kc)
						}
						w, ws = &panel[0], 4*kp
					}
					// The next tile's weights: the next rows, else the first rows of
					// the next k-block; pl bytes of pn rows, prefetched a slice before
					// each call.
					var pf []byte
					pn, pl := 0, 0
					if j+f512R < hi {
						pf, pn, pl = data[(j+f512R)*rs+l0*esize:], min(f512R, hi-j-f512R), kc*esize
					} else if l0+kb < k {
						pf, pn, pl = data[lo*rs+(l0+kb)*esize:], min(f512R, hi-lo), min(kb, k-l0-kb)*esize
					}
					if pack == nil && r == f512R {
						// F32: the tiles prefetch two rows of the next tile each, in step
						// with their loads.
						a := 0
						for i := i0; i < i1; i += f512C {
							c := min(f512C, i1-i)
							p := (*byte)(unsafe.Pointer(w))
							if a < pn {
								p = &pf[a*rs]
							}
							f512TilesPF[c](w, ws, &x[i*k+l0], 4*k, kc, &out[i*n+j], 4*n, p, rs)
							a += 2
						}
						continue
					}
					slice := ((pl+calls-1)/calls + 63) &^ 63
					for i := i0; i < i1; i += f512C {
						c := min(f512C, i1-i)
						if pl > 0 {
							s := min(slice, pl)
							prefetchRows(&pf[0], rs, pn, s)
							pf, pl = pf[s:], pl-s
						}
						if i+f512C < i1 {
							prefetchRows((*byte)(unsafe.Pointer(&out[(i+f512C)*n+j])), 4*n, min(f512C, i1-i-f512C), 4*r)
						}
						f[c](w, ws, &x[i*k+l0], 4*k, kc, &out[i*n+j], 4*n)
					}
				}
			}
		}
	})
	return true
}
