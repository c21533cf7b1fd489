//go:build amd64 && !purego

package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/decilm/decilm/tensor"
)

// skipNoQ512 skips a test where the AVX-512 VNNI matrix products cannot run.
func skipNoQ512(t testing.TB) {
	t.Helper()
	if !useAsm || !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI) {
		t.Skip("the CPU lacks AVX2/FMA/F16C or AVX-512 F/BW/VL/VNNI: no q512mm kernels")
	}
}

// q512Case is one weight matrix and quantized activations for the q512mm tests.
type q512Case struct {
	name    string
	dt      tensor.DType
	m, n, k int
	data    []byte
	xq      []int8
	xd      []float32
}

// fill makes random weights and activations: mode 0 random values and scales, mode 1
// extreme values (int8 -128/127, nibbles 0/15) with large scales, mode 2 random values
// with unit scales (the integer sums must then come out exactly).
func (c *q512Case) fill(rng *rand.Rand, mode int) {
	bb := c.dt.BlockBytes()
	nb := c.k / 32
	c.data = make([]byte, c.n*nb*bb)
	for i := range c.data {
		c.data[i] = byte(rng.Uint32())
		if mode == 1 {
			c.data[i] = []byte{0x80, 0x7f, 0x0f, 0xf0, 0xff, 0x00, 0x8f}[rng.IntN(7)]
		}
	}
	for b := 0; b < c.n*nb; b++ {
		d := float32(1)
		switch mode {
		case 0:
			d = float32(rng.NormFloat64()) * 0.01
		case 1:
			d = []float32{60000, -60000, 1000, 1e-4, 0}[rng.IntN(5)]
		}
		binary.LittleEndian.PutUint16(c.data[b*bb:], tensor.F32ToF16(d))
	}
	c.xq = make([]int8, c.m*c.k)
	for i := range c.xq {
		c.xq[i] = int8(rng.Uint32())
		if mode == 1 {
			c.xq[i] = []int8{-128, 127, -127, 0}[rng.IntN(4)]
		}
	}
	c.xd = make([]float32, c.m*nb)
	for i := range c.xd {
		c.xd[i] = 1
		switch mode {
		case 0:
			c.xd[i] = rng.Float32() * 0.02
		case 1:
			c.xd[i] = []float32{100, 1e-3, 3}[rng.IntN(3)]
		}
	}
}

// absScale is Σ over blocks of |dw·dx|·Σ|w·x| per output, the scale of the float rounding.
func (c *q512Case) absScale() []float64 {
	nb, bb := c.k/32, c.dt.BlockBytes()
	s := make([]float64, c.m*c.n)
	for j := 0; j < c.n; j++ {
		for i := 0; i < c.m; i++ {
			var a float64
			for b := 0; b < nb; b++ {
				blk := c.data[(j*nb+b)*bb:]
				dw := float64(tensor.F16ToF32(binary.LittleEndian.Uint16(blk)))
				var sum float64
				for l := 0; l < 32; l++ {
					var w int
					if c.dt == tensor.Q8_0 {
						w = int(int8(blk[2+l]))
					} else if l < 16 {
						w = int(blk[2+l]&15) - 8
					} else {
						w = int(blk[2+l-16]>>4) - 8
					}
					sum += math.Abs(float64(w) * float64(c.xq[i*c.k+32*b+l]))
				}
				a += sum * math.Abs(dw*float64(c.xd[i*nb+b]))
			}
			s[i*c.n+j] = a
		}
	}
	return s
}

// TestQ512MatMul compares the AVX-512 VNNI products with Q8_0 and Q4_0 weights against the
// plain Go version on ragged shapes: exactly with unit scales (integer sums), and within
// the float rounding of the block sums otherwise.
func TestQ512MatMul(t *testing.T) {
	skipNoQ512(t)
	rng := rand.New(rand.NewPCG(5, 12))
	type shape struct{ m, n, k int }
	var shapes []shape
	for _, m := range []int{1, 2, 3, 5, 16, 17, 33, 130} {
		for _, n := range []int{1, 13, 32, 47, 70} {
			for _, k := range []int{32, 64, 96, 2080} {
				if m*n*k > 130*47*2080 {
					continue
				}
				shapes = append(shapes, shape{m, n, k})
			}
		}
	}
	pools := []*Pool{NewPool(1), NewPool(2)}
	defer pools[0].Close()
	defer pools[1].Close()
	for ci, sh := range shapes {
		for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
			for mode := 0; mode < 3; mode++ {
				if mode == 2 && sh.k > 96 {
					continue // the unit-scale sums are exact in float32 only while small
				}
				c := &q512Case{dt: dt, m: sh.m, n: sh.n, k: sh.k}
				c.name = fmt.Sprintf("%s m=%d n=%d k=%d mode=%d", dt, c.m, c.n, c.k, mode)
				c.fill(rng, mode)
				rs := c.k / 32 * dt.BlockBytes()
				want := make([]float32, c.m*c.n)
				matMulQuantGeneric(nil, want, c.xq, c.xd, c.m, c.n, c.k, c.data, rs, dt)
				got := make([]float32, c.m*c.n)
				for i := range got {
					got[i] = float32(math.NaN()) // every output must be written
				}
				s := &quantScratch{q: c.xq, d: c.xd}
				if !q512mmMatMul(pools[ci%2], got, s, c.m, c.n, c.k, c.data, rs, dt) {
					t.Fatalf("%s: not handled", c.name)
				}
				if mode == 2 {
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s: element %d = %g, want exactly %g", c.name, i, got[i], want[i])
						}
					}
					continue
				}
				checkClose(t, c.name, got, want, c.absScale(), 1e-5)
			}
		}
	}
}

// TestQ512MatMulDeclines checks that the wide path leaves other weight types to the AVX2
// kernels.
func TestQ512MatMulDeclines(t *testing.T) {
	skipNoQ512(t)
	s := &quantScratch{q: make([]int8, 2*256), d: make([]float32, 2*8)}
	out := make([]float32, 2*4)
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.F32} {
		if q512mmMatMul(nil, out, s, 2, 4, 256, make([]byte, 4*1024), 256, dt) {
			t.Errorf("%s: handled", dt)
		}
	}
}

// BenchmarkQ512MatMul measures the AVX-512 VNNI products (path=q512: QuantizeQ8 of x and
// q512mmMatMul) against MatMul without them (path=fallback: the AVX2 tiles, or whichever
// earlier path takes the call) at the shapes of a 1.1B Llama model for 16 and 128
// activation rows, in GOP/s (2·m·n·k per call).
func BenchmarkQ512MatMul(b *testing.B) {
	skipNoQ512(b)
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		for _, sh := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}} {
			n, k := sh[0], sh[1]
			var w *tensor.Tensor
			for _, m := range []int{16, 128} {
				for _, path := range []string{"fallback", "q512"} {
					b.Run(fmt.Sprintf("%s/m=%d/%dx%d/path=%s", dt, m, n, k, path), func(b *testing.B) {
						if w == nil {
							w, _ = randWeight(b, rng, dt, n, k)
						}
						rs := k / 32 * dt.BlockBytes()
						x := randVec(rng, m*k)
						out := make([]float32, m*n)
						s := new(quantScratch)
						saved := matMulQuantWide
						matMulQuantWide = nil
						defer func() { matMulQuantWide = saved }()
						for b.Loop() {
							if path == "q512" {
								p.quantizeRows(s, x, m, k)
								q512mmMatMul(p, out, s, m, n, k, w.Data, rs, dt)
							} else if err := p.MatMul(out, x, m, w); err != nil {
								b.Fatal(err)
							}
						}
						sec := b.Elapsed().Seconds() / float64(b.N)
						b.ReportMetric(2*float64(m)*float64(n)*float64(k)/sec/1e9, "GOP/s")
					})
				}
			}
		}
	}
}

// BenchmarkQ512Pack measures the repacking of 16 weight rows of 64 blocks (in the cache).
func BenchmarkQ512Pack(b *testing.B) {
	skipNoQ512(b)
	dst := make([]byte, 64*q512mmBlk)
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		b.Run(dt.String(), func(b *testing.B) {
			bb := dt.BlockBytes()
			src := make([]byte, 16*64*bb)
			pack := q512mmPackQ8
			if dt == tensor.Q4_0 {
				pack = q512mmPackQ4
			}
			for b.Loop() {
				pack(&src[0], 64*bb, 64, &dst[0], &dst[q512mmR*512], q512mmBlk)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/64, "ns/block")
		})
	}
}

// TestQuantizeQ8AVX512 checks the AVX-512 quantizer against the AVX2 one bit for bit, on
// random rows of many scales and on blocks of NaNs, infinities, zeros, subnormals and
// exact halves.
func TestQuantizeQ8AVX512(t *testing.T) {
	if !useAsm || !cpu.X86.HasAVX512F {
		t.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	special := [][]float32{
		{nan, 1, -2, 0.5}, {inf, 1, -1}, {-inf, nan}, {math.Float32frombits(5), 0},
		{1e-36, -3e-37, 2e-38}, {3e38, -3e38, 1}, {0.5, -0.5, 1.5, -2.5, 126.5},
		{127, 63.5, -63.5, 0.5, -0.5},
	}
	var x []float32
	for _, vals := range special {
		blk := make([]float32, 32)
		copy(blk[rng.IntN(32-len(vals)+1):], vals)
		x = append(x, blk...)
	}
	for _, scale := range []float64{1e-30, 1e-3, 1, 300, 1e30} {
		for range 40 {
			x = append(x, float32(rng.NormFloat64()*scale))
		}
	}
	x = x[:len(x)/32*32]
	nb := len(x) / 32
	q1, q2 := make([]int8, len(x)), make([]int8, len(x))
	d1, d2 := make([]float32, nb), make([]float32, nb)
	quantizeQ8AVX512(&x[0], &q1[0], &d1[0], nb)
	quantizeQ8AVX(&x[0], &q2[0], &d2[0], nb)
	for b := 0; b < nb; b++ {
		if math.Float32bits(d1[b]) != math.Float32bits(d2[b]) {
			t.Errorf("block %d: scale %g, AVX2 %g", b, d1[b], d2[b])
		}
		for j := 32 * b; j < 32*b+32; j++ {
			if q1[j] != q2[j] {
				t.Errorf("block %d element %d (%g): %d, AVX2 %d", b, j, x[j], q1[j], q2[j])
			}
		}
	}
}

// BenchmarkQuantizeQ8Paths times the AVX2 and AVX-512 quantizers on one 16×2048 batch of
// activations, in cache.
func BenchmarkQuantizeQ8Paths(b *testing.B) {
	if !useAsm || !cpu.X86.HasAVX512F {
		b.Skip("no AVX-512 on this CPU")
	}
	rng := rand.New(rand.NewPCG(23, 24))
	x := randVec(rng, 16*2048)
	q, d := make([]int8, len(x)), make([]float32, len(x)/32)
	for _, p := range []struct {
		name string
		f    func(x *float32, q *int8, d *float32, nb int)
	}{{"avx2", quantizeQ8AVX}, {"avx512", quantizeQ8AVX512}} {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(4 * len(x)))
			for b.Loop() {
				p.f(&x[0], &q[0], &d[0], len(d))
			}
		})
	}
}
