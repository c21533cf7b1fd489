package kernel

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"

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
	if useAsm && p.matMulFused(out, s, m, n, k, data, rs, dt) {
		return
	}
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
	return dotUnpackedGeneric(u.q, u.sc, xq, xd) + dotMins(u.mn, xs)
}

// dotUnpackedGeneric is Σ_g sc_g·xd_{g/2}·Σ q·x over the groups of 16, the integer sums
// taken four values at a time into eight running float32 lanes (as an 8-lane vector
// kernel would hold them) and the lanes added in a fixed order.
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
	return hsum8(acc)
}

// hsum8 adds eight lanes in the order the AVX2 kernels reduce a register.
func hsum8(a [8]float32) float32 {
	b0, b1, b2, b3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (b0 + b1) + (b2 + b3)
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

// The fused kernels decode their type's blocks in registers, one weight row against one
// row of x at a time, with no unpacked copy (kquant_amd64.s; nil without AVX2).
var (
	dotQ5KVec   func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
	dotIQ4XSVec func(w *byte, xq *int8, xd *float32, nsb int) float32
	dotQ3KVec   func(w *byte, xq *int8, xd *float32, nsb int) float32
	dotIQ2XSVec func(w *byte, xq *int8, xd *float32, nsb int, grid *uint64) float32
	dotQ2KVec   func(w *byte, xq *int8, xd *float32, xs *float32, nsb int) float32
	// q2KTiles serve Q2_K with C = 2..4 activation rows, as the tiles of matmul.go.
	q2KTiles [5]superTileFn
	// iq2XS512On and q2K512On report that dotIQ2XSVec and dotQ2KVec are the AVX-512
	// kernels (kquant512_amd64.s).
	iq2XS512On, q2K512On bool
)

// matMulFused is matMulBlocks for the types with a fused kernel (Q2_K, Q3_K, Q5_K, IQ4_XS, IQ2_XS), on x
// quantized into s; it returns false for the other types.
func (p *Pool) matMulFused(out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) bool {
	nb, nsb := k/32, k/256
	var rowDot func(j, i int) float32
	var tiles *[5]superTileFn
	var xc unsafe.Pointer
	xcRow := 4 * nb
	switch {
	case dt == tensor.Q5_K && dotQ5KVec != nil:
		xs := blockSums(s, m, k)
		rowDot = func(j, i int) float32 {
			return dotQ5KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xs[i*nb], nsb)
		}
		tiles, xc = &q5KTiles, unsafe.Pointer(&xs[0])
	case dt == tensor.Q3_K && dotQ3KVec != nil:
		rowDot = func(j, i int) float32 {
			return dotQ3KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], nsb)
		}
		tiles = &q3KTiles
	case dt == tensor.IQ2_XS && dotIQ2XSVec != nil:
		grid := &tensor.IQ2XSGrid()[0]
		rowDot = func(j, i int) float32 {
			return dotIQ2XSVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], nsb, grid)
		}
		// The tiles take the grid's address through xc, the same for every row.
		tiles, xc, xcRow = &iq2XSTiles, unsafe.Pointer(grid), 0
	case dt == tensor.Q2_K && dotQ2KVec != nil:
		xs := blockSums16(s, m, k)
		g := k / 16
		rowDot = func(j, i int) float32 {
			return dotQ2KVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], &xs[i*g], nsb)
		}
		tiles, xc, xcRow = &q2KTiles, unsafe.Pointer(&xs[0]), 4*g
	case dt == tensor.IQ4_XS && dotIQ4XSVec != nil:
		rowDot = func(j, i int) float32 {
			return dotIQ4XSVec(&data[j*rs], &s.q[i*k], &s.d[i*nb], nsb)
		}
		tiles = &iq4XSTiles
	default:
		return false
	}
	p.superRows(out, m, n, k, data, rs, s, rowDot, tiles, xc, xcRow)
	return true
}

// blockSums returns, for each block of 32 of the m quantized rows in s, its scale times
// the sum of its int8 values.
func blockSums(s *quantScratch, m, k int) []float32 {
	nb := k / 32
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
	return xs
}

// blockSums16 returns, for each 16 values of the m quantized rows in s, their block's
// scale times their sum.
func blockSums16(s *quantScratch, m, k int) []float32 {
	g := k / 16
	if cap(s.s) < m*g {
		s.s = make([]float32, m*g)
	}
	xs := s.s[:m*g]
	for b := range xs {
		var sum int32
		for _, q := range s.q[16*b : 16*b+16] {
			sum += int32(q)
		}
		xs[b] = s.d[b/2] * float32(sum)
	}
	return xs
}

// dotQ2KGeneric is the plain version of dotQ2KAVX, in its order: w holds nsb block_q2_K;
// group g of 16 weights has the value d·(scales[g] & 15)·q - dmin·(scales[g] >> 4) with
// q in 0..3 (tensor.Unpacker's), xs the per-16 sums (blockSums16). Each four values'
// integer sum Σ q·x times the group's scale (an integer) is converted to float32 and,
// times dx_j, added into one of eight lanes (lanes 0-3 group 2j, 4-7 group 2j+1) over
// the super-block's blocks j = 0..7 (j = 0 sets them); the accumulator lane l then adds
// that sum times d, and (m_l·xs_l + m_8+l·xs_8+l) times -dmin. Each add is a fused
// multiply-add (fmaF32) as in the kernel, and the lanes are added as hsum8 adds them.
func dotQ2KGeneric(w []byte, xq []int8, xd, xs []float32, nsb int) float32 {
	var acc [8]float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*84 : sb*84+84]
		var t [8]float32
		for j := 0; j < 8; j++ {
			dx := xd[8*sb+j]
			for l := 0; l < 8; l++ {
				g := 2*j + l/4
				sc := int32(blk[g] & 15)
				var isum int32
				for e := 0; e < 4; e++ {
					o := 32*(g/8) + 16*(g%2) + 4*(l%4) + e
					q := int32(blk[16+o] >> (2 * ((g / 2) % 4)) & 3)
					isum += q * int32(xq[256*sb+32*j+4*l+e])
				}
				if j == 0 {
					t[l] = float32(isum*sc) * dx
				} else {
					t[l] = fmaF32(float32(isum*sc), dx, t[l])
				}
			}
		}
		d, dmin := f16At(blk, 80), f16At(blk, 82)
		for l := range acc {
			acc[l] = fmaF32(t[l], d, acc[l])
			tm := float32(blk[l]>>4) * xs[16*sb+l]
			tm = fmaF32(float32(blk[8+l]>>4), xs[16*sb+8+l], tm)
			acc[l] = fmaF32(tm, -dmin, acc[l])
		}
	}
	return hsum8(acc)
}

// dotQ5KGeneric is the plain version of dotQ5KAVX: w holds nsb block_q5_K; weight e of
// sub-block j is d·sc_j·q_e - dmin·m_j with q_e the nibble plus 16 times bit j of
// qh[e%32], so the product with x is Σ_j d·sc_j·dx_j·Σ q·x - dmin·Σ_j m_j·xs_j.
func dotQ5KGeneric(w []byte, xq []int8, xd, xs []float32, nsb int) float32 {
	var sum, msum float32
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*176 : sb*176+176]
		d, dmin := f16At(blk, 0), f16At(blk, 2)
		for j := 0; j < 8; j++ {
			sc, m := q4KScaleMin(j, blk[4:16])
			b := sb*8 + j
			xb := xq[b*32 : b*32+32]
			qs := blk[48+32*(j/2):]
			var isum int32
			for l := 0; l < 32; l++ {
				q := qs[l] & 15
				if j%2 == 1 {
					q = qs[l] >> 4
				}
				q |= (blk[16+l] >> j & 1) << 4
				isum += int32(q) * int32(xb[l])
			}
			sum += float32(isum) * (float32(sc) * d * xd[b])
			msum += dmin * (float32(m) * xs[b])
		}
	}
	return sum - msum
}

// dotIQ4XSGeneric is the plain version of dotIQ4XSAVX: w holds nsb block_iq4_xs; sub-block
// ib of 32 weights has scale d·(ls_ib - 32) and values kvalues_iq4nl[nibble].
func dotIQ4XSGeneric(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var sum float32
	u := make([]int8, 256)
	sc, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(tensor.IQ4_XS)
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*136 : sb*136+136]
		unpack(u, sc, mn, blk) // the values; the scale is formed below in the kernel's order
		d := f16At(blk, 0)
		sh := binary.LittleEndian.Uint16(blk[2:])
		for ib := 0; ib < 8; ib++ {
			ls := int32(blk[4+ib/2]>>(4*(ib%2))&15) | int32(sh>>(2*ib)&3)<<4
			b := sb*8 + ib
			var isum int32
			for l := 0; l < 32; l++ {
				isum += int32(u[32*ib+l]) * int32(xq[32*b+l])
			}
			sum += float32(isum) * (float32(ls-32) * xd[b] * d)
		}
	}
	return sum
}

func f16At(b []byte, off int) float32 { return tensor.F16ToF32(binary.LittleEndian.Uint16(b[off:])) }

// dotQ3KGeneric is the plain version of dotQ3KAVX, in its order: w holds nsb block_q3_K;
// group g of 16 weights has scale d·(sc_g - 32) and values in -4..3 (tensor.Unpacker's).
// Each four values' integer sum Σ q·x is multiplied by sc_g - 32 as an integer, then by
// dx_j in float32 into one of eight lanes (as an 8-lane register holds them: lanes 0-3
// group 2j, 4-7 group 2j+1) summed over the super-block, and that sum times d is added
// to the accumulator. The kernel fuses each multiply and add where this rounds twice.
func dotQ3KGeneric(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc [8]float32
	u := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(tensor.Q3_K)
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*110 : sb*110+110]
		unpack(u, sf, mn, blk)
		sc := q3KScales(blk)
		var t [8]float32
		for j := 0; j < 8; j++ {
			for l := 0; l < 8; l++ {
				var isum int32
				for e := 0; e < 4; e++ {
					isum += int32(u[32*j+4*l+e]) * int32(xq[256*sb+32*j+4*l+e])
				}
				t[l] += float32(isum*sc[2*j+l/4]) * xd[8*sb+j]
			}
		}
		d := f16At(blk, 108)
		for l := range acc {
			acc[l] += t[l] * d
		}
	}
	return hsum8(acc)
}

// q3KScales returns the sixteen 6-bit scales of a Q3_K block less 32, unpacked as ggml's
// dequantize_row_q3_K unpacks them.
func q3KScales(blk []byte) [16]int32 {
	a0 := binary.LittleEndian.Uint32(blk[96:])
	a1 := binary.LittleEndian.Uint32(blk[100:])
	t := binary.LittleEndian.Uint32(blk[104:])
	words := [4]uint32{
		a0&0x0f0f0f0f | (t&0x03030303)<<4,
		a1&0x0f0f0f0f | (t>>2&0x03030303)<<4,
		a0>>4&0x0f0f0f0f | (t>>4&0x03030303)<<4,
		a1>>4&0x0f0f0f0f | (t>>6&0x03030303)<<4,
	}
	var sc [16]int32
	for i, v := range words {
		for b := 0; b < 4; b++ {
			sc[4*i+b] = int32(v>>(8*b)&0xff) - 32
		}
	}
	return sc
}

// dotIQ2XSGeneric is the plain version of dotIQ2XSAVX, in its order: w holds nsb
// block_iq2_xs; each half of a sub-block (16 weights) has the scale d·(2·nibble + 1)/8
// and signed grid values (tensor.Unpacker's). Each four values' integer sum Σ q·x is
// multiplied by 2·nibble + 1 as an integer, converted to float32, and, times dx_ib, added
// into one of eight lanes (lanes 0-3 the first half of sub-block ib, 4-7 the second) over
// the super-block, ib = 0..7 (ib = 0 sets the lanes); that sum times d/8 is added to the
// accumulator, and the lanes are added as hsum8 adds them. Each add is a fused multiply-add
// (fmaF32) as in the kernel, so that the two agree to the bit.
func dotIQ2XSGeneric(w []byte, xq []int8, xd []float32, nsb int) float32 {
	var acc [8]float32
	u := make([]int8, 256)
	sc, mn := make([]float32, 16), make([]float32, 16)
	unpack := tensor.Unpacker(tensor.IQ2_XS)
	for sb := 0; sb < nsb; sb++ {
		blk := w[sb*74 : sb*74+74]
		unpack(u, sc, mn, blk) // the signed grid values; the scales are formed below
		var t [8]float32
		for ib := 0; ib < 8; ib++ {
			dx := xd[8*sb+ib]
			for l := 0; l < 8; l++ {
				s := 2*int32(blk[66+ib]>>(4*(l/4))&15) + 1
				var isum int32
				for e := 0; e < 4; e++ {
					isum += int32(u[32*ib+4*l+e]) * int32(xq[256*sb+32*ib+4*l+e])
				}
				if ib == 0 {
					t[l] = float32(isum*s) * dx
				} else {
					t[l] = fmaF32(float32(isum*s), dx, t[l])
				}
			}
		}
		d := f16At(blk, 0) * 0.125
		for l := range acc {
			acc[l] = fmaF32(t[l], d, acc[l])
		}
	}
	return hsum8(acc)
}

// fmaF32 is a·b + c rounded once to float32, as VFMADD231PS rounds it. a·b is exact in
// float64 and the float64 FMA rounds a·b + c once; the error of that rounding (TwoSum)
// decides the one case where rounding the float64 result again would differ: a result
// exactly halfway between two float32 values.
func fmaF32(a, b, c float32) float32 {
	p, cc := float64(a)*float64(b), float64(c)
	r := p + cc
	bb := r - p
	err := (p - (r - bb)) + (cc - bb)
	f := float32(r)
	if err == 0 || float64(f) == r || math.IsInf(r, 0) || math.IsNaN(r) {
		return f
	}
	g := math.Nextafter32(f, float32(math.Copysign(math.Inf(1), r-float64(f))))
	if (float64(f)+float64(g))/2 != r {
		return f // not a tie: f is nearest
	}
	if (err > 0) == (g > f) {
		return g
	}
	return f
}
