//go:build amd64 && !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// skipNoFloat512 skips t where the AVX-512 float path is not in use.
func skipNoFloat512(t testing.TB) {
	t.Helper()
	if matMulFloatWide == nil {
		t.Skipf("AVX-512 float kernels not in use (AVX2 path %v, AVX512F %v, AVX512BW %v, AVX512VL %v)",
			useAsm, cpu.X86.HasAVX512F, cpu.X86.HasAVX512BW, cpu.X86.HasAVX512VL)
	}
}

// TestMatMulFloat512 compares the AVX-512 float matrix product with the plain
// decode-and-dot version for F32, BF16 and F16 weights on ragged shapes: m not a
// multiple of the tile's activation rows, n not a multiple of its weight rows, k not a
// multiple of 16 (and below 16), and k past one k-block; with F32 weights, m from 2 to
// 16 takes the one-row kernels (several k-blocks: their first, middle and last modes).
func TestMatMulFloat512(t *testing.T) {
	skipNoFloat512(t)
	rng := rand.New(rand.NewPCG(5, 12))
	ms := []int{1, 2, 3, 5, 8, 15, 16, 17, 33, 130}
	ns := []int{1, 3, 6, 13, 37}
	ks := []int{1, 5, 15, 16, 17, 100, 1040, 2061}
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, dt := range floatTypes {
			for _, k := range ks {
				for _, n := range ns {
					for _, m := range ms {
						if threads == 1 && (m > 17 || k > 100) {
							continue
						}
						if m*n*k > 1<<21 {
							continue
						}
						w, dec := randWeight(t, rng, dt, n, k)
						x := randVec(rng, m*k)
						got := make([]float32, m*n)
						for i := range got {
							got[i] = float32(i) // must be overwritten
						}
						want := make([]float32, m*n)
						rs, _ := dt.RowBytes(k)
						if !matMulFloat512(p, got, x, m, n, k, w.Data, rs, dt) {
							t.Fatalf("%s m=%d n=%d k=%d: declined", dt, m, n, k)
						}
						matMulGeneric(nil, want, x, m, n, k, w.Data, rs, dt)
						name := fmt.Sprintf("%s m=%d n=%d k=%d threads=%d", dt, m, n, k, threads)
						checkClose(t, name, got, want, absDots(x, dec, m, n, k), 1e-5)
					}
				}
			}
		}
		p.Close()
	}
}

// TestFloat512TilesExact checks each tile shape on small integer values, whose dot
// products are exact in float32, so that any misplaced or dropped term shows; the tiles
// must add to out. The panels are packed by packF32x16, and the BF16 and F16 packing
// must be exact, with zeros past n.
func TestFloat512TilesExact(t *testing.T) {
	skipNoFloat512(t)
	rng := rand.New(rand.NewPCG(7, 8))
	small := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.IntN(9) - 4)
		}
		return v
	}
	for r := 1; r <= f512R; r++ {
		for c := 1; c <= f512C; c++ {
			f := f512Tiles[r][c]
			if f == nil {
				continue
			}
			for _, k := range []int{0, 3, 16, 45, 64} {
				ws, xs, os := 64+3, 64+5, 9 // row strides in floats
				w, x, out := small(r*ws), small(c*xs), small(c*os)
				want := append([]float32(nil), out...)
				for i := 0; i < c; i++ {
					for j := 0; j < r; j++ {
						for l := 0; l < k; l++ {
							want[i*os+j] += x[i*xs+l] * w[j*ws+l]
						}
					}
				}
				f(&w[0], 4*ws, &x[0], 4*xs, k, &out[0], 4*os)
				for i := range want {
					if out[i] != want[i] {
						t.Errorf("tile %dx%d k=%d: out[%d] = %g, want %g", r, c, k, i, out[i], want[i])
					}
				}
			}
		}
	}
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		pack := packBF16x16
		if dt == tensor.F16 {
			pack = packF16x16
		}
		for _, n := range []int{1, 15, 16, 17, 40, 64} {
			v := small(n)
			src := make([]byte, n*dt.BlockBytes())
			if err := tensor.EncodeRow(src, v, dt); err != nil {
				t.Fatal(err)
			}
			const ds = 3 * 16 // 3 rows interleaved: write row 1 of 3
			dst := small((n + 15) / 16 * ds)
			want := append([]float32(nil), dst...)
			for i := 0; i < (n+15)&^15; i++ {
				want[i/16*ds+16+i%16] = 0
				if i < n {
					want[i/16*ds+16+i%16] = v[i]
				}
			}
			pack(&dst[16], 4*ds, &src[0], n)
			for i := range dst {
				if dst[i] != want[i] {
					t.Errorf("%s packing n=%d: [%d] = %g, want %g", dt, n, i, dst[i], want[i])
				}
			}
		}
	}
}

// TestMatMulFloat512Declines checks that the AVX-512 path leaves other weight types to
// the other kernels.
func TestMatMulFloat512Declines(t *testing.T) {
	skipNoFloat512(t)
	out, x := make([]float32, 4), make([]float32, 64)
	if matMulFloat512(nil, out, x, 2, 2, 32, make([]byte, 2*34), 34, tensor.Q8_0) {
		t.Error("took Q8_0")
	}
}

// TestMatMulFloat512Invariant checks that each output is bit-identical whatever the
// number of activation rows and wherever its row falls in the tiles (m = 1 included,
// and with F32 weights m ≤ 16 on the one-row kernels against 17 rows on the tiles), the
// property behind the model's batch invariance.
func TestMatMulFloat512Invariant(t *testing.T) {
	skipNoFloat512(t)
	rng := rand.New(rand.NewPCG(10, 11))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range floatTypes {
		for _, k := range []int{7, 100, 2061} {
			const n = 13
			w, _ := randWeight(t, rng, dt, n, k)
			rs, _ := dt.RowBytes(k)
			x := randVec(rng, 17*k)
			all := make([]float32, 17*n)
			if !matMulFloat512(p, all, x, 17, n, k, w.Data, rs, dt) {
				t.Fatal("declined")
			}
			for _, m := range []int{1, 2, 5, 16} {
				for i0 := 0; i0+m <= 17; i0 += 3 {
					got := make([]float32, m*n)
					if !matMulFloat512(p, got, x[i0*k:(i0+m)*k], m, n, k, w.Data, rs, dt) {
						t.Fatal("declined")
					}
					for i := range got {
						if got[i] != all[i0*n+i] {
							t.Fatalf("%s k=%d m=%d rows from %d: out[%d] = %g, with 17 rows %g", dt, k, m, i0, i, got[i], all[i0*n+i])
						}
					}
				}
			}
		}
	}
}

// BenchmarkMatMulFloat512 compares the AVX-512 float path with the AVX2 tiles on one
// thread ([512, 2048] weights, m = 1, 16 and 128), reporting GFLOP/s.
func BenchmarkMatMulFloat512(b *testing.B) {
	skipNoFloat512(b)
	rng := rand.New(rand.NewPCG(9, 9))
	const n, k = 512, 2048
	for _, dt := range floatTypes {
		w, _ := randWeight(b, rng, dt, n, k)
		rs, _ := dt.RowBytes(k)
		for _, m := range []int{1, 16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			for _, wide := range []bool{false, true} {
				path := "avx2"
				if wide {
					path = "avx512"
				}
				b.Run(fmt.Sprintf("%s/m=%d/%s", dt, m, path), func(b *testing.B) {
					save := matMulFloatWide
					if !wide {
						matMulFloatWide = nil
					}
					defer func() { matMulFloatWide = save }()
					var p *Pool
					for b.Loop() {
						p.matMulFloat(out, x, m, n, k, w.Data, rs, dt)
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(2*float64(m*n*k)/sec/1e9, "GFLOP/s")
				})
			}
		}
	}
}
