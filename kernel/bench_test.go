package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// BenchmarkMatMul measures MatMul at the shapes of a 1.1B Llama model (hidden 2048, MLP
// 5632) for each weight type and for 1, 16 and 128 activation rows, reporting GFLOP/s
// (2·m·n·k per call) and the weight bytes read per second (GB/s).
func BenchmarkMatMul(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	shapes := [][2]int{{2048, 2048}, {5632, 2048}}
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		for _, sh := range shapes {
			n, k := sh[0], sh[1]
			var w *tensor.Tensor
			for _, m := range []int{1, 16, 128} {
				b.Run(fmt.Sprintf("%s/m=%d/%dx%d", dt, m, n, k), func(b *testing.B) {
					if w == nil {
						w, _ = randWeight(b, rng, dt, n, k)
					}
					x := randVec(rng, m*k)
					out := make([]float32, m*n)
					b.SetBytes(int64(len(w.Data)))
					b.ResetTimer()
					for b.Loop() {
						if err := p.MatMul(out, x, m, w); err != nil {
							b.Fatal(err)
						}
					}
					sec := b.Elapsed().Seconds() / float64(b.N)
					b.ReportMetric(2*float64(m)*float64(n)*float64(k)/sec/1e9, "GFLOP/s")
					b.ReportMetric(float64(len(w.Data))/sec/1e9, "GB/s")
				})
			}
		}
	}
}

// BenchmarkBandwidth streams 1 GiB through the pool's threads (a vector sum per thread;
// more than twice the largest last-level cache seen here, 480 MiB) and reports the memory
// read bandwidth, the limit of a matrix-vector product.
func BenchmarkBandwidth(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	buf := make([]float32, 256<<20)
	for i := range buf {
		buf[i] = float32(i & 7)
	}
	const chunk = 1 << 16
	sums := make([]float32, len(buf)/chunk)
	b.SetBytes(int64(4 * len(buf)))
	b.ResetTimer()
	for b.Loop() {
		p.Run(len(sums), func(lo, hi int) {
			for c := lo; c < hi; c++ {
				v := buf[c*chunk : (c+1)*chunk]
				sums[c] = Dot(v, v)
			}
		})
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(4*len(buf))/sec/1e9, "GB/s")
}

// BenchmarkPoolRun measures the cost of handing an empty loop to the pool's threads: the
// overhead every parallel kernel call pays.
func BenchmarkPoolRun(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	var sink [64]int
	for b.Loop() {
		p.Run(len(sink), func(lo, hi int) { sink[lo]++ })
	}
}

// BenchmarkMatVecDRAM measures matrix-vector products (m = 1, decoding one token) on
// weights of 96 MiB or more, far larger than the caches, so that they stream from memory
// as a model's layers do: GB/s here compares with BenchmarkBandwidth.
func BenchmarkMatVecDRAM(b *testing.B) {
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(2, 2))
	const k = 2048
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		b.Run(dt.String(), func(b *testing.B) {
			rs, _ := dt.RowBytes(k)
			n := (96 << 20) / rs
			w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
			fillNormal(rng, w)
			x := randVec(rng, k)
			out := make([]float32, n)
			b.SetBytes(int64(len(w.Data)))
			b.ResetTimer()
			for b.Loop() {
				if err := p.MatMul(out, x, 1, w); err != nil {
					b.Fatal(err)
				}
			}
			sec := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(float64(len(w.Data))/sec/1e9, "GB/s")
			b.ReportMetric(2*float64(n)*k/sec/1e9, "GFLOP/s")
		})
	}
}

// fillNormal fills w with random bits that decode to normal numbers of moderate size
// (subnormal weights would slow the float kernels down and measure the wrong thing).
func fillNormal(rng *rand.Rand, w *tensor.Tensor) {
	d := w.Data
	for i := range d {
		d[i] = byte(rng.Uint32())
	}
	switch w.DType {
	case tensor.F32:
		for i := 0; i+4 <= len(d); i += 4 {
			d[i+3] = d[i+3]&0x80 | 0x3e // exponent around 2^-3
		}
	case tensor.BF16:
		for i := 0; i+2 <= len(d); i += 2 {
			d[i+1] = d[i+1]&0x80 | 0x3e
		}
	case tensor.F16:
		for i := 0; i+2 <= len(d); i += 2 {
			d[i+1] = d[i+1]&0x83 | 0x30
		}
	default:
		bb := w.DType.BlockBytes()
		var scales []int
		switch w.DType {
		case tensor.Q4_K:
			scales = []int{0, 2}
		case tensor.Q6_K:
			scales = []int{208}
		default:
			scales = []int{0}
		}
		for b := 0; b+bb <= len(d); b += bb {
			for _, o := range scales {
				d[b+o], d[b+o+1] = 0x00, 0x20 // 0.0078125
			}
		}
	}
}
