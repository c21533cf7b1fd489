//go:build !purego

package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// dotBF16DTiles are the VDPBF16PS tiles (dotBF16D_16xC), measured against the FMA pair
// panel tiles by BenchmarkBF16Z and not used by MatMul.
var dotBF16DTiles = [maxBF16ZC + 1]func(w *byte, ps int, x *uint32, xs int, k int, out *float32, os int){
	1: dotBF16D_16x1, 2: dotBF16D_16x2, 3: dotBF16D_16x3, 4: dotBF16D_16x4, 5: dotBF16D_16x5, 6: dotBF16D_16x6,
	7: dotBF16D_16x7, 8: dotBF16D_16x8, 9: dotBF16D_16x9, 10: dotBF16D_16x10, 11: dotBF16D_16x11, 12: dotBF16D_16x12,
}

// splitBF16Pairs lays out m activation rows of k values (k even) for dotBF16D: per row,
// per element pair, the hi, mid and lo pairs of splitBF16.
func splitBF16Pairs(xp []uint32, x []float32, m, k int) {
	for i := 0; i < m; i++ {
		for q := 0; q < k/2; q++ {
			h0, m0, l0 := splitBF16(x[i*k+2*q])
			h1, m1, l1 := splitBF16(x[i*k+2*q+1])
			o := xp[(i*k/2+q)*3:]
			o[0], o[1], o[2] = h0|h1<<16, m0|m1<<16, l0|l1<<16
		}
	}
}

// dpbf16Go emulates VDPBF16PS on one lane (Intel SDM): acc += a.hi·b.hi, then += a.lo·b.lo,
// products exact, sums rounded to nearest even, denormal inputs and results flushed to
// zero.
func dpbf16Go(acc float32, a, b uint32) float32 {
	daz := func(v float32) float32 {
		if v != 0 && math.Abs(float64(v)) < 0x1p-126 {
			return float32(math.Copysign(0, float64(v)))
		}
		return v
	}
	bf := func(h uint32) float32 { return daz(math.Float32frombits(h << 16)) }
	acc = daz(acc)
	acc = daz(acc + bf(a>>16)*bf(b>>16))
	return daz(acc + bf(a&0xffff)*bf(b&0xffff))
}

// matMulBF16D is MatMul for pair panels with the VDPBF16PS tiles (k even), in the pieces
// and tiles of matMulBF16Z but one panel at a time; xp has room for splitBF16Pairs.
func (p *Pool) matMulBF16D(out, x []float32, m, n, k int, w []byte, xp []uint32) {
	splitBF16Pairs(xp, x, m, k)
	ps := 64 * (k / 2)
	p.runGrain(n, 2*bf16Panel, func(lo, hi int) {
		var tmp [maxBF16ZC * bf16Panel]float32
		for i0 := 0; i0 < m; i0 += mBlockBF16P {
			i1 := min(m, i0+mBlockBF16P)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for l0 := 0; l0 < k; l0 += kBlockBF16P {
				kc := min(kBlockBF16P, k-l0)
				for j := lo; j < hi; j += bf16Panel {
					pw := &w[j/bf16Panel*ps+32*l0]
					r := min(bf16Panel, hi-j)
					for i := i0; i < i1; i += maxBF16ZC {
						c := min(maxBF16ZC, i1-i)
						px := &xp[(i*k+l0)/2*3]
						if r == bf16Panel {
							dotBF16DTiles[c](pw, ps, px, 6*k, kc, &out[i*n+j], 4*n)
							continue
						}
						for a := 0; a < c; a++ {
							copy(tmp[bf16Panel*a:bf16Panel*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						dotBF16DTiles[c](pw, ps, px, 6*k, kc, &tmp[0], 4*bf16Panel)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[bf16Panel*a:bf16Panel*a+r])
						}
					}
				}
			}
		}
	})
}

// TestDotBF16D: the VDPBF16PS tiles give, bit for bit, the plain-Go emulation of
// VDPBF16PS on their parts (lo, mid, hi per element pair into one accumulator, from
// zero, then added to out), and agree with a float64 product within float32 rounding.
func TestDotBF16D(t *testing.T) {
	if !bf16Pairs() || !cpu.X86.HasAVX512BF16 {
		t.Skip("needs AVX512_BF16 and the pair panels")
	}
	rng := rand.New(rand.NewPCG(20, 12))
	for _, k := range []int{2, 6, 512} {
		for c := 1; c <= maxBF16ZC; c++ {
			const n = 16
			w, dec := randWeight(t, rng, tensor.BF16, n, k)
			panel := packBF16ForTest(w)
			x := randVec(rng, c*k)
			xp := make([]uint32, c*k/2*3)
			splitBF16Pairs(xp, x, c, k)
			got := make([]float32, c*n)
			for i := range got {
				got[i] = float32(i) // added to
			}
			dotBF16DTiles[c](&panel[0], 0, &xp[0], 6*k, k, &got[0], 4*n)
			want := make([]float32, c*n)
			for i := 0; i < c; i++ {
				for r := 0; r < n; r++ {
					var acc float32
					for q := 0; q < k/2; q++ {
						wq := uint32(tensor.F32ToBF16(dec[r*k+2*q])) | uint32(tensor.F32ToBF16(dec[r*k+2*q+1]))<<16
						for part := 2; part >= 0; part-- { // lo, mid, hi
							acc = dpbf16Go(acc, wq, xp[(i*k/2+q)*3+part])
						}
					}
					want[i*n+r] = float32(i*n+r) + acc
				}
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("k=%d C=%d: output %d = %g, emulated %g", k, c, i, got[i], want[i])
				}
			}
			ref := make([]float32, c*n)
			for i := 0; i < c; i++ {
				for r := 0; r < n; r++ {
					s := float64(i*n + r)
					for l := 0; l < k; l++ {
						s += float64(x[i*k+l]) * float64(dec[r*k+l])
					}
					ref[i*n+r] = float32(s)
				}
			}
			scale := absDots(x, dec, c, n, k)
			for i := range scale {
				scale[i] += float64(i)
			}
			checkClose(t, fmt.Sprintf("dotBF16D k=%d C=%d", k, c), got, ref, scale, 1e-5)
		}
	}
}

// BenchmarkBF16Z compares, for BF16 weights at the 1b preset's shapes, the AVX-512 float
// tiles on the rows as stored ("f512"), the FMA pair panel kernels MatMul uses ("z") and
// the VDPBF16PS tiles with activations split in three parts ("dp", activation split
// included), in GFLOP/s (and with one thread, cpu-GFLOP/s from the thread's CPU time,
// which holds better on a shared machine). BF16Z_SHAPES=N,K;N,K... picks other shapes.
func BenchmarkBF16Z(b *testing.B) {
	if !bf16Pairs() || !cpu.X86.HasAVX512BF16 || matMulFloatWide == nil {
		b.Skip("needs AVX-512 with AVX512_BF16")
	}
	shapes := [][2]int{{2048, 2048}, {256, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}}
	if s := os.Getenv("BF16Z_SHAPES"); s != "" {
		shapes = nil
		var n, k int
		for _, f := range strings.Split(s, ";") {
			if _, err := fmt.Sscanf(f, "%d,%d", &n, &k); err != nil {
				b.Fatalf("BF16Z_SHAPES=%q: want N,K;N,K", s)
			}
			shapes = append(shapes, [2]int{n, k})
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, sh := range shapes {
		n, k := sh[0], sh[1]
		w, _ := randWeight(b, rng, tensor.BF16, n, k)
		wp := *w
		wp.Packed = packBF16ForTest(w)
		for _, m := range []int{1, 16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			xp := make([]uint32, m*k/2*3)
			for _, v := range []string{"f512", "z", "dp"} {
				if v == "dp" && m == 1 {
					continue
				}
				b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, v), func(b *testing.B) {
					p := NewPool(runtime.GOMAXPROCS(0))
					defer p.Close()
					if p.Threads() == 1 {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
					}
					t0, pt0 := threadCPU(), processCPU()
					for b.Loop() {
						switch v {
						case "f512":
							p.MatMul(out, x, m, w)
						case "z":
							p.MatMul(out, x, m, &wp)
						case "dp":
							p.matMulBF16D(out, x, m, n, k, wp.Packed, xp)
						}
					}
					b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if p.Threads() == 1 {
						b.ReportMetric(2*float64(m*n*k)*float64(b.N)/(threadCPU()-t0)/1e9, "cpu-GFLOP/s")
					} else {
						// GFLOP/s per CPU second of the process (idle waits and spinning
						// count, other processes do not): a steadier figure than the
						// wall clock with several threads on a shared machine.
						b.ReportMetric(2*float64(m*n*k)*float64(b.N)/(processCPU()-pt0)/1e9*float64(p.Threads()), "proc-GFLOP/s")
					}
				})
			}
		}
	}
}

// BenchmarkBF16ZTile runs one 32×12 tile over a piece of kBlockBF16P elements again and
// again (weights and activations in L1): the ceiling of the pair panel kernels, in
// GFLOP/s of the thread's CPU time, for the shapes of BenchmarkBF16Z to be read against.
func BenchmarkBF16ZTile(b *testing.B) {
	if !bf16Pairs() {
		b.Skip("needs the AVX-512 pair panel kernels")
	}
	rng := rand.New(rand.NewPCG(3, 5))
	const n, k, c = 2 * bf16Panel, kBlockBF16P, maxBF16ZC
	w, _ := randWeight(b, rng, tensor.BF16, n, k)
	panels := packBF16ForTest(w)
	ps := bf16PanelStride(k)
	xk := bf16zStride(k)
	x := randVec(rng, c*xk)
	out := make([]float32, c*n)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	for b.Loop() {
		bf16zTiles[2][c](&panels[0], ps, &x[0], 4*xk, k, &out[0], 4*n)
	}
	b.ReportMetric(2*float64(n*k*c)*float64(b.N)/(threadCPU()-t0)/1e9, "cpu-GFLOP/s")
}
