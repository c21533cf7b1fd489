//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkIQ1VNNI compares, in one run, IQ1_S and IQ1_M products in the VNNI order
// ("vnni": dot<T>32x2AVX512 for m = 1, the kp512 Q6_K tiles on decoded pieces for m > 1)
// with the AVX2 kernels they replace ("old": dot<T>AVX and the 1×C tiles, the VNNI order
// switched off for the run) at 5632×2048 (the 1B model's gate and up) for m = 1, 16 and
// 128, on one thread: GFLOP/s from the wall clock and from the thread's CPU time
// (cpu-GFLOP/s, the steadier figure on a shared machine). -bench IQ1VNNI/iq1_m selects a
// type.
func BenchmarkIQ1VNNI(b *testing.B) {
	if !iq1On(tensor.IQ1_S) {
		b.Skip("IQ1_S and IQ1_M do not take the VNNI order on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	const n, k = 5632, 2048
	for _, dt := range iq1Types {
		w := typedWeight(b, rng, dt, n, k)
		for _, m := range []int{1, 16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			if err := p.MatMul(out, x, m, w); err != nil { // warm-up
				b.Fatal(err)
			}
			for _, v := range []string{"vnni", "old"} {
				b.Run(fmt.Sprintf("%v/%dx%d/m=%d/%s", dt, n, k, m, v), func(b *testing.B) {
					if v == "old" {
						s, mm := iq1SFns, iq1MFns
						iq1SFns, iq1MFns = nil, nil
						defer func() { iq1SFns, iq1MFns = s, mm }()
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
}

// BenchmarkIQ1Unpack measures the tile path's decoding alone (8 rows, kp512KB
// super-blocks a call, 512×2048 rows that stay in the L2 cache) per type, as thread CPU
// nanoseconds per row and super-block (cpu-ns/rowsb).
func BenchmarkIQ1Unpack(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, k = 512, 2048
	dst := make([]byte, kp512KB*8*q6KPBlock)
	for _, dt := range iq1Types {
		f := iq1Fns(dt)
		if f == nil {
			b.Skip("no assembly unpacker on this CPU")
		}
		w := randBlocks(rng, dt, n, k)
		rs, bb := len(w.Data)/n, dt.BlockBytes()
		b.Run(dt.String(), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for b.Loop() {
				for j := 0; j < n; j += 8 {
					for s0 := 0; s0 < k/256; s0 += kp512KB {
						gridUnpack8Asm(f, bb, dst, w.Data, rs, j, 8, s0, kp512KB)
					}
				}
			}
			b.ReportMetric((threadCPU()-t0)*1e9/float64(b.N)/float64(n*k/256), "cpu-ns/rowsb")
		})
	}
}
