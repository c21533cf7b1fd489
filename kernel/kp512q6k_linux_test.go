//go:build !purego

package kernel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// benchQ6KWeight returns an n×k Q6_K matrix of random bytes with sane scales d (faster to
// make than randWeight's encoded one, for benchmarks).
func benchQ6KWeight(rng *rand.Rand, n, k int) *tensor.Tensor {
	w := randBlocks(rng, tensor.Q6_K, n, k)
	for b := 0; b < len(w.Data)/210; b++ {
		binary.LittleEndian.PutUint16(w.Data[210*b+208:], tensor.F32ToF16((rng.Float32()-0.3)*0.02))
	}
	return w
}

// benchQ4KWeight returns an n×k Q4_K matrix of random bytes with sane d and dmin.
func benchQ4KWeight(rng *rand.Rand, n, k int) *tensor.Tensor {
	w := randBlocks(rng, tensor.Q4_K, n, k)
	for b := 0; b < len(w.Data)/144; b++ {
		binary.LittleEndian.PutUint16(w.Data[144*b:], tensor.F32ToF16(rng.Float32()*0.01))
		binary.LittleEndian.PutUint16(w.Data[144*b+2:], tensor.F32ToF16(rng.Float32()*0.01))
	}
	return w
}

// BenchmarkKP512Q6K compares, in one run, packed Q6_K products with 16 and 128 activation
// rows on the kp512 tiles with Q4_0 on its own path at the 1B model's shapes on one
// thread (cpu-GFLOP/s from the thread's CPU time). KP512Q6K_SHAPE (NxK) picks one shape,
// KP512Q6K_VARIANTS (comma-separated, default "kp512,q4_0") the variants: kp512 (as
// MatMul runs it), piece (kp512Rows in its piece-major order), avx2unpack (q6KPUnpackAVX
// for kp512Q6KUnpack512), nopf (no software prefetch), q4_0 (Q4_0 weights of the same
// shape), q4_K and q4_K-piece, iq4_xs and iq4_xs-piece (packed Q4_K or IQ4_XS weights,
// as kp512 and piece).
func BenchmarkKP512Q6K(b *testing.B) {
	if !kp512On(true) {
		b.Skip("no kp512 tiles on this CPU")
	}
	variants := []string{"kp512", "q4_0"}
	if v := os.Getenv("KP512Q6K_VARIANTS"); v != "" {
		variants = strings.Split(v, ",")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}, {32000, 2048}} {
		n, k := sh[0], sh[1]
		if v := os.Getenv("KP512Q6K_SHAPE"); v != "" && v != fmt.Sprintf("%dx%d", n, k) {
			continue
		}
		w6 := benchQ6KWeight(rng, n, k)
		w4 := randBlocks(rng, tensor.Q4_0, n, k)
		var wk, wi *tensor.Tensor
		if strings.Contains(strings.Join(variants, ","), "q4_K") {
			wk = benchQ4KWeight(rng, n, k)
			p.Pack([]*tensor.Tensor{wk})
		}
		if strings.Contains(strings.Join(variants, ","), "iq4_xs") {
			wi = randBlocks(rng, tensor.IQ4_XS, n, k)
			p.Pack([]*tensor.Tensor{wi})
		}
		p.Pack([]*tensor.Tensor{w6, w4})
		for _, m := range []int{16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			for _, v := range variants {
				w := w6
				switch {
				case v == "q4_0":
					w = w4
				case strings.HasPrefix(v, "q4_K"):
					w = wk
				case strings.HasPrefix(v, "iq4_xs"):
					w = wi
				}
				b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, v), func(b *testing.B) {
					if v == "avx2unpack" { // the AVX2 unpacker before the Q6_K tiles
						old := kp512Q6KUnpack
						kp512Q6KUnpack = q6KPUnpack
						defer func() { kp512Q6KUnpack = old }()
					}
					if v == "nopf" { // no software prefetch in kp512Rows
						old := kp512Prefetch
						kp512Prefetch = nil
						defer func() { kp512Prefetch = old }()
					}
					if strings.HasSuffix(v, "piece") { // kp512Rows's piece-major order
						old := kp512XRowsMax
						kp512XRowsMax = 0
						defer func() { kp512XRowsMax = old }()
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
					b.ReportMetric(2*float64(m*n*k)/sec/1e9, "cpu-GFLOP/s")
				})
			}
		}
	}
}
