//go:build linux && amd64 && !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkKQ512CPUTime is BenchmarkKQ512 on one thread, timed by the thread's CPU time
// (cpu-ms/op) rather than the wall clock, so that the figures hold on a shared machine:
// the kq512 tiles (new), the kernels they replace (old) and Q4_0's AVX-512 VNNI kernels
// (q4_0) at the 1B model's shapes.
func BenchmarkKQ512CPUTime(b *testing.B) {
	needKQ512(b)
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, nk := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}} {
		n, k := nk[0], nk[1]
		for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q5_K, tensor.Q2_K, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				paths := []string{"new", "old"}
				if dt == tensor.Q4_0 {
					paths = []string{"q4_0"}
				}
				for _, path := range paths {
					b.Run(fmt.Sprintf("%dx%d/%s/m=%d/%s", n, k, dt, m, path), func(b *testing.B) {
						saved := matMulKQWide
						if path == "old" {
							matMulKQWide = nil
						}
						defer func() { matMulKQWide = saved }()
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
						t0 := threadCPU()
						for b.Loop() {
							if err := p.MatMul(out, x, m, w); err != nil {
								b.Fatal(err)
							}
						}
						sec := (threadCPU() - t0) / float64(b.N)
						b.ReportMetric(sec*1e3, "cpu-ms/op")
						b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
					})
				}
			}
		}
	}
}

// BenchmarkKQ512DRAM is the decoding case (m = 1) with weights of 96 MiB, far larger than
// the caches, so that they stream from memory as a model's layers do, on one thread
// timed by its CPU time: the kq512 tiles (new) against the kernels they replace (old).
func BenchmarkKQ512DRAM(b *testing.B) {
	needKQ512(b)
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(2, 2))
	const k = 2048
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		rs, _ := dt.RowBytes(k)
		n := (96 << 20) / rs / 32 * 32
		w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
		fillNormal(rng, w)
		x := randVec(rng, k)
		out := make([]float32, n)
		for _, path := range []string{"new", "old"} {
			b.Run(fmt.Sprintf("%s/%s", dt, path), func(b *testing.B) {
				saved := matMulKQWide
				if path == "old" {
					matMulKQWide = nil
				}
				defer func() { matMulKQWide = saved }()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, 1, w); err != nil {
						b.Fatal(err)
					}
				}
				sec := (threadCPU() - t0) / float64(b.N)
				b.ReportMetric(float64(len(w.Data))/sec/1e9, "cpu-GB/s")
			})
		}
	}
}
