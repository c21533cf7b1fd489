// Package tensor describes weights as they are stored: a data type, a shape and the raw
// little-endian bytes, usually a view into a memory-mapped checkpoint file. It owns the
// element types decilm understands (f32, f16, bf16 and GGUF's block-quantized q8_0, q4_0,
// q4_K, q6_K) and the scalar conversions between them; it never copies weights.
package tensor

import (
	"fmt"
	"math"
)

// DType is the storage type of a tensor's elements.
type DType uint8

// The storage types decilm reads. Block types store BlockSize consecutive elements of a row
// in BlockBytes bytes, with the layouts GGUF (ggml) uses.
const (
	F32  DType = iota // IEEE-754 binary32
	F16               // IEEE-754 binary16
	BF16              // bfloat16: the top half of a binary32
	Q8_0              // blocks of 32: f16 scale d, 32 int8 q; x = d*q
	Q4_0              // blocks of 32: f16 scale d, 16 bytes of nibbles; x = d*(q-8); low nibbles hold elements 0..15
	Q4_K              // super-blocks of 256 with 6-bit sub-block scales and mins (ggml block_q4_K)
	Q6_K              // super-blocks of 256 with 8-bit sub-block scales (ggml block_q6_K)
	I32               // int32, for non-weight data such as indices
	nDTypes
)

type dtypeInfo struct {
	name       string
	blockSize  int
	blockBytes int
}

var dtypeInfos = [nDTypes]dtypeInfo{
	F32:  {"f32", 1, 4},
	F16:  {"f16", 1, 2},
	BF16: {"bf16", 1, 2},
	Q8_0: {"q8_0", 32, 34},
	Q4_0: {"q4_0", 32, 18},
	Q4_K: {"q4_K", 256, 144},
	Q6_K: {"q6_K", 256, 210},
	I32:  {"i32", 1, 4},
}

// Valid reports whether d is a known data type.
func (d DType) Valid() bool { return d < nDTypes }

// String returns the lower-case name of the type ("f32", "bf16", "q8_0", ...).
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("dtype(%d)", uint8(d))
	}
	return dtypeInfos[d].name
}

// BlockSize is the number of elements one block holds (1 for scalar types).
func (d DType) BlockSize() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfos[d].blockSize
}

// BlockBytes is the number of bytes one block takes.
func (d DType) BlockBytes() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfos[d].blockBytes
}

// Quantized reports whether d stores elements in blocks with shared scales.
func (d DType) Quantized() bool { return d.BlockSize() > 1 }

// ParseDType maps a name such as "f32", "BF16" or "q4_0" to its DType.
func ParseDType(s string) (DType, error) {
	for d := DType(0); d < nDTypes; d++ {
		if equalFold(dtypeInfos[d].name, s) {
			return d, nil
		}
	}
	return 0, fmt.Errorf("unknown data type %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// RowBytes returns the number of bytes n consecutive elements take, or an error when n is
// not a whole number of blocks.
func (d DType) RowBytes(n int) (int, error) {
	if !d.Valid() {
		return 0, fmt.Errorf("unknown data type %d", uint8(d))
	}
	bs := d.BlockSize()
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("%d elements of %s: not a multiple of its block size %d", n, d, bs)
	}
	return n / bs * d.BlockBytes(), nil
}

// Tensor is a named n-dimensional array in its stored type. Shape lists dimensions
// outermost first, as PyTorch and safetensors do: a linear layer's weight is [out, in] and
// row o (the in-many elements that produce output o) is contiguous. Data is exactly the
// tensor's bytes, usually a slice of a memory-mapped file; callers must not write to it.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte

	// Packed, when not nil, holds Data laid out again for the running CPU's fastest
	// matrix-product kernels (kernel.Pool.Pack sets it); Data stays the reference for
	// everything else.
	Packed []byte
}

// Elements returns the number of elements (the product of Shape; 1 for a scalar).
func (t *Tensor) Elements() int {
	n := 1
	for _, s := range t.Shape {
		n *= s
	}
	return n
}

// Rows returns the number of rows (the product of every dimension but the last).
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	n := 1
	for _, s := range t.Shape[:len(t.Shape)-1] {
		n *= s
	}
	return n
}

// Cols returns the length of the last dimension (the row length).
func (t *Tensor) Cols() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[len(t.Shape)-1]
}

// RowSize returns the number of bytes one row takes.
func (t *Tensor) RowSize() int {
	n, _ := t.DType.RowBytes(t.Cols())
	return n
}

// Row returns the bytes of row i.
func (t *Tensor) Row(i int) []byte {
	rs := t.RowSize()
	return t.Data[i*rs : (i+1)*rs]
}

// Validate checks that the shape is non-negative, that rows hold whole blocks and that Data
// has exactly the bytes the shape and type need. Errors name the tensor.
func (t *Tensor) Validate() error {
	if !t.DType.Valid() {
		return fmt.Errorf("tensor %q: unknown data type %d", t.Name, uint8(t.DType))
	}
	n := 1
	for _, s := range t.Shape {
		if s < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", t.Name, t.Shape)
		}
		if s != 0 && n > math.MaxInt/s {
			return fmt.Errorf("tensor %q: shape %v is too large", t.Name, t.Shape)
		}
		n *= s
	}
	rb, err := t.DType.RowBytes(t.Cols())
	if err != nil {
		return fmt.Errorf("tensor %q shape %v: %w", t.Name, t.Shape, err)
	}
	want := rb * t.Rows()
	if len(t.Shape) == 0 {
		want = t.DType.BlockBytes()
	}
	if len(t.Data) != want {
		return fmt.Errorf("tensor %q: %s shape %v needs %d bytes, have %d", t.Name, t.DType, t.Shape, want, len(t.Data))
	}
	return nil
}

// ShapeEqual reports whether two shapes are identical.
func ShapeEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
