package train

import (
	"fmt"
	"unsafe"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// The frozen base matrices. A training forward multiplies by each weight's exact value in
// float32: float weights (F32, BF16, F16) go straight to kernel.Pool.MatMul, whose float
// products are exact; quantized ones are decoded a slab of rows at a time into float32 and
// multiplied the same way, as QLoRA computes with dequantized weights. (Pool.MatMul of a
// quantized weight would round the activations to 8 bits first, a step the gradient
// cannot see.) The backward, dx += dy·W, decodes the same slabs and transposes them.

// slabElems bounds the float32 elements of one decoded slab of a weight (16 MiB); a
// variable so that tests can make slabs small.
var slabElems = 1 << 22

// exactFloat reports whether Pool.MatMul multiplies by w's exact values.
func exactFloat(dt tensor.DType) bool {
	return dt == tensor.F32 || dt == tensor.BF16 || dt == tensor.F16
}

// f32Tensor wraps float32 values as an F32 tensor of shape [rows, cols] without copying.
func f32Tensor(v []float32, rows, cols int) *tensor.Tensor {
	var data []byte
	if len(v) > 0 {
		data = unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*rows*cols)
	}
	return &tensor.Tensor{Name: "slab", DType: tensor.F32, Shape: []int{rows, cols}, Data: data}
}

// linear holds the scratch of the frozen products.
type linear struct {
	pool      *kernel.Pool
	slab, tmp []float32
	slabT     []float32
	dyc       []float32
}

// grow returns b with length n, reallocating when its capacity is short.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// slabRows is the number of rows of w decoded at a time.
func slabRows(n, k int) int {
	return max(1, min(n, slabElems/max(k, 1)))
}

// decode decodes rows [lo, hi) of w into dst (float32, row-major), in parallel.
func (l *linear) decode(dst []float32, w *tensor.Tensor, lo, hi int) error {
	k := w.Shape[1]
	rs := w.RowSize()
	var first error
	errs := make([]error, hi-lo)
	l.pool.Run(hi-lo, func(a, b int) {
		for i := a; i < b; i++ {
			r := lo + i
			errs[i] = tensor.DecodeRow(dst[i*k:(i+1)*k], w.Data[r*rs:(r+1)*rs], w.DType)
		}
	})
	for _, e := range errs {
		if e != nil && first == nil {
			first = fmt.Errorf("%s: %w", w.Name, e)
		}
	}
	return first
}

// decodeT decodes rows [lo, hi) of w transposed into dst ([k, hi-lo]): 16 rows at a time
// into a buffer, then each column's 16 values as one 64-byte run, in parallel.
func (l *linear) decodeT(dst []float32, w *tensor.Tensor, lo, hi int) error {
	const group = 16
	k, rs, rows := w.Shape[1], w.RowSize(), hi-lo
	groups := (rows + group - 1) / group
	errs := make([]error, groups)
	l.pool.Run(groups, func(a, b int) {
		buf := make([]float32, group*k)
		for g := a; g < b; g++ {
			r0 := g * group
			gr := min(group, rows-r0)
			for r := 0; r < gr; r++ {
				row := lo + r0 + r
				if err := tensor.DecodeRow(buf[r*k:(r+1)*k], w.Data[row*rs:(row+1)*rs], w.DType); err != nil {
					errs[g] = fmt.Errorf("%s: %w", w.Name, err)
					return
				}
			}
			for c := 0; c < k; c++ {
				d := dst[c*rows+r0 : c*rows+r0+gr]
				for r := range d {
					d[r] = buf[r*k+c]
				}
			}
		}
	})
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// forward sets y = x·Wᵀ for m rows of x, with W's exact values.
func (l *linear) forward(y, x []float32, m int, w *tensor.Tensor) error {
	if exactFloat(w.DType) {
		return l.pool.MatMul(y, x, m, w)
	}
	n, k := w.Shape[0], w.Shape[1]
	if len(w.Data) < n*w.RowSize() {
		return fmt.Errorf("%s: %d bytes, too short for shape %v", w.Name, len(w.Data), w.Shape)
	}
	c := slabRows(n, k)
	l.slab = grow(l.slab, c*k)
	l.tmp = grow(l.tmp, m*c)
	for lo := 0; lo < n; lo += c {
		hi := min(n, lo+c)
		if err := l.decode(l.slab, w, lo, hi); err != nil {
			return err
		}
		tmp := l.tmp[:m*(hi-lo)]
		if err := l.pool.MatMul(tmp, x, m, f32Tensor(l.slab, hi-lo, k)); err != nil {
			return err
		}
		for i := 0; i < m; i++ {
			copy(y[i*n+lo:i*n+hi], tmp[i*(hi-lo):(i+1)*(hi-lo)])
		}
	}
	return nil
}

// backward adds dy·W to dx for m rows of dy ([m, n]) and dx ([m, k]).
func (l *linear) backward(dx, dy []float32, m int, w *tensor.Tensor) error {
	n, k := w.Shape[0], w.Shape[1]
	if len(w.Data) < n*w.RowSize() {
		return fmt.Errorf("%s: %d bytes, too short for shape %v", w.Name, len(w.Data), w.Shape)
	}
	c := slabRows(n, k)
	l.slabT = grow(l.slabT, c*k)
	l.tmp = grow(l.tmp, m*k)
	l.dyc = grow(l.dyc, m*c)
	for lo := 0; lo < n; lo += c {
		hi := min(n, lo+c)
		rows := hi - lo
		// slabT [k, rows] = W[lo:hi]ᵀ, so that dy[:, lo:hi]·W[lo:hi] = MatMul(dyc, slabT).
		if err := l.decodeT(l.slabT, w, lo, hi); err != nil {
			return err
		}
		slabT := l.slabT
		dyc := l.dyc[:m*rows]
		for i := 0; i < m; i++ {
			copy(dyc[i*rows:(i+1)*rows], dy[i*n+lo:i*n+hi])
		}
		tmp := l.tmp[:m*k]
		if err := l.pool.MatMul(tmp, dyc, m, f32Tensor(slabT, k, rows)); err != nil {
			return err
		}
		l.pool.Run(m, func(a, b int) {
			for i := a; i < b; i++ {
				kernel.Axpy(1, tmp[i*k:(i+1)*k], dx[i*k:(i+1)*k])
			}
		})
	}
	return nil
}
