package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkB32 compares, for Q4_1, Q5_0, Q5_1 and IQ4_NL at 5632×2048 and 2048×5632 (m =
// 1, 16, 128) and 32000×2048 (m = 1: the weights do not fit the L3 cache), the b32 tiles
// ("b32") with the AVX2 fused kernels they replace ("old": dotBlock32 and the 1×4 tiles),
// and with 8 activation rows a tile call ("b32c8"), one thread: GFLOP/s of wall time and of the thread's CPU time (cpu-GFLOP/s, steadier
// on a shared machine); "ref" is Q4_0 on its own path (packed), for scale.
func BenchmarkB32(b *testing.B) {
	if !b32On(tensor.Q4_1) {
		b.Skip("no b32 tiles on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sh := range [][3]int{{5632, 2048, 128}, {2048, 5632, 128}, {32000, 2048, 1}} {
		n, k := sh[0], sh[1]
		for _, dt := range append(b32Types, tensor.Q4_0) {
			benchB32(b, p, rng, dt, n, k, sh[2])
		}
	}
}

// benchB32 runs BenchmarkB32's variants for one type and shape, m = 1, 16, 128 up to mMax.
func benchB32(b *testing.B, p *Pool, rng *rand.Rand, dt tensor.DType, n, k, mMax int) {
	w := typedWeight(b, rng, dt, n, k)
	if dt == tensor.Q4_0 {
		p.Pack([]*tensor.Tensor{w}) // as a loaded model holds it
	}
	for _, m := range []int{1, 16, 128} {
		if m > mMax {
			break
		}
		x := randVec(rng, m*k)
		out := make([]float32, m*n)
		if err := p.MatMul(out, x, m, w); err != nil { // warm-up
			b.Fatal(err)
		}
		variants := []string{"b32", "b32c8", "old"}
		if dt == tensor.Q4_0 {
			variants = []string{"ref"}
		}
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/%dx%d/m=%d/%s", dt, n, k, m, v), func(b *testing.B) {
				if v == "old" {
					defer b32Off()()
				}
				if v == "b32c8" {
					b32C = 8
					defer func() { b32C = b32CMax }()
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
				b.ReportMetric(2*float64(m*n*k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
				b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
			})
		}
	}
}
