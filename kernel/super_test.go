package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestMatMulSuperRowInvariance: with Q4_K and Q6_K weights an activation row's outputs are
// bit-identical whatever the number of rows in the call (one row: the one-row kernels;
// 2 to 4 at a time: the tiles, over blocks of mBlockSuper rows) and wherever the row sits
// among them.
func TestMatMulSuperRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		for _, k := range []int{256, 768, 2304} {
			const n, M = 19, 41
			w, _ := randWeight(t, rng, dt, n, k)
			x := randVec(rng, M*k)
			all := make([]float32, M*n)
			if err := p.MatMul(all, x, M, w); err != nil {
				t.Fatal(err)
			}
			for _, m := range []int{1, 2, 3, 4, 5, 17, 33} {
				for _, i0 := range []int{0, 3, M - m} {
					got := make([]float32, m*n)
					if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, w); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if got[i] != all[i0*n+i] {
							t.Errorf("%s k=%d: row %d of %d (from row %d): output %d = %g, among %d rows %g", dt, k, i/n, m, i0, i%n, got[i], M, all[i0*n+i])
							break
						}
					}
				}
			}
		}
	}
}

// BenchmarkMatMulSuper measures Q4_K, Q6_K, Q5_K, IQ4_XS, Q3_K and IQ2_XS products of 16 and 128 activation rows at
// the 1B model's MLP shape, with the tiles (default) and with the one-row kernels
// (rows=1: the path before the tiles), alternating in each round.
func BenchmarkMatMulSuper(b *testing.B) {
	if q4KTiles[2] == nil {
		b.Skip("no tiles on this CPU")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(5, 5))
	const n, k = 5632, 2048
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q5_K, tensor.IQ4_XS, tensor.Q3_K, tensor.IQ2_XS} {
		w := typedWeight(b, rng, dt, n, k)
		for _, m := range []int{16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			for _, tiled := range []bool{true, false} {
				b.Run(fmt.Sprintf("%s/m=%d/tiles=%v", dt, m, tiled), func(b *testing.B) {
					saved := [...]*[5]superTileFn{&q4KTiles, &q6KTiles, &q5KTiles, &iq4XSTiles, &q3KTiles, &iq2XSTiles}
					var old [len(saved)][5]superTileFn
					for i, t := range saved {
						old[i] = *t
						if !tiled {
							*t = [5]superTileFn{}
						}
					}
					defer func() {
						for i, t := range saved {
							*t = old[i]
						}
					}()
					for b.Loop() {
						if err := p.MatMul(out, x, m, w); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(m*n*k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
				})
			}
		}
	}
}
