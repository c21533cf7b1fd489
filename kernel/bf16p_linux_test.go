package kernel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkBF16PanelsCPUTime is BenchmarkMatMulCPUTime for BF16 weights as stored
// ("rows": the float 3×4 tiles) and laid out in panels ("panels"), on one thread, in
// GFLOP/s per core from the thread's CPU time; the two alternate within each m.
//
// BF16_SHAPE=N,K picks another weight shape than [512, 2048] (e.g. 2048,5632, the 1b
// preset's MLP down projection, which streams from memory).
func BenchmarkBF16PanelsCPUTime(b *testing.B) {
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(3, 3))
	n, k := 512, 2048
	if s := os.Getenv("BF16_SHAPE"); s != "" {
		if _, err := fmt.Sscanf(s, "%d,%d", &n, &k); err != nil {
			b.Fatalf("BF16_SHAPE=%q: want N,K", s)
		}
	}
	w, _ := randWeight(b, rng, tensor.BF16, n, k)
	wp := *w
	wp.Packed = packBF16ForTest(w)
	for _, m := range []int{1, 16, 128} {
		x := randVec(rng, m*k)
		out := make([]float32, m*n)
		for _, v := range []struct {
			name string
			w    *tensor.Tensor
		}{{"rows", w}, {"panels", &wp}} {
			if v.w.Packed != nil && !bf16PanelsOn() {
				continue
			}
			b.Run(fmt.Sprintf("m=%d/%s", m, v.name), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, m, v.w); err != nil {
						b.Fatal(err)
					}
				}
				sec := (threadCPU() - t0) / float64(b.N)
				b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
			})
		}
	}
}
