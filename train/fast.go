package train

import (
	"github.com/decilm/decilm/kernel"
)

// The float32 fast paths: the LoRA products as kernel.Pool.MatMul calls on F32 views of
// the small matrices (their plain twins, loraForward and loraBackward, are what the tests
// compare them with), and a cache-friendly transpose.

// transpose writes the transpose of src ([rows, cols]) to dst ([cols, rows]) in tiles of
// 32×32, a block of 32 columns at a time: within a block the 32 rows of dst being written
// each advance sequentially, and every cache line of src and dst is touched once. The
// blocks are split over the pool.
func transpose(p *kernel.Pool, dst, src []float32, rows, cols int) {
	const tile = 32
	p.Run((cols+tile-1)/tile, func(lo, hi int) {
		for cb := lo; cb < hi; cb++ {
			c0, c1 := cb*tile, min(cols, cb*tile+tile)
			for r0 := 0; r0 < rows; r0 += tile {
				r1 := min(rows, r0+tile)
				for c := c0; c < c1; c++ {
					d := dst[c*rows+r0 : c*rows+r1]
					for i := range d {
						d[i] = src[(r0+i)*cols+c]
					}
				}
			}
		}
	})
}

// loraScratch holds the buffers of the fast LoRA products.
type loraScratch struct {
	tmp, at, bt, xt, dyt, du []float32
}

// loraForwardFast is loraForward (m rows, A [r, in], B [out, r]) with its two products done
// by MatMul: u = x·Aᵀ, y += s·u·Bᵀ.
func loraForwardFast(p *kernel.Pool, sc *loraScratch, y, u, x, a, b []float32, m, in, out, r int, s float32) error {
	if err := p.MatMul(u[:m*r], x, m, f32Tensor(a, r, in)); err != nil {
		return err
	}
	sc.tmp = grow(sc.tmp, m*out)
	tmp := sc.tmp
	if err := p.MatMul(tmp, u, m, f32Tensor(b, out, r)); err != nil {
		return err
	}
	p.Run(m, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernel.Axpy(s, tmp[i*out:(i+1)*out], y[i*out:(i+1)*out])
		}
	})
	return nil
}

// loraBackwardFast is loraBackward with its four products done by MatMul:
// du = s·dy·B, dx += du·A, dA += duᵀ·x, dB += s·dyᵀ·u.
func loraBackwardFast(p *kernel.Pool, sc *loraScratch, dx, da, db, dy, x, u, a, b []float32, m, in, out, r int, s float32) error {
	sc.bt = grow(sc.bt, r*out)
	transpose(p, sc.bt, b, out, r)
	sc.du = grow(sc.du, m*r)
	du := sc.du
	if err := p.MatMul(du, dy, m, f32Tensor(sc.bt, r, out)); err != nil {
		return err
	}
	for i := range du {
		du[i] *= s
	}
	sc.tmp = grow(sc.tmp, max(m*in, r*in, out*r))
	tmp := sc.tmp
	if dx != nil {
		sc.at = grow(sc.at, in*r)
		transpose(p, sc.at, a, r, in)
		if err := p.MatMul(tmp[:m*in], du, m, f32Tensor(sc.at, in, r)); err != nil {
			return err
		}
		p.Run(m, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				kernel.Axpy(1, tmp[i*in:(i+1)*in], dx[i*in:(i+1)*in])
			}
		})
	}
	// dA += duᵀ·x = MatMul(duᵀ [r, m], xᵀ [in, m]).
	sc.xt = grow(sc.xt, in*m)
	transpose(p, sc.xt, x, m, in)
	sc.at = grow(sc.at, r*m)
	dut := sc.at
	transpose(p, dut, du, m, r)
	if err := p.MatMul(tmp[:r*in], dut, r, f32Tensor(sc.xt, in, m)); err != nil {
		return err
	}
	kernel.Axpy(1, tmp[:r*in], da[:r*in])
	// dB += s·dyᵀ·u = s·MatMul(dyᵀ [out, m], uᵀ [r, m]).
	sc.dyt = grow(sc.dyt, out*m)
	transpose(p, sc.dyt, dy, m, out)
	sc.xt = grow(sc.xt, r*m)
	ut := sc.xt
	transpose(p, ut, u, m, r)
	if err := p.MatMul(tmp[:out*r], sc.dyt, out, f32Tensor(ut, r, m)); err != nil {
		return err
	}
	kernel.Axpy(s, tmp[:out*r], db[:out*r])
	return nil
}
