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
// cannot see.) The backward, dx += dy·W, decodes slabs of W's columns, transposed.

// slabElems bounds the float32 elements of one decoded slab of a weight (2 MiB: it should
// stay in the L2 or L3 cache while MatMul reads it); a variable so that tests can make
// slabs small.
var slabElems = 1 << 19

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

// weightBytes returns the bytes to decode w from: its packed copy where that holds the
// same bytes (Pool.Pack may have given the file's pages back, and reading Data would fault
// them in again, doubling the resident size), else Data.
func weightBytes(w *tensor.Tensor) []byte { return kernel.RowBytes(w) }

// decode decodes rows [lo, hi) of w into dst (float32, row-major), in parallel.
func (l *linear) decode(dst []float32, w *tensor.Tensor, lo, hi int) error {
	k := w.Shape[1]
	rs := w.RowSize()
	data := weightBytes(w)
	var first error
	errs := make([]error, hi-lo)
	l.pool.Run(hi-lo, func(a, b int) {
		for i := a; i < b; i++ {
			r := lo + i
			errs[i] = tensor.DecodeRow(dst[i*k:(i+1)*k], data[r*rs:(r+1)*rs], w.DType)
		}
	})
	for _, e := range errs {
		if e != nil && first == nil {
			first = fmt.Errorf("%s: %w", w.Name, e)
		}
	}
	return first
}

// decodeCols decodes columns [c0, c1) of every row of w (c0 at a block boundary) into
// dst transposed, [c1-c0, n]: 16 rows at a time into a buffer, then each column's 16
// values as one 64-byte run, in parallel.
func (l *linear) decodeCols(dst []float32, w *tensor.Tensor, c0, c1 int) error {
	const group = 16
	n, rs, cw := w.Shape[0], w.RowSize(), c1-c0
	data := weightBytes(w)
	off := c0 / w.DType.BlockSize() * w.DType.BlockBytes()
	groups := (n + group - 1) / group
	errs := make([]error, groups)
	// The buffer's rows are padded by a cache line: with a stride of a power of two bytes
	// the 16 values of a column would share one set of the L1 cache.
	ks := cw + 16
	l.pool.Run(groups, func(a, b int) {
		buf := make([]float32, group*ks)
		for g := a; g < b; g++ {
			j0 := g * group
			gr := min(group, n-j0)
			for r := 0; r < gr; r++ {
				row := data[(j0+r)*rs : (j0+r+1)*rs]
				if err := tensor.DecodeRow(buf[r*ks:r*ks+cw], row[off:], w.DType); err != nil {
					errs[g] = fmt.Errorf("%s: %w", w.Name, err)
					return
				}
			}
			for c := 0; c < cw; c++ {
				d := dst[c*n+j0 : c*n+j0+gr]
				for r := range d {
					d[r] = buf[r*ks+c]
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
	if len(weightBytes(w)) < n*w.RowSize() {
		return fmt.Errorf("%s: %d bytes, too short for shape %v", w.Name, len(weightBytes(w)), w.Shape)
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

// backward adds dy·W to dx for m rows of dy ([m, n]) and dx ([m, k]). It takes W's
// columns a slab at a time, decoded transposed (so that MatMul's rows are W's columns):
// dx[:, c0:c1] += MatMul(dy, W[:, c0:c1]ᵀ), each slab small enough to stay in the cache
// while MatMul reads it.
func (l *linear) backward(dx, dy []float32, m int, w *tensor.Tensor) error {
	n, k := w.Shape[0], w.Shape[1]
	if len(weightBytes(w)) < n*w.RowSize() {
		return fmt.Errorf("%s: %d bytes, too short for shape %v", w.Name, len(weightBytes(w)), w.Shape)
	}
	bs := w.DType.BlockSize()
	cw := max(bs, 32, slabElems/max(n, 1)/bs*bs)
	cw = min(cw, k)
	l.slabT = grow(l.slabT, cw*n)
	l.tmp = grow(l.tmp, m*cw)
	for c0 := 0; c0 < k; c0 += cw {
		c1 := min(k, c0+cw)
		w2 := c1 - c0
		if err := l.decodeCols(l.slabT, w, c0, c1); err != nil {
			return err
		}
		tmp := l.tmp[:m*w2]
		if err := l.pool.MatMul(tmp, dy, m, f32Tensor(l.slabT, w2, n)); err != nil {
			return err
		}
		l.pool.Run(m, func(a, b int) {
			for i := a; i < b; i++ {
				kernel.Axpy(1, tmp[i*w2:(i+1)*w2], dx[i*k+c0:i*k+c1])
			}
		})
	}
	return nil
}
