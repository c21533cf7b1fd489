// Package kernel holds the arithmetic that dominates inference: matrix products against
// weights in their stored type (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K), RMS normalisation,
// rotary position embedding, softmax and the SwiGLU activation. Every kernel has a plain
// Go version; faster versions for particular CPUs are chosen at run time and are tested
// against the plain ones.
package kernel

import (
	"fmt"
	"math"

	"github.com/decilm/decilm/tensor"
)

// MatMul computes out = x · wᵀ for a weight w of shape [n, k] (n rows of k elements, as a
// linear layer's [out, in] weight is stored): x holds m rows of k float32 values and out
// receives m rows of n values, out[i*n+j] = Σ_l x[i*k+l]·w[j][l]. The work is split over
// the pool's threads. It returns an error when the shapes or the weight's type do not fit.
func (p *Pool) MatMul(out, x []float32, m int, w *tensor.Tensor) error {
	if len(w.Shape) != 2 {
		return fmt.Errorf("matmul %s: weight must be 2-D, has shape %v", w.Name, w.Shape)
	}
	n, k := w.Shape[0], w.Shape[1]
	if len(x) < m*k || len(out) < m*n {
		return fmt.Errorf("matmul %s [%d,%d]: x has %d values, out %d, for %d rows", w.Name, n, k, len(x), len(out), m)
	}
	rs, err := w.DType.RowBytes(k)
	if err != nil {
		return fmt.Errorf("matmul %s: %w", w.Name, err)
	}
	if len(w.Data) < rs*n {
		return fmt.Errorf("matmul %s: %d bytes, need %d", w.Name, len(w.Data), rs*n)
	}
	p.Run(n, func(lo, hi int) {
		row := make([]float32, k)
		for j := lo; j < hi; j++ {
			_ = tensor.DecodeRow(row, w.Data[j*rs:(j+1)*rs], w.DType)
			for i := 0; i < m; i++ {
				out[i*n+j] = Dot(x[i*k:(i+1)*k], row)
			}
		}
	})
	return nil
}

// Row decodes row i of w into dst (len(dst) must be w's row length): an embedding lookup.
func Row(dst []float32, w *tensor.Tensor, i int) error {
	if i < 0 || i >= w.Rows() {
		return fmt.Errorf("%s: row %d out of range [0,%d)", w.Name, i, w.Rows())
	}
	if len(dst) != w.Cols() {
		return fmt.Errorf("%s: row has %d values, destination %d", w.Name, w.Cols(), len(dst))
	}
	rs := w.RowSize()
	return tensor.DecodeRow(dst, w.Data[i*rs:(i+1)*rs], w.DType)
}

// Dot returns Σ a[i]·b[i] over len(a) elements (b must be at least as long).
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Axpy adds a·x to y element-wise (y += a*x) over len(x) elements.
func Axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// RMSNorm writes x / sqrt(mean(x²) + eps) · w to out (out may alias x).
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// Softmax replaces x with exp(x - max) / Σ exp(x - max).
func Softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	max := x[0]
	for _, v := range x[1:] {
		if v > max {
			max = v
		}
	}
	var sum float64
	for i, v := range x {
		e := float32(math.Exp(float64(v - max)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x {
		x[i] *= inv
	}
}

// SiLUMul writes silu(gate)·up to out, where silu(g) = g / (1 + e^-g): the SwiGLU
// activation of a Llama MLP. out may alias gate or up.
func SiLUMul(out, gate, up []float32) {
	for i, g := range gate {
		out[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
	}
}

// RoPE rotates each of the heads (headDim values each, consecutive in x) by the angles
// whose cosines and sines are given (headDim/2 of each, for one position). With
// interleaved false, dimension i pairs with i+headDim/2 (Hugging Face's rotate-half
// layout); with interleaved true, dimension 2i pairs with 2i+1 (llama2.c and GGUF files).
func RoPE(x []float32, heads, headDim int, cos, sin []float32, interleaved bool) {
	half := headDim / 2
	for h := 0; h < heads; h++ {
		v := x[h*headDim : (h+1)*headDim]
		if interleaved {
			for i := 0; i < half; i++ {
				a, b := v[2*i], v[2*i+1]
				v[2*i] = a*cos[i] - b*sin[i]
				v[2*i+1] = a*sin[i] + b*cos[i]
			}
		} else {
			for i := 0; i < half; i++ {
				a, b := v[i], v[i+half]
				v[i] = a*cos[i] - b*sin[i]
				v[i+half] = a*sin[i] + b*cos[i]
			}
		}
	}
}
