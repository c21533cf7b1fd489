//go:build amd64 && !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"unsafe"

	"github.com/decilm/decilm/tensor"
)

// clonePacked returns a copy of w laid out by Pack.
func clonePacked(t *testing.T, p *Pool, w *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	c := *w
	c.Packed = nil
	if p.Pack([]*tensor.Tensor{&c}) == 0 || c.Packed == nil {
		t.Fatalf("%s: Pack did not lay out the weights", w.DType)
	}
	return &c
}

// TestPackedMatMul runs the packed kernels (one activation row on AVX-512 VNNI, more on
// the tile unit) on ragged shapes: activation rows not a multiple of 16, weight rows not
// a multiple of 16 (the short last group), odd block counts. Their outputs must equal the
// unpacked paths' bit for bit (the same block sums and float operations), and the plain
// Go product within its tolerance.
func TestPackedMatMul(t *testing.T) {
	if packedMatMuls == nil {
		t.Skip("this CPU offers no AMX-INT8 with AVX-512 VNNI (or DECILM_NO_AMX is set): the packed kernels cannot run here")
	}
	rng := rand.New(rand.NewPCG(35, 36))
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
			for _, k := range []int{32, 64, 96, 160, 2080} {
				for _, n := range []int{1, 15, 16, 17, 33, 100} {
					w, dec := randWeight(t, rng, dt, n, k)
					wp := clonePacked(t, p, w)
					rs, _ := dt.RowBytes(k)
					for _, m := range []int{1, 2, 5, 16, 17, 33, 40} {
						x := randVec(rng, m*k)
						name := fmt.Sprintf("packed %s m=%d n=%d k=%d threads=%d", dt, m, n, k, threads)
						got := make([]float32, m*n)
						for i := range got {
							got[i] = float32(i) // every output must be written
						}
						if err := p.MatMul(got, x, m, wp); err != nil {
							t.Fatal(err)
						}
						same := make([]float32, m*n)
						if err := p.MatMul(same, x, m, w); err != nil {
							t.Fatal(err)
						}
						for i := range got {
							if got[i] != same[i] {
								t.Fatalf("%s: output %d = %g, the unpacked path gives %g", name, i, got[i], same[i])
							}
						}
						xq, xd, deq := quantRef(x, m, k)
						want := make([]float32, m*n)
						matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
						checkClose(t, name, got, want, quantScale(t, w, deq, dec, m), 1e-5)
					}
				}
			}
		}
		p.Close()
	}
}

// TestPackedExtremes runs int8 extremes through the packed kernels: -128 weights (which
// the one-row Q8_0 kernel meets as 0 after its +128 offset), activations at ±127 and
// block sums near their largest, with scales that keep every product exact.
func TestPackedExtremes(t *testing.T) {
	if packedMatMuls == nil {
		t.Skip("this CPU offers no AMX-INT8 with AVX-512 VNNI (or DECILM_NO_AMX is set): the packed kernels cannot run here")
	}
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		const n, k = 18, 96
		rs, _ := dt.RowBytes(k)
		bb := dt.BlockBytes()
		data := make([]byte, n*rs)
		for j := 0; j < n; j++ {
			for b := 0; b < k/32; b++ {
				blk := data[j*rs+bb*b:]
				blk[0], blk[1] = 0x00, 0x3c // scale 1.0
				for l := 2; l < bb; l++ {
					v := byte(0x80) // Q8_0: -128
					if dt == tensor.Q4_0 {
						v = 0x00 // both nibbles -8
					}
					if (j+l)%3 == 0 {
						v = 0x7f // Q8_0: 127; Q4_0: 7 and -1
					}
					blk[l] = v
				}
			}
		}
		w := &tensor.Tensor{Name: "extremes", DType: dt, Shape: []int{n, k}, Data: data}
		wp := clonePacked(t, p, w)
		for _, m := range []int{1, 17} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = -127
				if i%5 == 0 {
					x[i] = 127
				}
			}
			got := make([]float32, m*n)
			if err := p.MatMul(got, x, m, wp); err != nil {
				t.Fatal(err)
			}
			xq, xd, _ := quantRef(x, m, k)
			want := make([]float32, m*n)
			matMulQuantGeneric(nil, want, xq, xd, m, n, k, data, rs, dt)
			for i := range got {
				if got[i] != want[i] { // integer sums times 1: exact
					t.Fatalf("%s m=%d [%d]: got %g, want %g", dt, m, i, got[i], want[i])
				}
			}
		}
	}
}

// BenchmarkPackedDRAM measures the packed kernels on 1 GiB of weights, more than twice
// the largest last-level cache seen here (480 MiB, where 256 MiB of Q8_0 weights streamed
// at 37 GB/s against 30 GB/s for 1 GiB: part of the reads hit the cache), so that
// they stream from memory as a model's do: m = 1 (decoding one sequence) and m = 16 (16
// sequences a step). GB/s compares with BenchmarkBandwidth. PKMB=n sets the size in MiB
// (a few MiB stay in the caches), PKK=k the row length (default 2048).
func BenchmarkPackedDRAM(b *testing.B) {
	if packedMatMuls == nil {
		b.Skip("no packed kernels on this CPU")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	k := 2048
	if v := os.Getenv("PKK"); v != "" {
		k, _ = strconv.Atoi(v)
	}
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		rs, _ := dt.RowBytes(k)
		mb := 1024
		if v := os.Getenv("PKMB"); v != "" {
			mb, _ = strconv.Atoi(v)
		}
		n := (mb << 20) / rs &^ 15
		w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
		fillNormal(rng, w)
		p.Pack([]*tensor.Tensor{w})
		for _, m := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/m=%d", dt, m), func(b *testing.B) {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				b.SetBytes(int64(len(w.Data)))
				for b.Loop() {
					if err := p.MatMul(out, x, m, w); err != nil {
						b.Fatal(err)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(len(w.Data))/sec/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkPackedModel runs one-row products on packed Q8_0 and Q4_0 matrices of a 1B
// model's shapes in a model's order (22 layers of Q/K/V, O, gate/up and down, the KV heads
// 4, 2, 1 in turn: 1.1 and 0.6 GB), as generation does, reporting the weights' GB/s:
// compared with BenchmarkPackedDRAM (one large matrix) it shows what starting each
// product costs.
func BenchmarkPackedModel(b *testing.B) {
	if packedMatMuls == nil {
		b.Skip("no packed kernels on this CPU")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(4, 4))
	const H, F, L = 2048, 5632, 22
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		mk := func(n, k int) *tensor.Tensor {
			rs, _ := dt.RowBytes(k)
			w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
			fillNormal(rng, w)
			return w
		}
		var all []*tensor.Tensor
		bytes := 0
		for l := 0; l < L; l++ {
			kv := 64 * []int{4, 2, 1}[l%3]
			for _, s := range [][2]int{{H, H}, {kv, H}, {kv, H}, {H, H}, {F, H}, {F, H}, {H, F}} {
				w := mk(s[0], s[1])
				all = append(all, w)
				bytes += len(w.Data)
			}
		}
		p.Pack(all)
		x := randVec(rng, F)
		o1, o2, o3 := make([]float32, F), make([]float32, F), make([]float32, F)
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(bytes))
			for b.Loop() {
				for l := 0; l < L; l++ {
					w := all[7*l : 7*l+7]
					p.MatMuls([][]float32{o1, o2, o3}, x[:H], 1, w[0:3])
					p.MatMul(o1, x[:H], 1, w[3])
					p.MatMuls([][]float32{o1, o2}, x[:H], 1, w[4:6])
					p.MatMul(o1, x[:F], 1, w[6])
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(bytes)/sec/1e9, "GB/s")
		})
		all = nil
	}
}

// BenchmarkPackedTileCache times the Q8_0 tile kernel alone on one thread, on four packed
// groups that stay in the caches (16 activation rows, k = 2048), per block of 16 weight
// rows × 16 rows: the arithmetic's share of a block, which BenchmarkPackedDRAM's m = 16
// figure adds memory time to.
func BenchmarkPackedTileCache(b *testing.B) {
	if packedMatMuls == nil {
		b.Skip("no packed kernels on this CPU")
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const k, n = 2048, 64
	nb := k / 32
	rs, _ := tensor.Q8_0.RowBytes(k)
	w := &tensor.Tensor{Name: "w", DType: tensor.Q8_0, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	fillNormal(rng, w)
	p := NewPool(1)
	defer p.Close()
	p.Pack([]*tensor.Tensor{w})
	gs, qoff := packLayout(tensor.Q8_0, k)
	a := new(pkActivations)
	a.prepare(p, randVec(rng, 16*k), 16, k, []pkJob{{dt: tensor.Q8_0}})
	cbuf := make([]int32, 2560)
	out := make([]float32, 16*n)
	blocks := 0
	for b.Loop() {
		for g := 0; g < n/16; g++ {
			pkTile(&amxConfigPacked[0], &w.Packed[g*gs+qoff], (*uint16)(unsafe.Pointer(&w.Packed[g*gs])), &a.a[0], &a.dt[0], nb, 1, &cbuf[0], &out[16*g], 4*n)
		}
		blocks += n / 16 * nb
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(blocks), "ns/block")
}

// BenchmarkPackedCallSize streams 1 GiB of packed Q8_0 weights (k = 2048) through
// one-row products, as matrices of 1, 4, 16 or 1024 MiB one after another: the fixed cost
// of each call shows as the GB/s lost at the small sizes.
func BenchmarkPackedCallSize(b *testing.B) {
	if packedMatMuls == nil {
		b.Skip("no packed kernels on this CPU")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(6, 6))
	const k = 2048
	rs, _ := tensor.Q8_0.RowBytes(k)
	x := randVec(rng, k)
	for _, mb := range []int{1, 4, 16, 1024} {
		n := (mb << 20) / rs &^ 15
		var all []*tensor.Tensor
		for range 1024 / mb {
			w := &tensor.Tensor{Name: "w", DType: tensor.Q8_0, Shape: []int{n, k}, Data: make([]byte, n*rs)}
			fillNormal(rng, w)
			all = append(all, w)
		}
		p.Pack(all)
		out := make([]float32, n)
		b.Run(fmt.Sprintf("mb=%d", mb), func(b *testing.B) {
			for b.Loop() {
				for _, w := range all {
					if err := p.MatMul(out, x, 1, w); err != nil {
						b.Fatal(err)
					}
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(len(all)*n*rs)/sec/1e9, "GB/s")
			b.ReportMetric(sec/float64(len(all))*1e6, "µs/call")
		})
	}
}

// BenchmarkMatVecAVX2DRAM measures the one-row products of the AVX2 kernels of Q4_0
// (packed: dotQ4P_vec16), Q4_K (packed: dotQ4KP_vec8, the reference for how fast a
// packed 4-bit kernel streams), Q8_0 (packed: dotQ8G_vec16) and F32 (float 4×1) from memory (dram: matrices of 5632×2048, as
// many as make 100 MiB or more, one after the other as a model's layers are) and from the
// L2 cache (l2: one matrix of 128×2048). It reports the weight bytes read per second of
// wall time and, with -cpu 1, of the thread's CPU time (cpu-GB/s, steadier on a shared
// machine). Run it with GODEBUG=cpu.avx512f=off on an AVX-512 CPU.
func BenchmarkMatVecAVX2DRAM(b *testing.B) {
	if !q4PackedOn() || !q4KPackedOn() {
		b.Skip("Pack does not lay out Q4_0 and Q4_K for the AVX2 kernels on this CPU")
	}
	p := NewPool(runtime.GOMAXPROCS(0))
	defer p.Close()
	rng := rand.New(rand.NewPCG(5, 5))
	const k = 2048
	x := randVec(rng, k)
	out := make([]float32, 5632)
	for _, where := range []string{"dram", "l2"} {
		for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q4_K, tensor.Q8_0, tensor.F32} {
			rs, _ := dt.RowBytes(k)
			n, mats := 5632, (100<<20+5632*rs-1)/(5632*rs)
			if where == "l2" {
				n, mats = 128, 1
			}
			ws := make([]*tensor.Tensor, mats)
			for i := range ws {
				ws[i] = &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
				fillNormal(rng, ws[i])
			}
			p.Pack(ws)
			bytes := float64(mats * n * rs)
			b.Run(where+"/"+dt.String(), func(b *testing.B) {
				one := runtime.GOMAXPROCS(0) == 1
				if one {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				t0 := threadCPU()
				b.SetBytes(int64(bytes))
				for b.Loop() {
					for _, w := range ws {
						if err := p.MatMul(out, x, 1, w); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(bytes/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GB/s")
				if one {
					b.ReportMetric(bytes/((threadCPU()-t0)/float64(b.N))/1e9, "cpu-GB/s")
				}
			})
		}
	}
}

// BenchmarkMatMulQ8Packed compares Q8_0 products on weights as stored (dotQ8_0 4×1; dotQ8P
// 3×3 after q8PackAVX) and laid out by Pack for the AVX2 kernels (dotQ8G_vec16, dotQ8G
// 8×4) for 1, 16 and 128 activation rows on one thread, [512, 2048] and [2048, 5632]
// (in the L2 and L3 caches), in GFLOP/s of the thread's CPU time, alternating the two.
func BenchmarkMatMulQ8Packed(b *testing.B) {
	if !q8PackedOn() {
		b.Skip("no AVX2 packed Q8_0 kernels on this CPU (run with GODEBUG=cpu.avx512f=off on an AVX-512 one)")
	}
	p := NewPool(1)
	defer p.Close()
	rng := rand.New(rand.NewPCG(19, 19))
	for _, sh := range [][2]int{{512, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		w, _ := randWeight(b, rng, tensor.Q8_0, n, k)
		pw := *w
		p.Pack([]*tensor.Tensor{&pw})
		for _, m := range []int{1, 16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			for _, c := range []struct {
				name string
				w    *tensor.Tensor
			}{{"stored", w}, {"packed", &pw}} {
				b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, c.name), func(b *testing.B) {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					t0 := threadCPU()
					for b.Loop() {
						if err := p.MatMul(out, x, m, c.w); err != nil {
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
