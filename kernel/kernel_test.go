package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// randWeight returns an [n, k] tensor of type dt with random contents and its values
// decoded to float32 by tensor.DecodeRow (the independent reference decoder).
func randWeight(t testing.TB, rng *rand.Rand, dt tensor.DType, n, k int) (*tensor.Tensor, []float32) {
	t.Helper()
	rs, err := dt.RowBytes(k)
	if err != nil {
		t.Fatal(err)
	}
	w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	switch dt {
	case tensor.Q4_K, tensor.Q6_K:
		for i := range w.Data {
			w.Data[i] = byte(rng.Uint32())
		}
		bb := dt.BlockBytes()
		for b := 0; b < len(w.Data)/bb; b++ {
			blk := w.Data[b*bb : (b+1)*bb]
			if dt == tensor.Q4_K {
				binary.LittleEndian.PutUint16(blk[0:], tensor.F32ToF16(rng.Float32()*0.01))
				binary.LittleEndian.PutUint16(blk[2:], tensor.F32ToF16(rng.Float32()*0.01))
			} else {
				binary.LittleEndian.PutUint16(blk[208:], tensor.F32ToF16(rng.Float32()*0.01))
			}
		}
	default:
		row := make([]float32, k)
		for j := 0; j < n; j++ {
			for l := range row {
				row[l] = float32(rng.NormFloat64())
			}
			if err := tensor.EncodeRow(w.Data[j*rs:(j+1)*rs], row, dt); err != nil {
				t.Fatal(err)
			}
		}
	}
	dec := make([]float32, n*k)
	for j := 0; j < n; j++ {
		if err := tensor.DecodeRow(dec[j*k:(j+1)*k], w.Data[j*rs:(j+1)*rs], dt); err != nil {
			t.Fatal(err)
		}
	}
	return w, dec
}

func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// absDots returns Σ_l |x[i][l]·w[j][l]| for every (i, j) in float64: the scale against
// which a float sum's rounding is measured.
func absDots(x, w []float32, m, n, k int) []float64 {
	s := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var a float64
			for l := 0; l < k; l++ {
				a += math.Abs(float64(x[i*k+l]) * float64(w[j*k+l]))
			}
			s[i*n+j] = a
		}
	}
	return s
}

// checkClose fails when |got-want| > tol·scale for some element.
func checkClose(t *testing.T, what string, got, want []float32, scale []float64, tol float64) {
	t.Helper()
	bad := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= tol*scale[i]+1e-30) {
			if bad < 5 {
				t.Errorf("%s: element %d = %g, want %g (|diff| %g > %g·%g)", what, i, got[i], want[i], d, tol, scale[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements differ", what, bad, len(want))
	}
}

var (
	mSizes     = []int{1, 2, 3, 4, 5, 17, 70, 130} // past both m-blocks (64 float, 128 quantized)
	nSizes     = []int{1, 2, 3, 5, 8, 13, 15}
	floatKs    = []int{1, 7, 8, 9, 31, 64, 100, 1030, 2059} // 2059: two k-blocks and a tail
	quantKs    = []int{32, 64, 96, 1088, 2112}              // 2112: two k-blocks
	superKs    = []int{256, 512}
	floatTypes = []tensor.DType{tensor.F32, tensor.BF16, tensor.F16}
)

// TestMatMulFloat compares MatMul with the plain decode-and-dot version for F32, BF16 and
// F16 weights.
func TestMatMulFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, threads := range []int{1, 2, 3} {
		p := NewPool(threads)
		for _, dt := range floatTypes {
			for _, k := range floatKs {
				for _, n := range nSizes {
					for _, m := range mSizes {
						if threads != 2 && (m > 5 || k > 100) {
							continue
						}
						w, dec := randWeight(t, rng, dt, n, k)
						x := randVec(rng, m*k)
						got := make([]float32, m*n)
						want := make([]float32, m*n)
						if err := p.MatMul(got, x, m, w); err != nil {
							t.Fatal(err)
						}
						rs, _ := dt.RowBytes(k)
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

// quantRef returns the quantized activations of x, their dequantized values and, for the
// quantized product, Σ_b |dw·dx|·Σ|qw·qx| per output (the rounding scale).
func quantRef(x []float32, m, k int) ([]int8, []float32, []float32) {
	q := make([]int8, m*k)
	d := make([]float32, m*k/32)
	QuantizeQ8(q, d, x)
	deq := make([]float32, m*k)
	for i := range deq {
		deq[i] = float32(q[i]) * d[i/32]
	}
	return q, d, deq
}

// TestMatMulQuant compares MatMul with Q8_0, Q4_0, Q4_K and Q6_K weights against the plain Go
// version of the same algorithm (activations quantized by QuantizeQ8, integer block
// sums), and bounds its distance to the float product by the activation rounding.
func TestMatMulQuant(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
			ks := quantKs
			if dt.BlockSize() == 256 {
				ks = superKs
			}
			for _, k := range ks {
				for _, n := range nSizes {
					for _, m := range mSizes {
						w, dec := randWeight(t, rng, dt, n, k)
						x := randVec(rng, m*k)
						got := make([]float32, m*n)
						if err := p.MatMul(got, x, m, w); err != nil {
							t.Fatal(err)
						}
						rs, _ := dt.RowBytes(k)
						xq, xd, deq := quantRef(x, m, k)
						want := make([]float32, m*n)
						matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
						name := fmt.Sprintf("%s m=%d n=%d k=%d threads=%d", dt, m, n, k, threads)
						checkClose(t, name, got, want, quantScale(t, w, deq, dec, m), 1e-5)

						// Against the float product: the difference is Σ w·(x - deq(x)),
						// bounded by Σ|w|·|x - deq(x)| plus float rounding.
						flt := make([]float32, m*n)
						matMulGeneric(nil, flt, x, m, n, k, w.Data, rs, dt)
						absd := quantScale(t, w, x, dec, m)
						for i := 0; i < m; i++ {
							for j := 0; j < n; j++ {
								var bound float64
								for l := 0; l < k; l++ {
									bound += math.Abs(float64(dec[j*k+l])) * math.Abs(float64(x[i*k+l])-float64(deq[i*k+l]))
								}
								bound += 1e-5 * absd[i*n+j]
								if d := math.Abs(float64(got[i*n+j]) - float64(flt[i*n+j])); d > bound {
									t.Errorf("%s: [%d,%d] = %g, float product %g: |diff| %g > bound %g", name, i, j, got[i*n+j], flt[i*n+j], d, bound)
								}
							}
						}
					}
				}
			}
		}
		p.Close()
	}
}

// quantScale returns Σ|x·w| per output, the scale of float rounding in a product. For Q4_K
// a weight is the difference of two terms (d·sc·q - dmin·m) which the kernels sum
// separately, so the scale adds the two products' magnitudes.
func quantScale(t *testing.T, w *tensor.Tensor, x, dec []float32, m int) []float64 {
	n, k := w.Shape[0], w.Shape[1]
	if w.DType != tensor.Q4_K {
		return absDots(x, dec, m, n, k)
	}
	part := func(zero int) []float32 {
		data := append([]byte(nil), w.Data...)
		for b := 0; b < len(data); b += 144 {
			data[b+zero], data[b+zero+1] = 0, 0
		}
		v := make([]float32, n*k)
		rs := w.RowSize()
		for j := 0; j < n; j++ {
			if err := tensor.DecodeRow(v[j*k:(j+1)*k], data[j*rs:(j+1)*rs], tensor.Q4_K); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}
	a, b := absDots(x, part(2), m, n, k), absDots(x, part(0), m, n, k) // dmin = 0, d = 0
	for i := range a {
		a[i] += b[i]
	}
	return a
}

// TestQuantizeQ8 checks the activation quantizer bit for bit against tensor.EncodeRow's
// Q8_0 (ggml's quantize_row_q8_0_ref), including exact halves, zeros and extremes.
func TestQuantizeQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	special := make([]float32, 96)
	for i := range special[:32] {
		special[i] = float32(i) - 15.5 // 127/16.5 multiples: many near-halves
	}
	// block 2 stays all zero; block 3 holds halves exactly: amax 127 makes id = 1.
	special[64] = 127
	for i := 65; i < 96; i++ {
		special[i] = float32(i-80) + 0.5
	}
	cases := [][]float32{nil, special, randVec(rng, 32), randVec(rng, 4096)}
	big := randVec(rng, 256)
	for i := range big {
		big[i] *= 1e30
	}
	tiny := randVec(rng, 64)
	for i := range tiny {
		tiny[i] *= 1e-30
	}
	cases = append(cases, big, tiny)
	for ci, x := range cases {
		nb := len(x) / 32
		q := make([]int8, len(x))
		d := make([]float32, nb)
		QuantizeQ8(q, d, x)
		enc := make([]byte, nb*34)
		if err := tensor.EncodeRow(enc, x, tensor.Q8_0); err != nil {
			t.Fatal(err)
		}
		for b := 0; b < nb; b++ {
			blk := enc[b*34:]
			if wd := tensor.F16ToF32(binary.LittleEndian.Uint16(blk)); math.Float32bits(wd) != math.Float32bits(d[b]) {
				t.Errorf("case %d block %d: scale %g, EncodeRow %g", ci, b, d[b], wd)
			}
			for j := 0; j < 32; j++ {
				if q[b*32+j] != int8(blk[2+j]) {
					t.Errorf("case %d element %d: %d, EncodeRow %d", ci, b*32+j, q[b*32+j], int8(blk[2+j]))
				}
			}
		}
	}
}

// TestQuantKernelsExtremes runs the integer kernels on weight bytes no quantizer writes
// (-128 in Q8_0, every nibble) to check that no intermediate saturates.
func TestQuantKernelsExtremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		const n, k = 9, 128
		rs, _ := dt.RowBytes(k)
		w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
		for i := range w.Data {
			w.Data[i] = byte(rng.Uint32())
			if i%3 == 0 {
				w.Data[i] = 0x80 // -128, or nibbles 0 and 8
			}
		}
		bb := dt.BlockBytes()
		for b := 0; b < len(w.Data)/bb; b++ {
			binary.LittleEndian.PutUint16(w.Data[b*bb:], tensor.F32ToF16(0.5+rng.Float32()))
		}
		for _, m := range []int{1, 6} {
			x := make([]float32, m*k)
			for i := range x {
				x[i] = 127 // all at the extreme
				if i%2 == 1 {
					x[i] = -127
				}
			}
			got := make([]float32, m*n)
			want := make([]float32, m*n)
			if err := p.MatMul(got, x, m, w); err != nil {
				t.Fatal(err)
			}
			xq, xd, deq := quantRef(x, m, k)
			matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
			dec := make([]float32, n*k)
			for j := 0; j < n; j++ {
				_ = tensor.DecodeRow(dec[j*k:(j+1)*k], w.Data[j*rs:], dt)
			}
			checkClose(t, fmt.Sprintf("%s extremes m=%d", dt, m), got, want, absDots(deq, dec, m, n, k), 1e-5)
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	f32 := func(shape ...int) *tensor.Tensor {
		n := 4
		for _, s := range shape {
			n *= s
		}
		return &tensor.Tensor{Name: "blk.0.w", DType: tensor.F32, Shape: shape, Data: make([]byte, n)}
	}
	short := f32(4, 8)
	short.Data = short.Data[:10]
	q := &tensor.Tensor{Name: "q", DType: tensor.Q8_0, Shape: []int{2, 40}, Data: make([]byte, 100)}
	i32 := f32(2, 8)
	i32.DType = tensor.I32
	tests := []struct {
		name   string
		w      *tensor.Tensor
		out, x int
		m      int
		want   string
	}{
		{"1-D", f32(8), 8, 8, 1, "must be 2-D"},
		{"short x", f32(4, 8), 4, 7, 1, "x has 7 values"},
		{"short out", f32(4, 8), 3, 8, 1, "out 3"},
		{"negative m", f32(4, 8), 4, 8, -1, "negative"},
		{"huge m", f32(4, 8), 4, 8, math.MaxInt / 5, "too many"},
		{"short data", short, 4, 8, 1, "10 bytes"},
		{"ragged block", q, 2, 40, 1, "block size"},
		{"int weight", i32, 2, 8, 1, "not a weight type"},
	}
	for _, tc := range tests {
		err := p.MatMul(make([]float32, tc.out), make([]float32, tc.x), tc.m, tc.w)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.w.Name) {
			t.Errorf("%s: error %v, want one naming %q and containing %q", tc.name, err, tc.w.Name, tc.want)
		}
	}
	// Empty products are fine.
	if err := p.MatMul(nil, nil, 0, f32(4, 8)); err != nil {
		t.Error(err)
	}
	out := []float32{1, 2}
	if err := p.MatMul(out, nil, 1, f32(2, 0)); err != nil || out[0] != 0 || out[1] != 0 {
		t.Errorf("k = 0: %v, out %v", err, out)
	}
}

func TestRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.Q4_0} {
		w, dec := randWeight(t, rng, dt, 3, 64)
		dst := make([]float32, 64)
		for i := 0; i < 3; i++ {
			if err := Row(dst, w, i); err != nil {
				t.Fatal(err)
			}
			for l := range dst {
				if dst[l] != dec[i*64+l] {
					t.Fatalf("%s row %d [%d] = %g, want %g", dt, i, l, dst[l], dec[i*64+l])
				}
			}
		}
		if err := Row(dst, w, 3); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("row 3: %v", err)
		}
		if err := Row(dst[:5], w, 0); err == nil {
			t.Error("short destination: no error")
		}
		w.Data = w.Data[:len(w.Data)-1]
		if err := Row(dst, w, 2); err == nil {
			t.Error("short data: no error")
		}
	}
}

func TestDotAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for n := 0; n < 80; n++ {
		a, b := randVec(rng, n), randVec(rng, n+3)
		var scale float64
		for i := range a {
			scale += math.Abs(float64(a[i]) * float64(b[i]))
		}
		got, want := Dot(a, b), dotGeneric(a, b)
		if d := math.Abs(float64(got - want)); d > 1e-5*scale+1e-30 {
			t.Errorf("Dot n=%d: %g, plain %g", n, got, want)
		}
		alpha := float32(rng.NormFloat64())
		y1 := randVec(rng, n+2)
		y2 := append([]float32(nil), y1...)
		Axpy(alpha, a, y1)
		axpyGeneric(alpha, a, y2)
		for i := range y1 {
			if i < n {
				// FMA rounds once, the plain loop twice: allow the last bits.
				if d := math.Abs(float64(y1[i] - y2[i])); d > 1e-6*(math.Abs(float64(y2[i]))+math.Abs(float64(alpha*a[i]))) {
					t.Errorf("Axpy n=%d [%d]: %g, plain %g", n, i, y1[i], y2[i])
				}
			} else if y1[i] != y2[i] {
				t.Errorf("Axpy n=%d wrote past x: [%d] = %g", n, i, y1[i])
			}
		}
	}
}

// TestDotAxpyRows checks DotRows and AxpyRows against Dot and Axpy called a row at a
// time, bit for bit, on ragged lengths, strides and row counts.
func TestDotAxpyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 7, 8, 16, 24, 32, 40, 64, 72, 128} {
		for _, extra := range []int{0, 3, 64} {
			stride := n + extra
			for _, rows := range []int{0, 1, 2, 5, 33} {
				q := randVec(rng, n)
				keys := randVec(rng, max(rows-1, 0)*stride+n)
				scale := float32(rng.Float64())
				got := make([]float32, rows)
				DotRows(got, q, keys, stride, scale)
				for r := range got {
					if want := Dot(q, keys[r*stride:]) * scale; got[r] != want {
						t.Errorf("DotRows n=%d stride=%d rows=%d [%d]: %g, Dot %g", n, stride, rows, r, got[r], want)
					}
				}
				a := randVec(rng, rows)
				y1 := randVec(rng, n)
				y2 := append([]float32(nil), y1...)
				AxpyRows(y1, a, keys, stride)
				for r, v := range a {
					Axpy(v, keys[r*stride:r*stride+n], y2)
				}
				for i := range y1 {
					if y1[i] != y2[i] {
						t.Errorf("AxpyRows n=%d stride=%d rows=%d [%d]: %g, Axpy %g", n, stride, rows, i, y1[i], y2[i])
					}
				}
			}
		}
	}
}

// TestNormActivations checks RMSNorm, Softmax, SiLUMul and RoPE against float64
// formulas written out here.
func TestNormActivations(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{1, 7, 64, 333} {
		x, w := randVec(rng, n), randVec(rng, n)
		out := make([]float32, n)
		RMSNorm(out, x, w, 1e-5)
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		r := 1 / math.Sqrt(ss/float64(n)+1e-5)
		for i := range x {
			want := float64(x[i]) * r * float64(w[i])
			if math.Abs(float64(out[i])-want) > 1e-5*math.Abs(want)+1e-7 {
				t.Errorf("RMSNorm n=%d [%d] = %g, want %g", n, i, out[i], want)
			}
		}

		s := append([]float32(nil), x...)
		Softmax(s)
		mx := math.Inf(-1)
		for _, v := range x {
			mx = math.Max(mx, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - mx)
		}
		for i, v := range x {
			want := math.Exp(float64(v)-mx) / sum
			if math.Abs(float64(s[i])-want) > 1e-5*want {
				t.Errorf("Softmax n=%d [%d] = %g, want %g", n, i, s[i], want)
			}
		}

		g, u := randVec(rng, n), randVec(rng, n)
		SiLUMul(out, g, u)
		for i := range g {
			want := float64(g[i]) / (1 + math.Exp(-float64(g[i]))) * float64(u[i])
			if math.Abs(float64(out[i])-want) > 1e-5*math.Abs(want)+1e-7 {
				t.Errorf("SiLUMul n=%d [%d] = %g, want %g", n, i, out[i], want)
			}
		}
	}
	Softmax(nil) // must not panic

	const heads, hd = 3, 8
	for _, inter := range []bool{false, true} {
		x := randVec(rng, heads*hd)
		orig := append([]float32(nil), x...)
		cos, sin := make([]float32, hd/2), make([]float32, hd/2)
		for i := range cos {
			a := rng.Float64() * 6
			cos[i], sin[i] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		RoPE(x, heads, hd, cos, sin, inter)
		for h := 0; h < heads; h++ {
			for i := 0; i < hd/2; i++ {
				p, q := h*hd+i, h*hd+i+hd/2
				if inter {
					p, q = h*hd+2*i, h*hd+2*i+1
				}
				a, b := float64(orig[p]), float64(orig[q])
				wp := a*float64(cos[i]) - b*float64(sin[i])
				wq := a*float64(sin[i]) + b*float64(cos[i])
				if math.Abs(float64(x[p])-wp) > 1e-5 || math.Abs(float64(x[q])-wq) > 1e-5 {
					t.Errorf("RoPE interleaved=%v head %d pair %d: (%g, %g), want (%g, %g)", inter, h, i, x[p], x[q], wp, wq)
				}
			}
		}
	}
}

// TestPoolRun checks that Run covers [0, n) exactly once, from one caller, nested inside a
// job and from several goroutines at once, and after Close.
func TestPoolRun(t *testing.T) {
	for _, threads := range []int{0, 1, 2, 3, 5} {
		p := NewPool(threads)
		for _, grain := range []int{1, 3, 4} {
			for n := 0; n < 60; n++ {
				hits := make([]atomic.Int32, n)
				p.runGrain(n, grain, func(lo, hi int) {
					if lo%grain != 0 || lo >= hi {
						t.Errorf("threads=%d grain=%d n=%d: range [%d,%d)", threads, grain, n, lo, hi)
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				for i := range hits {
					if hits[i].Load() != 1 {
						t.Fatalf("threads=%d grain=%d n=%d: index %d run %d times", threads, grain, n, i, hits[i].Load())
					}
				}
			}
		}
		// Nested and concurrent use.
		var total atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < 50; r++ {
					p.Run(10, func(lo, hi int) {
						p.Run(hi-lo, func(a, b int) { total.Add(int64(b - a)) })
					})
				}
			}()
		}
		wg.Wait()
		if total.Load() != 4*50*10 {
			t.Errorf("threads=%d: nested runs covered %d, want %d", threads, total.Load(), 2000)
		}
		p.Close()
		p.Close()
		n := 0
		p.Run(7, func(lo, hi int) { n += hi - lo })
		if n != 7 {
			t.Errorf("after Close: covered %d of 7", n)
		}
	}
	var zero Pool
	var nilPool *Pool
	for _, p := range []*Pool{&zero, nilPool} {
		if p.Threads() != 1 {
			t.Errorf("zero/nil pool: %d threads", p.Threads())
		}
		calls := 0
		p.Run(5, func(lo, hi int) { calls++ })
		if calls != 1 {
			t.Errorf("zero/nil pool: %d calls", calls)
		}
	}
}

// TestPoolGC checks that an unreachable pool's workers stop.
func TestPoolGC(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 10; i++ {
		p := NewPool(3)
		p.Run(10, func(lo, hi int) {})
	}
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after dropping the pools, %d before", g, before)
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"max 100000\n", 0},
		{"200000 100000\n", 2},
		{"150000 100000", 2},
		{"50000 100000", 1},
		{"-1\n 100000\n", 0},
		{"", 0},
		{"abc 100", 0},
		{"100 0", 0},
		{"1 2 3", 0},
		{"9223372036854775807 1", 0},
	}
	for _, tc := range tests {
		if got := parseCPUMax(tc.in); got != tc.want {
			t.Errorf("parseCPUMax(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if n := DefaultThreads(); n < 1 || n > runtime.GOMAXPROCS(0) {
		t.Errorf("DefaultThreads() = %d with GOMAXPROCS %d", n, runtime.GOMAXPROCS(0))
	}
}

func FuzzParseCPUMax(f *testing.F) {
	for _, s := range []string{"max 100000", "200000 100000", "-1 100000", "1 1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n := parseCPUMax(s); n < 0 || n > 1<<20 {
			t.Errorf("parseCPUMax(%q) = %d", s, n)
		}
	})
}

// TestActivationsFastVsPlain compares RMSNorm, Softmax, SiLUMul and QuantizeQ8 with their
// plain Go versions on every length up to 100 and a few long ones, with extreme values
// mixed in (large arguments of exp, -Inf as attention masks write it).
func TestActivationsFastVsPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	lengths := []int{1000, 2048, 5632}
	for n := 0; n <= 100; n++ {
		lengths = append(lengths, n)
	}
	closeTo := func(what string, n, i int, got, want, tol float32) {
		t.Helper()
		d := math.Abs(float64(got) - float64(want))
		if !(d <= float64(tol)*math.Abs(float64(want))+1e-30) && !(got != got && want != want) {
			t.Errorf("%s n=%d [%d] = %g, plain %g", what, n, i, got, want)
		}
	}
	for _, n := range lengths {
		x := randVec(rng, n)
		for i := range x {
			switch rng.IntN(20) {
			case 0:
				x[i] *= 50 // exp arguments near and past the float32 range
			case 1:
				x[i] = float32(rng.IntN(400) - 200)
			}
		}
		w := randVec(rng, n)
		o1, o2 := make([]float32, n), make([]float32, n)
		RMSNorm(o1, x, w, 1e-5)
		rmsNormGeneric(o2, x, w, 1e-5)
		for i := range o1 {
			closeTo("RMSNorm", n, i, o1[i], o2[i], 1e-5)
		}

		up := randVec(rng, n)
		SiLUMul(o1, x, up)
		siluMulGeneric(o2, x, up)
		for i := range o1 {
			closeTo("SiLUMul", n, i, o1[i], o2[i], 1e-5)
		}

		s1 := append([]float32(nil), x...)
		if n > 3 {
			s1[n/2] = float32(math.Inf(-1)) // a masked position
		}
		s2 := append([]float32(nil), s1...)
		Softmax(s1)
		softmaxGeneric(s2)
		for i := range s1 {
			// Relative to the largest probability: entries far below it may be
			// flushed to zero (below e^-87 of it).
			d := math.Abs(float64(s1[i] - s2[i]))
			if !(d <= 1e-5*math.Abs(float64(s2[i]))+1e-30) && !(d < 1e-37) {
				t.Errorf("Softmax n=%d [%d] = %g, plain %g", n, i, s1[i], s2[i])
			}
		}
		if n > 3 && s1[n/2] != 0 {
			t.Errorf("Softmax n=%d: masked position has %g", n, s1[n/2])
		}
		if n > 0 {
			// NaN goes through as the plain versions let it.
			g := append([]float32(nil), x...)
			g[n-1] = float32(math.NaN())
			SiLUMul(o1, g, up)
			if v := o1[n-1]; v == v {
				t.Errorf("SiLUMul n=%d: NaN gate gave %g", n, v)
			}
			Softmax(g)
			if v := g[0]; v == v {
				t.Errorf("Softmax n=%d: with a NaN, [0] = %g", n, v)
			}
		}

		if n%32 == 0 {
			q1, q2 := make([]int8, n), make([]int8, n)
			d1, d2 := make([]float32, n/32), make([]float32, n/32)
			QuantizeQ8(q1, d1, x)
			quantizeQ8Generic(q2, d2, x)
			for i := range q1 {
				if q1[i] != q2[i] {
					t.Errorf("QuantizeQ8 n=%d [%d] = %d, plain %d", n, i, q1[i], q2[i])
				}
			}
			for i := range d1 {
				if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
					t.Errorf("QuantizeQ8 n=%d scale %d = %g, plain %g", n, i, d1[i], d2[i])
				}
			}
		}
	}
}

// TestQuantizeQ8Special checks the quantizer on blocks with NaN, infinities, zeros and
// subnormals against the plain version, bit for bit.
func TestQuantizeQ8Special(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	sub := math.Float32frombits(5) // a subnormal
	blocks := [][]float32{
		{nan, 1, -2, 0.5},
		{inf, 1, -1},
		{-inf, nan},
		{sub, -sub, 0},
		{1e-36, -3e-37, 2e-38},
		{3e38, -3e38, 1},
		{0.5, -0.5, 1.5, -2.5, 126.5},
	}
	x := make([]float32, 32*len(blocks))
	for b, vals := range blocks {
		copy(x[b*32:], vals)
	}
	q1, q2 := make([]int8, len(x)), make([]int8, len(x))
	d1, d2 := make([]float32, len(blocks)), make([]float32, len(blocks))
	QuantizeQ8(q1, d1, x)
	quantizeQ8Generic(q2, d2, x)
	for i := range q1 {
		if q1[i] != q2[i] {
			t.Errorf("element %d (%g) = %d, plain %d", i, x[i], q1[i], q2[i])
		}
	}
	for i := range d1 {
		if math.Float32bits(d1[i]) != math.Float32bits(d2[i]) {
			t.Errorf("block %d scale = %g, plain %g", i, d1[i], d2[i])
		}
	}
}

// TestQuantKernelsExactIntegers makes every float step of the quantized kernels exact
// (weight scales 1, activations small integers with a 127 in each block, so that their
// scale is 1 and their quantization the identity; sums below 2^24) and then requires MatMul to
// equal the plain Go algorithm bit for bit: the integer parts of the kernels are exact.
func TestQuantKernelsExactIntegers(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K} {
		k := 256
		for _, n := range []int{1, 4, 9, 15} {
			for _, m := range []int{1, 2, 5} {
				rs, _ := dt.RowBytes(k)
				w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
				for i := range w.Data {
					w.Data[i] = byte(rng.Uint32())
				}
				bb := dt.BlockBytes()
				for b := 0; b < len(w.Data)/bb; b++ {
					blk := w.Data[b*bb : (b+1)*bb]
					switch dt {
					case tensor.Q4_K:
						binary.LittleEndian.PutUint16(blk[0:], 0x3c00) // d = 1
						binary.LittleEndian.PutUint16(blk[2:], 0x3c00) // dmin = 1
					case tensor.Q6_K:
						binary.LittleEndian.PutUint16(blk[208:], 0x3c00)
					default:
						binary.LittleEndian.PutUint16(blk[0:], 0x3c00)
					}
				}
				x := make([]float32, m*k)
				for i := range x {
					x[i] = float32(rng.IntN(15) - 7) // small, so that every sum stays below 2^24
					if i%32 == 5 {
						x[i] = 127
					}
				}
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				xq, xd, _ := quantRef(x, m, k)
				for i := range xq {
					if float32(xq[i]) != x[i] || xd[i/32] != 1 {
						t.Fatalf("activation %d: quantized to %d·%g, want %g·1", i, xq[i], xd[i/32], x[i])
					}
				}
				want := make([]float32, m*n)
				matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
				for i := range want {
					if got[i] != want[i] || got[i] != float32(int32(got[i])) {
						t.Errorf("%s n=%d m=%d [%d] = %v, plain %v (both must be the same integer)", dt, n, m, i, got[i], want[i])
					}
				}
			}
		}
	}
}
