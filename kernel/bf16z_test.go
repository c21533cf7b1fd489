package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestBF16ZSameBitsAsAVX2: on a CPU with both, the AVX-512 pair panel kernels give the
// bits of the AVX2 panel kernels (the same fused multiply-add chain per output), for one
// row and for several, on ragged shapes (n past a panel pair, odd k, k past a piece).
func TestBF16ZSameBitsAsAVX2(t *testing.T) {
	if !bf16Pairs() || bf16pTiles[1] == nil {
		t.Skip("needs both the AVX-512 and the AVX2 BF16 panel kernels")
	}
	rng := rand.New(rand.NewPCG(20, 10))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range [][3]int{{1, 37, 9}, {1, 80, 1100}, {2, 33, 513}, {13, 70, 96}, {130, 49, 1031}} {
		m, n, k := sh[0], sh[1], sh[2]
		w, _ := randWeight(t, rng, tensor.BF16, n, k)
		x := randVec(rng, m*k)
		z := make([]float32, m*n)
		p.matMulBF16Panels(z, x, m, n, k, packBF16ForTest(w))
		save := bf16zTiles
		bf16zTiles = [3][maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int){}
		a := make([]float32, m*n)
		p.matMulBF16Panels(a, x, m, n, k, packBF16ForTest(w))
		bf16zTiles = save
		for i := range z {
			if math.Float32bits(z[i]) != math.Float32bits(a[i]) {
				t.Fatalf("m=%d n=%d k=%d: output %d (row %d) = %g with AVX-512, %g with AVX2", m, n, k, i%n, i/n, z[i], a[i])
			}
		}
	}
}

// TestMatMulBF16PackedFloat64: MatMul on BF16 weights laid out by Pack agrees with a
// float64 product of the unpacked weights, for the m of the row invariance tests and
// ragged n and k.
func TestMatMulBF16PackedFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 11))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range [][2]int{{17, 7}, {33, 96}, {49, 1031}} {
		n, k := sh[0], sh[1]
		for _, m := range []int{1, 2, 3, 7, 16, 17, 130} {
			w, dec := randWeight(t, rng, tensor.BF16, n, k)
			p.Pack([]*tensor.Tensor{w})
			x := randVec(rng, m*k)
			got := make([]float32, m*n)
			if err := p.MatMul(got, x, m, w); err != nil {
				t.Fatal(err)
			}
			want := make([]float32, m*n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for l := 0; l < k; l++ {
						s += float64(x[i*k+l]) * float64(dec[j*k+l])
					}
					want[i*n+j] = float32(s)
				}
			}
			checkClose(t, fmt.Sprintf("packed m=%d n=%d k=%d", m, n, k), got, want, absDots(x, dec, m, n, k), 1e-5)
		}
	}
}

// TestBF16ZRows: the tiles of a block cover its rows once, each at most maxBF16ZC rows,
// their sizes within one of each other.
func TestBF16ZRows(t *testing.T) {
	for m := 1; m <= mBlockBF16P; m++ {
		lo, hi := m, 0
		i := 0
		for i < m {
			c := bf16zRows(m, i)
			if c < 1 || c > maxBF16ZC {
				t.Fatalf("m=%d: tile at %d has %d rows", m, i, c)
			}
			lo, hi = min(lo, c), max(hi, c)
			i += c
		}
		if i != m || hi-lo > 1 {
			t.Fatalf("m=%d: tiles cover %d rows, sizes %d..%d", m, i, lo, hi)
		}
	}
	if bf16zRows(16, 0) != 8 || bf16zRows(16, 8) != 8 {
		t.Errorf("m=16: tiles of %d and %d rows, want 8 and 8", bf16zRows(16, 0), bf16zRows(16, 8))
	}
}

// TestBF16ZPrefetchTwins: the prefetching twins (bf16zFirst, bf16zLast) give the bits of
// the tiles, for every number of rows, odd k included, with the next panel pair present.
func TestBF16ZPrefetchTwins(t *testing.T) {
	if !bf16Pairs() {
		t.Skip("needs the AVX-512 pair panel kernels")
	}
	rng := rand.New(rand.NewPCG(20, 13))
	for _, k := range []int{1, 7, 512} {
		const n = 4 * bf16Panel // two panel pairs: the twins prefetch the second
		w, _ := randWeight(t, rng, tensor.BF16, n, k)
		panels := packBF16ForTest(w)
		ps := bf16PanelStride(k)
		for c := 1; c <= maxBF16ZC; c++ {
			x := randVec(rng, c*k)
			var outs [3][]float32
			for v, tiles := range []*[maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int){&bf16zTiles[2], &bf16zFirst, &bf16zLast} {
				outs[v] = make([]float32, c*2*bf16Panel)
				for i := range outs[v] {
					outs[v][i] = float32(i) // added to
				}
				tiles[c](&panels[0], ps, &x[0], 4*k, k, &outs[v][0], 4*2*bf16Panel)
			}
			for v := 1; v < 3; v++ {
				for i := range outs[0] {
					if math.Float32bits(outs[v][i]) != math.Float32bits(outs[0][i]) {
						t.Fatalf("k=%d C=%d: twin %d output %d = %g, tile %g", k, c, v, i, outs[v][i], outs[0][i])
					}
				}
			}
		}
	}
}

// TestMatMulsBF16Padded: MatMuls and MatMul on BF16 pair panels, which multiply a copy of
// the activations in padded rows from bf16zPadMin rows on, give the bits of the product
// on the rows as they are; bf16zStride pads to an odd number of cache lines.
func TestMatMulsBF16Padded(t *testing.T) {
	for k := 1; k <= 5000; k++ {
		s := bf16zStride(k)
		if s < k || s%16 != 0 || s/16%2 != 1 || s >= k+32 {
			t.Fatalf("bf16zStride(%d) = %d", k, s)
		}
	}
	if !bf16zOn() {
		t.Skip("needs the AVX-512 pair panel kernels")
	}
	rng := rand.New(rand.NewPCG(20, 14))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{33, 96, 1031, 2048} {
		var ws []*tensor.Tensor
		for _, n := range []int{49, 32, 17} {
			w, _ := randWeight(t, rng, tensor.BF16, n, k)
			ws = append(ws, w)
		}
		p.Pack(ws)
		for _, m := range []int{bf16zPadMin - 1, bf16zPadMin, 30, 130} {
			x := randVec(rng, m*k)
			outs := make([][]float32, len(ws))
			for i, w := range ws {
				outs[i] = make([]float32, m*w.Shape[0])
			}
			if err := p.MatMuls(outs, x, m, ws); err != nil {
				t.Fatal(err)
			}
			for i, w := range ws {
				n := w.Shape[0]
				one := make([]float32, m*n)
				if err := p.MatMul(one, x, m, w); err != nil {
					t.Fatal(err)
				}
				want := make([]float32, m*n)
				p.matMulBF16ZStride(want, x, m, n, k, k, w.Packed) // rows as they are
				for e := range want {
					if math.Float32bits(outs[i][e]) != math.Float32bits(want[e]) || math.Float32bits(one[e]) != math.Float32bits(want[e]) {
						t.Fatalf("k=%d m=%d weight %d: output %d = %g (MatMuls), %g (MatMul), %g unpadded", k, m, i, e, outs[i][e], one[e], want[e])
					}
				}
			}
		}
		x := randVec(rng, 30*k)
		if err := p.MatMuls([][]float32{make([]float32, 30*49), make([]float32, 2)}, x, 30, ws[:2]); err == nil {
			t.Errorf("k=%d: MatMuls with a short output: no error", k)
		}
	}
}
