package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkIQ2XS times IQ2_XS products at the 1B model's shapes (n×k: attention
// 2048×2048, MLP up 5632×2048 and down 2048×5632) for decode (m = 1) and a batch of 16,
// on one thread; bytes/s is the weight stream, and cpu-ns/op the thread's CPU time per
// product (steadier than the wall clock on a shared machine).
func BenchmarkIQ2XS(b *testing.B) { benchShapes(b, tensor.IQ2_XS) }

// BenchmarkQ2K is BenchmarkIQ2XS for Q2_K.
func BenchmarkQ2K(b *testing.B) { benchShapes(b, tensor.Q2_K) }

// BenchmarkIQ3XXS is BenchmarkIQ2XS for IQ3_XXS.
func BenchmarkIQ3XXS(b *testing.B) { benchShapes(b, tensor.IQ3_XXS) }

// BenchmarkIQ3S is BenchmarkIQ2XS for IQ3_S.
func BenchmarkIQ3S(b *testing.B) { benchShapes(b, tensor.IQ3_S) }

// BenchmarkIQ2XXS is BenchmarkIQ2XS for IQ2_XXS.
func BenchmarkIQ2XXS(b *testing.B) { benchShapes(b, tensor.IQ2_XXS) }

// BenchmarkIQ2S is BenchmarkIQ2XS for IQ2_S.
func BenchmarkIQ2S(b *testing.B) { benchShapes(b, tensor.IQ2_S) }

// BenchmarkIQ4NL is BenchmarkIQ2XS for IQ4_NL.
func BenchmarkIQ4NL(b *testing.B) { benchShapes(b, tensor.IQ4_NL) }

// BenchmarkQ50 is BenchmarkIQ2XS for Q5_0.
func BenchmarkQ50(b *testing.B) { benchShapes(b, tensor.Q5_0) }

// BenchmarkQ41 is BenchmarkIQ2XS for Q4_1.
func BenchmarkQ41(b *testing.B) { benchShapes(b, tensor.Q4_1) }

// BenchmarkQ51 is BenchmarkIQ2XS for Q5_1.
func BenchmarkQ51(b *testing.B) { benchShapes(b, tensor.Q5_1) }

// BenchmarkIQ1S is BenchmarkIQ2XS for IQ1_S.
func BenchmarkIQ1S(b *testing.B) { benchShapes(b, tensor.IQ1_S) }

// BenchmarkIQ1M is BenchmarkIQ2XS for IQ1_M.
func BenchmarkIQ1M(b *testing.B) { benchShapes(b, tensor.IQ1_M) }

// BenchmarkTQ20 is BenchmarkIQ2XS for TQ2_0.
func BenchmarkTQ20(b *testing.B) { benchShapes(b, tensor.TQ2_0) }

// BenchmarkTQ10 is BenchmarkIQ2XS for TQ1_0.
func BenchmarkTQ10(b *testing.B) { benchShapes(b, tensor.TQ1_0) }

// BenchmarkQ8K is BenchmarkIQ2XS for Q8_K.
func BenchmarkQ8K(b *testing.B) { benchShapes(b, tensor.Q8_K) }

// benchShapes runs BenchmarkIQ2XS's products for weights of type dt.
func benchShapes(b *testing.B, dt tensor.DType) {
	rng := rand.New(rand.NewPCG(29, 30))
	p := NewPool(1)
	defer p.Close()
	for _, nk := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}} {
		n, k := nk[0], nk[1]
		w := randBlocks(rng, dt, n, k)
		for _, m := range []int{1, 16} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			b.Run(fmt.Sprintf("n=%d/k=%d/m=%d", n, k, m), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.SetBytes(int64(len(w.Data)))
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, m, w); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric((threadCPU()-t0)/float64(b.N)*1e9, "cpu-ns/op")
			})
		}
	}
}
