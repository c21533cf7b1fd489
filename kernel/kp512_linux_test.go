//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkKP512 compares, in one run, packed Q4_K and Q6_K products with several
// activation rows on the kp512 tiles ("kp512") and on the AVX2 tiles they replace
// ("avx2", kp512 switched off for the run), with Q4_0 on its own path (q512mm on an
// AVX-512 VNNI CPU) at the 1B model's shapes, for 16 and 128 activation rows, on one
// thread: GFLOP/s from the wall clock and from the thread's CPU time (cpu-GFLOP/s, the
// steadier figure on a shared machine).
func BenchmarkKP512(b *testing.B) {
	if kp512Q4KTiles == nil || !q4KPackedOn() {
		b.Skip("no kp512 tiles on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			for _, m := range []int{16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				variants := []string{"kp512", "avx2"}
				if dt == tensor.Q4_0 {
					variants = []string{string(MatMulPath(dt, pw.Packed != nil, m).Kernel)}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s/%s", n, k, m, dt, v), func(b *testing.B) {
						if v == "avx2" {
							t4, t6 := kp512Q4KTiles, kp512Q6KTiles
							kp512Q4KTiles, kp512Q6KTiles = nil, nil
							defer func() { kp512Q4KTiles, kp512Q6KTiles = t4, t6 }()
						}
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						t0 := threadCPU()
						for b.Loop() {
							if err := p.MatMul(out, x, m, &pw); err != nil {
								b.Fatal(err)
							}
						}
						sec := (threadCPU() - t0) / float64(b.N)
						b.ReportMetric(2*float64(m*n*k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
						b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
					})
				}
			}
		}
	}
}
