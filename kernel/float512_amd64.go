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

// Tiling of the AVX-512 float matrix product (m > 1): tiles of f512R weight rows by up to
// f512C activation rows (24 zmm accumulators). The activation rows are taken f512MBlock
// at a time and the shared dimension f512KBlock elements at a time: the block of x
// (512 KiB) stays in the L2 cache, and the tile's f512R weight rows of f512KBlock elements
// (16 KiB as float32; BF16 and F16 rows are first widened into a buffer) stay in L1
// while every activation row of the block is multiplied with them. A 128-token prefill
// then streams the weights from memory once. While a tile is in use, the weights of the
// next one are prefetched a slice at a time, and the outputs of the next activation
// rows one call ahead, so that their memory latency hides behind the arithmetic.
const (
	f512R      = 4
	f512C      = 6
	f512MBlock = 128
	f512KBlock = 1024 // a multiple of 16
)

var f512Tiles [f512R + 1][f512C + 1]f512TileFn

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
	if m == 1 {
		// The same k-blocks and lane sums as below, so the same bits.
		tiles := &f512VecTiles[floatIndex(dt)]
		p.runGrain(n, f512R, func(lo, hi int) {
			clear(out[lo:hi])
			for j := lo; j < hi; j += f512R {
				r := min(f512R, hi-j)
				for l0 := 0; l0 < k; l0 += f512KBlock {
					tiles[r](&data[j*rs+l0*esize], rs, &x[l0], 0, min(f512KBlock, k-l0), &out[j], 0)
				}
			}
		})
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
			for l0 := 0; l0 < k; l0 += f512KBlock {
				kc := min(f512KBlock, k-l0)
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
					} else if l0+f512KBlock < k {
						pf, pn, pl = data[lo*rs+(l0+f512KBlock)*esize:], min(f512R, hi-lo), min(f512KBlock, k-l0-f512KBlock)*esize
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
