//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkIQ2XSVNNI compares, in one run, IQ2_XS products in the VNNI order ("vnni":
// dotIQ2XS32AVX512 for m = 1, the kp512 Q6_K tiles on decoded pieces for m > 1) with the
// kernels they replace ("old": dotIQ2XSAVX512 and the AVX2 1×C tiles, the VNNI order
// switched off for the run), and Q4_0 on its own path, at the 1B model's MLP shapes for
// m = 1, 16 and 128, on one thread: GFLOP/s from the wall clock and from the thread's CPU
// time (cpu-GFLOP/s, the steadier figure on a shared machine).
func BenchmarkIQ2XSVNNI(b *testing.B) {
	if !iq2XSVNNIOn() {
		b.Skip("IQ2_XS does not take the VNNI order on this CPU")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.IQ2_XS, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			if dt == tensor.Q4_0 {
				p.Pack([]*tensor.Tensor{w})
			}
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				if err := p.MatMul(out, x, m, w); err != nil { // warm-up: the first call after w is made runs slow
					b.Fatal(err)
				}
				variants := []string{"vnni", "old"}
				if m > 1 && iq2XSUnpackVBMIVec != nil {
					variants = []string{"vnni", "vnni-gridload", "old"}
				}
				if dt == tensor.Q4_0 {
					variants = []string{"q4_0"}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, v), func(b *testing.B) {
						if v == "vnni-gridload" {
							f := iq2XSUnpack
							iq2XSUnpack = iq2XSUnpack8Asm
							defer func() { iq2XSUnpack = f }()
						}
						if v == "old" {
							f := dotIQ2XS32Vec
							dotIQ2XS32Vec = nil
							defer func() { dotIQ2XS32Vec = f }()
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

// BenchmarkIQ2XSUnpack measures the tile path's decoding alone (8 rows, kp512KB
// super-blocks a call, 512×2048 rows that stay in the L2 cache), as thread CPU
// nanoseconds per row and super-block (cpu-ns/rowsb): "gridload" iq2XSUnpackAVX512 (scalar
// grid loads), "vbmi" iq2XSUnpackVBMI (codes looked up in vectors), "avx2"
// iq2XSUnpackAVX2, where the CPU has them.
func BenchmarkIQ2XSUnpack(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, k = 512, 2048
	w := randBlocks(rng, tensor.IQ2_XS, n, k)
	rs := len(w.Data) / n
	dst := make([]byte, kp512KB*8*q6KPBlock)
	unpackers := []struct {
		name   string
		on     bool
		unpack func(dst, data []byte, rs, j, rows, s0, sc int)
	}{
		{"go", true, iq2XSUnpack8},
		{"gridload", iq2XSUnpackVec != nil, iq2XSUnpack8Asm},
		{"vbmi", iq2XSUnpackVBMIVec != nil, iq2XSUnpack8VBMI},
		{"avx2", iq2XSUnpackAVX2Vec != nil, iq2XSUnpack8AVX2},
	}
	for _, u := range unpackers {
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

// BenchmarkIQ2XSAVX2 compares, in one run, IQ2_XS products on the AVX2 path ("avx2":
// iq2XSUnpackAVX2 and the dotIQ2XSP tiles, iq2xsavx2.go) with the kernels it replaces
// ("old": dotIQ2XSAVX and the AVX2 1×C tiles, the path switched off for the run), and
// Q4_0 on its own path, at the 1B model's MLP shapes for m = 1, 16 and 128, on one
// thread, as BenchmarkIQ2XSVNNI reports them. Run it with GODEBUG=cpu.avx512f=off (an
// AVX2-only CPU); elsewhere it skips.
func BenchmarkIQ2XSAVX2(b *testing.B) {
	if !iq2XSAVX2On() {
		b.Skip("IQ2_XS does not take the AVX2 path on this CPU (run with GODEBUG=cpu.avx512f=off)")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		for _, dt := range []tensor.DType{tensor.IQ2_XS, tensor.Q4_0} {
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
				variants := []string{"avx2", "old"}
				if dt == tensor.Q4_0 {
					variants = []string{"q4_0"}
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, v), func(b *testing.B) {
						if v == "old" {
							f := iq2XSPTiles
							iq2XSPTiles = [iq2XSPC + 1]q6KPTileFn{}
							defer func() { iq2XSPTiles = f }()
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
