//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkQ2KVNNI compares, in one run, Q2_K, TQ2_0, TQ1_0 and Q8_K products in the
// VNNI order ("vnni": q2KDot8AVX512 / tq20Dot8AVX512 / tq10Dot8AVX512 / q8KDot8AVX512 for
// m = 1, the q2KTile512 tiles on decoded pieces for m > 1) with the kernels they replace
// ("old": dotQ2KAVX512 / dotTQ20AVX / dotTQ10AVX / dotQ8KAVX for m = 1 and the AVX2 1×C
// tiles, the VNNI order switched off for the run), and Q4_0 on its own path, at the 1B
// model's MLP shapes for m = 1, 16 and 128, on one thread: GFLOP/s from the wall clock and
// from the thread's CPU time (cpu-GFLOP/s, the steadier figure on a shared machine).
func BenchmarkQ2KVNNI(b *testing.B) {
	if !q2KVNNIOn() {
		b.Skip("Q2_K does not take the VNNI order on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.Q2_K, tensor.TQ2_0, tensor.TQ1_0, tensor.Q8_K, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			if dt == tensor.Q4_0 {
				p.Pack([]*tensor.Tensor{w})
			}
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				if err := p.MatMul(out, x, m, w); err != nil { // warm-up
					b.Fatal(err)
				}
				variants := []string{"vnni", "old"}
				if dt == tensor.Q4_0 {
					variants = []string{"q4_0"}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/%s/m=%d/%s", n, k, dt, m, v), func(b *testing.B) {
						if v == "old" {
							f := q2KTiles512
							q2KTiles512 = nil
							defer func() { q2KTiles512 = f }()
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
}

// BenchmarkQ2KUnpack measures the tile path's decoding alone (8 rows, kp512KB
// super-blocks a call, 512×2048 rows that stay in the L2 cache), as thread CPU
// nanoseconds per row and super-block (cpu-ns/rowsb): "go" q2KUnpack8, "asm" q2KUnpack512.
func BenchmarkQ2KUnpack(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, k = 512, 2048
	w := randBlocks(rng, tensor.Q2_K, n, k)
	rs := len(w.Data) / n
	dst := make([]byte, kp512KB*8*q2KPBlock)
	for _, u := range []struct {
		name   string
		on     bool
		unpack func(dst, data []byte, rs, j, rows, s0, sc int)
	}{{"go", true, q2KUnpack8}, {"asm", q2KUnpackVec != nil, q2KUnpack8Asm}} {
		if !u.on {
			continue
		}
		b.Run(u.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			for b.Loop() {
				for j := 0; j < n; j += 8 {
					for s0 := 0; s0 < k/256; s0 += kp512KB {
						u.unpack(dst, w.Data, rs, j, 8, s0, kp512KB)
					}
				}
			}
			b.ReportMetric((threadCPU()-t0)*1e9/float64(b.N)/float64(n*k/256), "cpu-ns/rowsb")
		})
	}
}
