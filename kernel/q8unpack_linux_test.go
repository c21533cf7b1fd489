package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkQ8UnpackShare measures, on one thread in CPU time, MatMul with Q8_0 weights
// ([2048, 2048]) for 16 and 128 activation rows against the run-time unpacking of the
// same weights by q8PackVec that MatMul does inside (once per 128 rows): the most a
// load-time pack of the several-row path could save.
func BenchmarkQ8UnpackShare(b *testing.B) {
	if !useAsm {
		b.Skip("no AVX2")
	}
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(5, 5))
	const n, k = 2048, 2048
	w, _ := randWeight(b, rng, tensor.Q8_0, n, k)
	rs := k / 32 * 34
	cpu := func(b *testing.B, f func()) float64 {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := threadCPU()
		for b.Loop() {
			f()
		}
		return (threadCPU() - t0) / float64(b.N)
	}
	buf := make([]byte, k/32*96)
	for rep := 0; rep < 3; rep++ {
		b.Run(fmt.Sprintf("unpack/%d", rep), func(b *testing.B) {
			sec := cpu(b, func() {
				for j := 0; j < n; j++ {
					q8PackVec(&buf[0], &w.Data[j*rs], k/32)
				}
			})
			b.ReportMetric(sec*1e3, "cpu-ms")
		})
		for _, m := range []int{16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			b.Run(fmt.Sprintf("matmul/m=%d/%d", m, rep), func(b *testing.B) {
				sec := cpu(b, func() { p.MatMul(out, x, m, w) })
				b.ReportMetric(sec*1e3, "cpu-ms")
			})
		}
	}
}
