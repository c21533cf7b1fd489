//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkKP512IQ4XS compares, in one run, packed IQ4_XS products on the kp512 IQ4_XS
// kernels ("kp512": kp512IQ4XSVec8 for one activation row, the tiles for several) and on
// the AVX2 kernels they replace ("avx2": dotIQ4XSP_vec8 and the dotIQ4XSP tiles, the kp512
// ones switched off for the run), with packed Q4_K alongside, at the 1B model's MLP
// shapes for 1, 16 and 128 activation rows,
// on one thread: GFLOP/s from the wall clock and from the thread's CPU time
// (cpu-GFLOP/s, the steadier figure on a shared machine).
func BenchmarkKP512IQ4XS(b *testing.B) {
	if !kp512IQ4XSOn() || !kp512On(false) {
		b.Skip("no kp512 tiles on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.IQ4_XS, tensor.Q4_K} {
			w := typedWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				variants := []string{"kp512", "avx2"}
				if dt == tensor.Q4_K {
					variants = variants[:1]
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s/%s", n, k, m, dt, v), func(b *testing.B) {
						if v == "avx2" {
							t, v := kp512IQ4XSTiles, kp512IQ4XSVec
							kp512IQ4XSTiles, kp512IQ4XSVec = nil, nil
							defer func() { kp512IQ4XSTiles, kp512IQ4XSVec = t, v }()
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
