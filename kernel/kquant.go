package kernel

import (
	"sync"

	"github.com/decilm/decilm/tensor"
)

// This file multiplies by the block types that have no kernel of their own (everything
// llama-quantize writes but Q8_0, Q4_0, Q4_K and Q6_K). Every such type stores each group
// of 16 weights as sc·q + mn: a float32 scale sc, a float32 offset mn and 16 small
// integers q (|q| ≤ 127): the i-quants' grid values with their signs, IQ1's grid value
// times 8 plus its ±1 shift (sc then holding an eighth of the scale), the others' codes
// less their fixed offsets. A weight row is unpacked to that form once, in the kernel and
// for one row at a time, and its product with each row of x quantized by QuantizeQ8
// (blocks of 32, scale dx) is Σ_g sc_g·dx·Σ q·x + mn_g·dx·Σ x, the inner sums exact
// integers; so, as for Q8_0, only the activations' rounding separates the result from a
// float product, and the same function serves every batch size (each row's result is the
// same bits whatever the batch).

// unpackedRow is one weight row in the sc·q + mn form, and the activations' per-16 sums.
type unpackedRow struct {
	q      []int8
	sc, mn []float32
}

var unpackedPool = sync.Pool{New: func() any { return new(unpackedRow) }}

func (u *unpackedRow) size(k int) {
	if cap(u.q) < k {
		u.q = make([]int8, k)
		u.sc = make([]float32, k/16)
		u.mn = make([]float32, k/16)
	}
	u.q, u.sc, u.mn = u.q[:k], u.sc[:k/16], u.mn[:k/16]
}

// unpackRow unpacks a whole weight row of type dt (k weights).
func unpackRow(u *unpackedRow, row []byte, dt tensor.DType, k int) {
	f := tensor.Unpacker(dt)
	bs, bb := dt.BlockSize(), dt.BlockBytes()
	for b := 0; b < k/bs; b++ {
		f(u.q[b*bs:(b+1)*bs], u.sc[b*bs/16:(b+1)*bs/16], u.mn[b*bs/16:(b+1)*bs/16], row[b*bb:(b+1)*bb])
	}
}

// matMulBlocks is MatMul for the types tensor.Unpacker serves: x is quantized by QuantizeQ8, and
// each weight row, unpacked once, is multiplied with every row of x.
func (p *Pool) matMulBlocks(out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	g := k / 16
	if cap(s.s) < m*g {
		s.s = make([]float32, m*g)
	}
	xs := s.s[:m*g] // dx·Σx over each 16 values
	for i := 0; i < m; i++ {
		for j := 0; j < g; j++ {
			var sum int32
			for _, v := range s.q[i*k+16*j : i*k+16*j+16] {
				sum += int32(v)
			}
			xs[i*g+j] = s.d[i*(k/32)+j/2] * float32(sum)
		}
	}
	p.runGrain(n, 4, func(lo, hi int) {
		u := unpackedPool.Get().(*unpackedRow)
		defer unpackedPool.Put(u)
		u.size(k)
		for j := lo; j < hi; j++ {
			unpackRow(u, data[j*rs:(j+1)*rs], dt, k)
			for i := 0; i < m; i++ {
				out[i*n+j] = dotUnpacked(u, s.q[i*k:(i+1)*k], s.d[i*(k/32):(i+1)*(k/32)], xs[i*g:(i+1)*g])
			}
		}
	})
}

// dotUnpacked returns the product of an unpacked weight row with one quantized row of x
// (values xq, block scales xd, per-16 sums xs).
func dotUnpacked(u *unpackedRow, xq []int8, xd, xs []float32) float32 {
	if dotUnpackedVec != nil && len(u.sc) >= 2 && len(u.sc)%2 == 0 {
		return dotUnpackedVec(&u.q[0], &xq[0], &u.sc[0], &xd[0], len(u.sc)/2) + dotMins(u.mn, xs)
	}
	return dotUnpackedGeneric(u.q, u.sc, xq, xd) + dotMins(u.mn, xs)
}

// dotUnpackedVec, where the CPU has it, is the assembly version of dotUnpackedGeneric over
// n32 groups of 32 weights.
var dotUnpackedVec func(q, xq *int8, sc, xd *float32, n32 int) float32

// dotUnpackedGeneric is Σ_g sc_g·xd_{g/2}·Σ q·x over the groups of 16, summed as eight
// running float32 lanes (lane l takes group-pair halves the way the AVX2 kernel does: the
// four integer partial sums of each group of 16 are scaled separately) and then added in
// a fixed order, so that it gives the same bits as the assembly.
func dotUnpackedGeneric(q []int8, sc []float32, xq []int8, xd []float32) float32 {
	var acc [8]float32
	for b := 0; b < len(sc)/2; b++ {
		for h := 0; h < 2; h++ {
			f := sc[2*b+h] * xd[b]
			for l := 0; l < 4; l++ {
				o := 32*b + 16*h + 4*l
				var s int32
				for t := 0; t < 4; t++ {
					s += int32(q[o+t]) * int32(xq[o+t])
				}
				acc[4*h+l] += float32(s) * f
			}
		}
	}
	if len(sc)%2 == 1 { // a last lone group of 16 (only the plain path sees one)
		b := len(sc) / 2
		f := sc[2*b] * xd[b]
		for l := 0; l < 4; l++ {
			o := 32*b + 4*l
			var s int32
			for t := 0; t < 4; t++ {
				s += int32(q[o+t]) * int32(xq[o+t])
			}
			acc[l] += float32(s) * f
		}
	}
	return hsum8(acc)
}

// hsum8 adds eight lanes in the order the AVX2 kernels reduce a register.
func hsum8(a [8]float32) float32 {
	b0, b1, b2, b3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	c0, c1 := b0+b2, b1+b3
	return c0 + c1
}

// dotMins is Σ_g mn_g·xs_g.
func dotMins(mn, xs []float32) float32 {
	var s float32
	for g, v := range mn {
		if v != 0 {
			s += v * xs[g]
		}
	}
	return s
}
