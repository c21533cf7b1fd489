// Package kernel holds the arithmetic that dominates inference: matrix products against
// weights in their stored type (f32, f16, bf16, q8_0, q4_0, q4_K, q6_K), RMS normalisation,
// rotary position embedding, softmax and the SwiGLU activation, and the worker Pool that
// spreads them over the CPUs.
//
// Every kernel has a plain Go version. On amd64 CPUs with AVX2, FMA and F16C, faster
// versions in assembly are chosen at run time (golang.org/x/sys/cpu); the purego build tag
// forces the plain versions everywhere. The assembly, kernel_amd64.s, is generated with
// avo by ./internal/asmgen (go generate ./kernel/). Tests compare the two on random shapes
// with ragged edges.
//
// Matrix products with Q8_0, Q4_0, Q4_K or Q6_K weights quantize the activations to 8
// bits per value in blocks of 32 first (see QuantizeQ8), as llama.cpp does, so that the
// inner loops are exact integer dot products; the result therefore differs from a float32
// product by the activation rounding (at most half a step of 1/127 of each block's largest
// value per element, averaging out over a row). The plain Go path runs the same
// algorithm, so builds with and without purego agree to float rounding.
//
// Pool.Pack copies a model's matrices once, at load, into the layout and memory the
// CPU's fastest kernels read best: Q8_0 and Q4_0 weights in groups of 16 rows for the AMX
// tile unit and AVX-512 VNNI, Q4_0 and Q8_0 in groups of 16 rows for the AVX2 kernels on a
// CPU with neither (each block's scales in front of its values, groupLayout), Q4_K, Q5_K,
// Q6_K and IQ4_XS in groups of 8 rows at the same size, BF16 in panels of 16 rows for the
// AVX2 kernels on a CPU with neither AMX nor AVX-512 (their own summation order, the same for every number of rows), other float
// weights 64-byte aligned on huge pages. MatMul then reads the copy; but for the BF16
// panels its results are the same bits as from the original.
package kernel

import (
	"fmt"
	"math"

	"github.com/decilm/decilm/tensor"
)

// MatMul computes out = x · wᵀ for a weight w of shape [n, k] (n rows of k elements, as a
// linear layer's [out, in] weight is stored): x holds m rows of k float32 values and out
// receives m rows of n values, out[i*n+j] = Σ_l x[i*k+l]·w[j][l]; out must not overlap x.
// The work is split over the pool's threads by rows of w, and with m > 1 each weight tile
// is used against a block of 64 (float weights) or 128 (quantized) rows of x while it is
// in the cache. It returns an error when the shapes or the weight's type do not fit.
func (p *Pool) MatMul(out, x []float32, m int, w *tensor.Tensor) error {
	n, k, rs, err := checkMatMul(out, x, m, w)
	if err != nil || m == 0 || n == 0 {
		return err
	}
	if k == 0 {
		clear(out[:m*n])
		return nil
	}
	data := w.Data
	if w.Packed != nil && (w.DType == tensor.F32 || w.DType == tensor.F16 || w.DType == tensor.BF16) {
		data = w.Packed // an aligned copy (Pack)
	}
	switch dt := w.DType; {
	case dt == tensor.I32:
		return fmt.Errorf("matmul %s: %s is not a weight type", w.Name, dt)
	case dt == tensor.BF16 && w.Packed != nil && bf16PanelsOn():
		p.matMulBF16Panels(out, x, m, n, k, w.Packed)
	case (dt == tensor.Q8_0 || dt == tensor.Q4_0) && w.Packed != nil && packedMatMuls != nil:
		packedMatMuls(p, x, m, k, []pkJob{{out, n, w.Packed, dt}})
	case dt == tensor.Q4_0 && w.Packed != nil && k%32 == 0 && q4PackedOn():
		p.matMulQ4Packed(out, x, m, n, k, w.Packed)
	case dt == tensor.Q8_0 && w.Packed != nil && k%32 == 0 && q8PackedOn():
		p.matMulQ8Packed(out, x, m, n, k, w.Packed)
	case dt == tensor.Q4_K && w.Packed != nil && q4KPackable(k):
		p.matMulQ4KPacked(out, x, m, n, k, w.Packed)
	case dt == tensor.Q6_K && w.Packed != nil && q6KPackable(k):
		p.matMulQ6KPacked(out, x, m, n, k, w.Packed)
	case dt == tensor.Q5_K && w.Packed != nil && q5KPackable(k):
		p.matMulQ5KPacked(out, x, m, n, k, w.Packed)
	case dt == tensor.Q3_K && w.Packed != nil && q3KPackable(k):
		p.matMulQ3KPacked(out, x, m, n, k, w.Packed)
	case dt == tensor.IQ4_XS && w.Packed != nil && iq4XSPackable(k):
		p.matMulIQ4XSPacked(out, x, m, n, k, w.Packed)
	case dt == tensor.Q8_0 || dt == tensor.Q4_0:
		p.matMulQuant(out, x, m, n, k, data, rs, dt)
	case dt == tensor.Q4_K || dt == tensor.Q6_K:
		p.matMulSuper(out, x, m, n, k, data, rs, dt)
	case tensor.Unpacker(dt) != nil: // the other block types (kquant.go)
		p.matMulBlocks(out, x, m, n, k, data, rs, dt)
	case dt == tensor.BF16 && matMulBF16AMX != nil && matMulBF16AMX(p, out, x, m, n, k, data, rs):
		// done on the AMX tile unit
	case !useAsm:
		matMulGeneric(p, out, x, m, n, k, data, rs, dt)
	default:
		p.matMulFloat(out, x, m, n, k, data, rs, dt)
	}
	return nil
}

// checkMatMul checks the shapes of MatMul(out, x, m, w) and returns w's rows, row length
// and row size in bytes.
func checkMatMul(out, x []float32, m int, w *tensor.Tensor) (n, k, rs int, err error) {
	if len(w.Shape) != 2 {
		return 0, 0, 0, fmt.Errorf("matmul %s: weight must be 2-D, has shape %v", w.Name, w.Shape)
	}
	n, k = w.Shape[0], w.Shape[1]
	if m < 0 || n < 0 || k < 0 {
		return 0, 0, 0, fmt.Errorf("matmul %s [%d,%d]: negative size (m = %d)", w.Name, n, k, m)
	}
	if (k > 0 && m > math.MaxInt/k) || (n > 0 && m > math.MaxInt/n) {
		return 0, 0, 0, fmt.Errorf("matmul %s [%d,%d]: %d rows is too many", w.Name, n, k, m)
	}
	if len(x) < m*k || len(out) < m*n {
		return 0, 0, 0, fmt.Errorf("matmul %s [%d,%d]: x has %d values, out %d, for %d rows", w.Name, n, k, len(x), len(out), m)
	}
	rs, err = w.DType.RowBytes(k)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("matmul %s: %w", w.Name, err)
	}
	if (rs > 0 && n > math.MaxInt/rs) || len(w.Data) < rs*n {
		return 0, 0, 0, fmt.Errorf("matmul %s: %d bytes, need %d", w.Name, len(w.Data), rs*n)
	}
	if w.Packed != nil && w.DType == tensor.BF16 && bf16PanelsOn() && len(w.Packed) < bf16PanelBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), bf16PanelBytes(n, k))
	}
	if w.Packed != nil && (w.DType == tensor.F32 || w.DType == tensor.F16 || w.DType == tensor.BF16) && len(w.Packed) < rs*n {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), rs*n)
	}
	if w.Packed != nil && (w.DType == tensor.Q8_0 || w.DType == tensor.Q4_0) && k%32 == 0 {
		if gs := groupLayout(w.DType, k).size; len(w.Packed) < (n+15)/16*gs {
			return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), (n+15)/16*gs)
		}
	}
	if w.Packed != nil && w.DType == tensor.Q4_K && k%256 == 0 && len(w.Packed) < q4KPBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), q4KPBytes(n, k))
	}
	if w.Packed != nil && w.DType == tensor.Q6_K && k%256 == 0 && len(w.Packed) < q6KPBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), q6KPBytes(n, k))
	}
	if w.Packed != nil && w.DType == tensor.Q5_K && k%256 == 0 && len(w.Packed) < q5KPBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), q5KPBytes(n, k))
	}
	if w.Packed != nil && w.DType == tensor.Q3_K && k%256 == 0 && len(w.Packed) < q3KPBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), q3KPBytes(n, k))
	}
	if w.Packed != nil && w.DType == tensor.IQ4_XS && k%256 == 0 && len(w.Packed) < iq4XSPBytes(n, k) {
		return 0, 0, 0, fmt.Errorf("matmul %s: packed weights have %d bytes, need %d", w.Name, len(w.Packed), iq4XSPBytes(n, k))
	}
	return n, k, rs, nil
}

// MatMuls computes outs[i] = x · ws[i]ᵀ for weights that take the same x, as attention's
// Q, K and V projections or the MLP's gate and up do, with the results MatMul gives for
// each. Where the weights are packed (Pack), x is prepared once for all of them and
// their products are split over the threads together, in one hand-over.
func (p *Pool) MatMuls(outs [][]float32, x []float32, m int, ws []*tensor.Tensor) error {
	if len(outs) != len(ws) {
		return fmt.Errorf("matmuls: %d outputs for %d weights", len(outs), len(ws))
	}
	if ok, err := p.matMulsBF16(outs, x, m, ws); ok || err != nil {
		return err // BF16 pair panels: one padded copy of x for all (bf16z.go)
	}
	var buf [4]pkJob
	jobs := buf[:0]
	k0 := -1
	for i, w := range ws {
		n, k, _, err := checkMatMul(outs[i], x, m, w)
		if err != nil {
			return err
		}
		if k0 < 0 {
			k0 = k
		}
		if packedMatMuls == nil || w.Packed == nil || k != k0 || k%32 != 0 || m == 0 || n == 0 ||
			(w.DType != tensor.Q8_0 && w.DType != tensor.Q4_0) {
			jobs = nil
			break
		}
		jobs = append(jobs, pkJob{outs[i], n, w.Packed, w.DType})
	}
	if len(jobs) == 0 {
		for i, w := range ws {
			if err := p.MatMul(outs[i], x, m, w); err != nil {
				return err
			}
		}
		return nil
	}
	packedMatMuls(p, x, m, k0, jobs)
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
	if len(w.Data) < (i+1)*rs {
		return fmt.Errorf("%s: %d bytes, too short for row %d", w.Name, len(w.Data), i)
	}
	return tensor.DecodeRow(dst, w.Data[i*rs:(i+1)*rs], w.DType)
}

// Dot returns Σ a[i]·b[i] over len(a) elements (b must be at least as long).
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	n := len(a) &^ 7
	if !useAsm || n == 0 {
		return dotGeneric(a, b)
	}
	s := dotVec(&a[0], &b[0], n)
	for i := n; i < len(a); i++ {
		s += a[i] * b[i]
	}
	return s
}

// Axpy adds a·x to y element-wise (y += a*x) over len(x) elements.
func Axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	n := len(x) &^ 7
	if !useAsm || n == 0 {
		axpyGeneric(a, x, y)
		return
	}
	axpyVec(a, &x[0], &y[0], n)
	axpyGeneric(a, x[n:], y[n:])
}

// DotRows sets out[t] = Dot(q, keys[t*stride:])·scale for t < len(out): the scores of
// one attention query against len(out) keys stored stride elements apart (a KV cache
// holding several heads per position), with one call rather than one per key. Each
// score has the same bits as that expression.
func DotRows(out, q, keys []float32, stride int, scale float32) {
	rows, n := len(out), len(q)
	if rows == 0 {
		return
	}
	if !useAsm || n == 0 || n&7 != 0 || stride < n {
		for t := range out {
			out[t] = Dot(q, keys[t*stride:]) * scale
		}
		return
	}
	_ = keys[(rows-1)*stride+n-1] // bounds check before the assembly runs
	dotRowsVec(&q[0], &keys[0], stride, n, rows, scale, &out[0])
}

// AxpyRows adds a[t]·x[t*stride:t*stride+len(y)] to y for t < len(a), in order: the
// value-weighted sum of attention over len(a) positions, with one call rather than
// one per position. The result has the same bits as len(a) calls of Axpy.
func AxpyRows(y, a, x []float32, stride int) {
	rows, n := len(a), len(y)
	if rows == 0 || n == 0 {
		return
	}
	if !useAsm || n&7 != 0 || stride < n {
		for t, v := range a {
			Axpy(v, x[t*stride:t*stride+n], y)
		}
		return
	}
	_ = x[(rows-1)*stride+n-1] // bounds check before the assembly runs
	axpyRowsVec(&a[0], &x[0], stride, rows, &y[0], n)
}

// QuantizeQ8 quantizes x (a multiple of 32 values) to 8 bits per value in blocks of 32,
// the way ggml's quantize_row_q8_0_ref does and tensor.EncodeRow's Q8_0 stores it: for
// each block, d = max|x|/127 rounded to float16, q = round(x·127/max|x|) with halves away
// from zero. It writes the int8 values to q (len(x) of them) and the scales, as float32,
// to d (len(x)/32 of them). NaN inputs are ignored for the maximum and quantize to 0.
// MatMul uses it on the activations when the weights are Q8_0 or Q4_0, so that the
// products are integer dot products.
func QuantizeQ8(q []int8, d []float32, x []float32) {
	nb := len(x) / 32
	if !useAsm || nb == 0 {
		quantizeQ8Generic(q, d, x)
		return
	}
	q, d = q[:nb*32], d[:nb] // bounds checks before the assembly runs
	quantizeQ8Vec(&x[0], &q[0], &d[0], nb)
}

// RMSNorm writes x / sqrt(mean(x²) + eps) · w to out (out may alias x).
func RMSNorm(out, x, w []float32, eps float32) {
	if !useAsm || len(x) < 8 {
		rmsNormGeneric(out, x, w, eps)
		return
	}
	ss := Dot(x, x)
	scale := float32(1 / math.Sqrt(float64(ss)/float64(len(x))+float64(eps)))
	w, out = w[:len(x)], out[:len(x)]
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// Softmax replaces x with exp(x - max) / Σ exp(x - max).
func Softmax(x []float32) {
	if !useAsm || len(x) < 8 {
		softmaxGeneric(x)
		return
	}
	max := x[0]
	for _, v := range x[1:] {
		if v > max {
			max = v
		}
	}
	n := len(x) &^ 7
	sum := float64(expSumVec(&x[0], n, max))
	for i := n; i < len(x); i++ {
		e := float32(math.Exp(float64(x[i] - max)))
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
	n := len(gate) &^ 7
	if !useAsm || n == 0 {
		siluMulGeneric(out, gate, up)
		return
	}
	out, up = out[:len(gate)], up[:len(gate)]
	siluMulVec(&out[0], &gate[0], &up[0], n)
	siluMulGeneric(out[n:], gate[n:], up[n:])
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
