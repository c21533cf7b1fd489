package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkVNNIQ6K compares, in one run, several activation rows of packed Q6_K and Q3_K
// and of IQ2_XS on the AVX-VNNI tiles ("vnni") with the AVX2 tiles they replace ("avx2":
// dotQ6KPS, dotIQ2XSP), and packed Q4_0 as the yardstick, all with AVX-512 set aside.
// Run it with GODEBUG=cpu.avx512f=off (and -cpu 1) so that Q4_0 takes its AVX2 tiles.
// cpu-GFLOP/s counts the thread's CPU time (one thread), so that the time slicing of a
// loaded machine does not count.
func BenchmarkVNNIQ6K(b *testing.B) {
	if vnniQ6KTiles == nil || !q6KPackedOn() {
		b.Skip("no AVX-VNNI tiles or packed Q6_K kernels on this CPU or build")
	}
	if kp512On(true) || iq2XSVNNIOn() {
		b.Skip("AVX-512 VNNI serves these types: run with GODEBUG=cpu.avx512f=off")
	}
	rng := rand.New(rand.NewPCG(95, 96))
	p := NewPool(1)
	defer p.Close()
	for _, sh := range []struct{ n, k int }{{5632, 2048}, {2048, 5632}} {
		for _, dt := range []tensor.DType{tensor.IQ2_XS, tensor.Q6_K, tensor.Q3_K, tensor.Q4_0} {
			w := randBlocks(rng, dt, sh.n, sh.k)
			if dt != tensor.IQ2_XS {
				p.Pack([]*tensor.Tensor{w})
			}
			for _, m := range []int{16, 128} {
				x := randVec(rng, m*sh.k)
				out := make([]float32, m*sh.n)
				kinds := []string{"vnni", "avx2"}
				if dt == tensor.Q4_0 {
					kinds = kinds[1:]
				}
				for _, kind := range kinds {
					b.Run(fmt.Sprintf("%v/%dx%d/m=%d/%s", dt, sh.n, sh.k, m, kind), func(b *testing.B) {
						if kind == "avx2" {
							saved := vnniQ6KTiles
							vnniQ6KTiles = nil
							defer func() { vnniQ6KTiles = saved }()
						}
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						t0 := threadCPU()
						for b.Loop() {
							if err := p.MatMul(out, x, m, w); err != nil {
								b.Fatal(err)
							}
						}
						sec := (threadCPU() - t0) / float64(b.N)
						b.ReportMetric(2*float64(m*sh.n*sh.k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
						b.ReportMetric(2*float64(m*sh.n*sh.k)/sec/1e9, "cpu-GFLOP/s")
					})
				}
			}
		}
	}
}
