package kernel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// q6KPSRef is the plain Go twin of the dotQ6KPS tiles: it reads the packed Q6_K layout
// (packQ6KGroup) and sums each block as the tiles do, in 16-bit words that wrap: per half
// of the block and word (the positions 4z, 4z+1 or 4z+2, 4z+3 of the half's four z), the
// pair sums of u·x less that word of q6KHalfSums, then the word times the half's scale in
// int32, then acc = float32(Σ)·(d·dx) + acc, fused. The wrapping is harmless only because
// the final word, Σ(u-32)·x over 8 values, fits in int16; the test against the one-row
// kernel (which sums in int32) checks that it does.
func q6KPSRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * q6KPSB
	le := binary.LittleEndian
	s := &quantScratch{q: xq}
	xc := q6KHalfSums(s, m*nb)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*q6KPSB:]
				bb := b % 8
				hh, t := bb/4, bb%4
				u := func(l int) int32 {
					ql := sb[144+32*(16*hh+8*(t%2)+l/4)+4*r+l%4]
					qh := sb[1168+32*(8*hh+l/4)+4*r+l%4]
					return int32(ql>>(4*(t/2))&15 | (qh>>(2*t)&3)<<4)
				}
				var sum int32
				for h := 0; h < 2; h++ {
					c := uint32(xc[2*(i*nb+b)+h])
					sc := int32(int8(sb[16+16*bb+2*r+h]))
					for word := 0; word < 2; word++ {
						var wsum int16
						for z := 4 * h; z < 4*h+4; z++ {
							for e := 0; e < 2; e++ {
								l := 4*z + 2*word + e
								wsum += int16(u(l) * int32(xq[i*k+32*b+l]))
							}
						}
						wsum -= int16(uint16(c >> (16 * word)))
						sum += int32(wsum) * sc
					}
				}
				d := tensor.F16ToF32(le.Uint16(sb[2*r:]))
				acc = fmaF32(float32(sum), xd[i*nb+b]*d, acc)
			}
			out[i*n+j] = acc
		}
	}
}

// TestQ6KPSTiles: the packed Q6_K product with several activation rows on the AVX2 tiles
// (q6KPUnpackAVX and the dotQ6KPS tiles, with the AVX-512 and AVX-VNNI tiles set aside so
// that they run on every AVX2 CPU) gives the bits of the plain Go twin q6KPSRef and, row by row,
// those of the one-row kernel dotQ6KP_vec8, for m = 2, 3, 4, 5, 7, 16, 17 and 130 rows
// (tiles of 1 to 4 rows), k of one super-block, two and past a kBlockQuant piece (9),
// rows not a multiple of 8, and weights at the extremes (u = 0 and 63, scales -128 and
// 127, |x| = 127), where the int16 sums come closest to wrapping.
func TestQ6KPSTiles(t *testing.T) {
	if !q6KPackedOn() || q6KPSTiles[1] == nil {
		t.Skip("no packed Q6_K AVX2 kernels on this CPU (no AVX2, or -tags purego)")
	}
	t4, t6, tv := kp512Q4KTiles, kp512Q6KTiles, vnniQ6KTiles
	kp512Q4KTiles, kp512Q6KTiles, vnniQ6KTiles = nil, nil, nil
	defer func() { kp512Q4KTiles, kp512Q6KTiles, vnniQ6KTiles = t4, t6, tv }()
	rng := rand.New(rand.NewPCG(67, 68))
	p := NewPool(2)
	defer p.Close()
	const M = 130
	for _, k := range []int{256, 512, 2304} {
		for _, n := range []int{1, 8, 19} {
			for _, extreme := range []bool{false, true} {
				w, _ := randWeight(t, rng, tensor.Q6_K, n, k)
				x := randVec(rng, M*k)
				if extreme {
					q6KExtremes(rng, w.Data, x, k)
				}
				packed := packKRef(w)
				name := fmt.Sprintf("n=%d k=%d extreme=%v", n, k, extreme)
				one := make([]float32, M*n)
				for i := 0; i < M; i++ {
					p.matMulQ6KPacked(one[i*n:(i+1)*n], x[i*k:(i+1)*k], 1, n, k, packed)
				}
				xq, xd, _ := quantRef(x, M, k)
				ref := make([]float32, M*n)
				q6KPSRef(ref, xq, xd, M, n, k, packed)
				for i := range ref {
					if one[i] != ref[i] {
						t.Fatalf("%s: one row: output %d = %g, the twin q6KPSRef %g", name, i, one[i], ref[i])
					}
				}
				for _, m := range []int{2, 3, 4, 5, 7, 16, 17, M} {
					got := make([]float32, m*n)
					i0 := M - m
					p.matMulQ6KPacked(got, x[i0*k:(i0+m)*k], m, n, k, packed)
					for i := range got {
						if got[i] != ref[i0*n+i] {
							t.Fatalf("%s: row %d of %d (from row %d): output %d = %g, the twin %g", name, i/n, m, i0, i%n, got[i], ref[i0*n+i])
						}
					}
				}
			}
		}
	}
}

// q6KExtremes sets the Q6_K rows in data (rows of k values) to extremes: each super-block
// has all its 6-bit values 0 or all 63 and all its scales -128 or 127, d = 1/1024, and
// each block of 32 of x is all +1 or all -1 (so that QuantizeQ8 gives ±127).
func q6KExtremes(rng *rand.Rand, data []byte, x []float32, k int) {
	for b := 0; b < len(data)/210; b++ {
		blk := data[210*b : 210*(b+1)]
		v := byte(0)
		if rng.IntN(2) == 1 {
			v = 0xff
		}
		for i := 0; i < 192; i++ {
			blk[i] = v
		}
		sc := byte(0x80)
		if rng.IntN(2) == 1 {
			sc = 127
		}
		for i := 192; i < 208; i++ {
			blk[i] = sc
		}
		binary.LittleEndian.PutUint16(blk[208:], tensor.F32ToF16(1.0/1024))
	}
	for b := 0; b < len(x)/32; b++ {
		s := float32(1)
		if rng.IntN(2) == 1 {
			s = -1
		}
		for i := 0; i < 32; i++ {
			x[32*b+i] = s
		}
	}
}
