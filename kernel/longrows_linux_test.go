package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkMatMulLongRows measures Q4_0 and Q8_0 products of 128 activation rows (a
// prefill) with rows of 2048 values (a 1B model) and of 8192 and 28672 (Nemotron
// Super-49B's hidden and MLP widths), 512 weight rows, on one thread, in
// GFLOP/s of that thread's CPU time (threadCPU: the figure holds on a shared machine).
func BenchmarkMatMulLongRows(b *testing.B) {
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	const m = 128
	for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q8_0} {
		for _, sh := range [][2]int{{512, 2048}, {512, 8192}, {512, 28672}} {
			n, k := sh[0], sh[1]
			w, _ := randWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			b.Run(fmt.Sprintf("%s/%dx%d", dt, n, k), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, m, &pw); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(m*n*k)/((threadCPU()-t0)/float64(b.N))/1e9, "cpu-GFLOP/s")
			})
		}
	}
}

// BenchmarkQ4PackedCPUTime compares Q4_0 products on weights as stored and laid out by
// Pack ([512, 2048], in the cache) for 1, 16 and 128 activation rows on one thread, in
// GFLOP/s and weight GB/s of the thread's CPU time.
func BenchmarkQ4PackedCPUTime(b *testing.B) {
	if !q4PackedOn() {
		b.Skip("no AVX2 packed Q4_0 kernels on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	const n, k = 512, 2048
	w, _ := randWeight(b, rng, tensor.Q4_0, n, k)
	pw := *w
	p.Pack([]*tensor.Tensor{&pw})
	for _, m := range []int{1, 16, 128} {
		x := randVec(rng, m*k)
		out := make([]float32, m*n)
		for _, c := range []struct {
			name string
			w    *tensor.Tensor
		}{{"stored", w}, {"packed", &pw}} {
			b.Run(fmt.Sprintf("m=%d/%s", m, c.name), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, m, c.w); err != nil {
						b.Fatal(err)
					}
				}
				sec := (threadCPU() - t0) / float64(b.N)
				b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
				b.ReportMetric(float64(len(w.Data))/sec/1e9, "cpu-GB/s")
			})
		}
	}
}

// BenchmarkSuperTilesCPUTime compares the products of the super-block types with 16 and
// 128 activation rows with their tiles (tiles=true) and with the one-row kernels only,
// [512, 2048] in the cache, on one thread, in GFLOP/s of the thread's CPU time.
func BenchmarkSuperTilesCPUTime(b *testing.B) {
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(11, 11))
	const n, k = 512, 2048
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
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					t0 := threadCPU()
					for b.Loop() {
						if err := p.MatMul(out, x, m, w); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(m*n*k)/((threadCPU()-t0)/float64(b.N))/1e9, "cpu-GFLOP/s")
				})
			}
		}
	}
}
