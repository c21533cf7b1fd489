package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time the calling OS thread has used, in seconds.
func threadCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

// processCPU returns the CPU time the process has used (all threads, user and system), in
// seconds.
func processCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

// BenchmarkMatMulCPUTime runs MatMul on one thread ([512, 2048] weights, which stay in
// the cache) and reports GFLOP/s per core computed from the thread's CPU time rather than
// the wall clock, so that the figure holds on a machine shared with other work.
func BenchmarkMatMulCPUTime(b *testing.B) {
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(3, 3))
	const n, k = 512, 2048
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K,
		tensor.Q5_K, tensor.IQ4_XS, tensor.Q3_K, tensor.IQ2_XS} {
		w := typedWeight(b, rng, dt, n, k)
		for _, m := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("%s/m=%d", dt, m), func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				t0 := threadCPU()
				for b.Loop() {
					if err := p.MatMul(out, x, m, w); err != nil {
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
