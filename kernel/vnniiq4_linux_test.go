//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkVNNIIQ4XS compares, in one run, packed IQ4_XS products on the AVX-VNNI kernels
// ("vnni": vnniIQ4XSVec8 for one activation row, the vnniIQ4XSTile tiles with C
// activation rows a call for several) and on the AVX2 kernels they replace ("avx2":
// dotIQ4XSP_vec8 and the dotIQ4XSP tiles, the AVX-VNNI ones switched off for the run, as
// on a CPU without AVX-VNNI), with packed Q4_0 on its AVX2 kernels (dotQ4P_vec16, the
// dotQ4I tiles) as the yardstick, at the 1B model's MLP shapes for 1, 16 and 128
// activation rows, on one thread: GFLOP/s from the wall clock and from the thread's CPU
// time (cpu-GFLOP/s, the steadier figure on a shared machine). Run it as an AVX-VNNI CPU
// without AVX-512: GODEBUG=cpu.avx512f=off.
func BenchmarkVNNIIQ4XS(b *testing.B) {
	if kp512IQ4XSOn() || !vnniIQ4XSOn() {
		b.Skip("needs AVX-VNNI and no AVX-512 VNNI tiles (GODEBUG=cpu.avx512f=off)")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.IQ4_XS, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				variants := []string{"vnni", "avx2"}
				if dt == tensor.Q4_0 {
					variants = []string{"avx2"}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s/%s", n, k, m, dt, v), func(b *testing.B) {
						if v == "avx2" {
							t, v := vnniIQ4XSTiles, vnniIQ4XSVec
							vnniIQ4XSTiles, vnniIQ4XSVec = nil, nil
							defer func() { vnniIQ4XSTiles, vnniIQ4XSVec = t, v }()
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
