//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkVNNIQ4K compares, in one run, packed Q4_K and Q5_K products with several
// activation rows on the AVX-VNNI tiles ("vnni") and on the AVX2 tiles they replace
// ("avx2", the AVX-VNNI tiles switched off for the run), with Q4_0 on its own path as the
// yardstick, at the 1B model's shapes, for 16 and 128 activation rows, on one thread:
// GFLOP/s from the wall clock and from the thread's CPU time (cpu-GFLOP/s). The kp512
// tiles are switched off for the run, so that on an AVX-512 VNNI CPU it measures these;
// run it under GODEBUG=cpu.avx512f=off for Q4_0's AVX2 path.
func BenchmarkVNNIQ4K(b *testing.B) {
	if vnniQ4KTiles == nil || !q4KPackedOn() {
		b.Skip("no AVX-VNNI tiles on this CPU")
	}
	t4 := kp512Q4KTiles
	kp512Q4KTiles = nil
	defer func() { kp512Q4KTiles = t4 }()
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q5_K, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			for _, m := range []int{16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				variants := []string{"vnni", "avx2"}
				if dt == tensor.Q4_0 {
					variants = []string{string(MatMulPath(dt, pw.Packed != nil, m).Kernel)}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s/%s", n, k, m, dt, v), func(b *testing.B) {
						if v == "avx2" {
							tv := vnniQ4KTiles
							vnniQ4KTiles = nil
							defer func() { vnniQ4KTiles = tv }()
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
