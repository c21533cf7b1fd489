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
