// Package tensor describes weights as they are stored: a data type, a shape and the raw
// little-endian bytes, usually a view into a memory-mapped checkpoint file. It owns the
// element types decilm understands (f32, f16, bf16 and every block-quantized type of GGUF
// files that llama.cpp writes: q8_0, q4_0, the k-quants, the i-quants, the ternary types)
// and the scalar conversions between them; it never copies weights.
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

	// The other block types llama.cpp's llama-quantize writes, with ggml's layouts (see
	// ggml-common.h; quants.go decodes them).
	Q4_1    // blocks of 32: f16 d, f16 m, 16 bytes of nibbles; x = d*q + m
	Q5_0    // blocks of 32: f16 d, 4 bytes of fifth bits, 16 bytes of nibbles; x = d*(q-16)
	Q5_1    // blocks of 32: f16 d, f16 m, fifth bits, nibbles; x = d*q + m
	Q2_K    // super-blocks of 256: 4-bit scales and mins of 16, 2-bit quants (block_q2_K)
	Q3_K    // super-blocks of 256: high bits, 2-bit quants, 6-bit scales of 16 (block_q3_K)
	Q5_K    // super-blocks of 256: as Q4_K with a fifth bit (block_q5_K)
	Q8_K    // super-blocks of 256: f32 d, 256 int8, 16 int16 sums (block_q8_K)
	IQ4_NL  // blocks of 32: f16 d, nibbles indexing 16 non-linear values (block_iq4_nl)
	IQ4_XS  // super-blocks of 256: IQ4_NL values with 6-bit scales of 32 (block_iq4_xs)
	IQ3_XXS // super-blocks of 256: 3.06 bits a weight on a lattice grid (block_iq3_xxs)
	IQ3_S   // super-blocks of 256: 3.44 bits a weight on a lattice grid (block_iq3_s)
	IQ2_XXS // super-blocks of 256: 2.06 bits a weight on a lattice grid (block_iq2_xxs)
	IQ2_XS  // super-blocks of 256: 2.31 bits a weight (block_iq2_xs)
	IQ2_S   // super-blocks of 256: 2.56 bits a weight (block_iq2_s)
	IQ1_S   // super-blocks of 256: 1.56 bits a weight (block_iq1_s)
	IQ1_M   // super-blocks of 256: 1.75 bits a weight (block_iq1_m)
	TQ1_0   // super-blocks of 256: ternary, 5 weights a byte (block_tq1_0)
	TQ2_0   // super-blocks of 256: ternary, 2 bits a weight (block_tq2_0)
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

	Q4_1:    {"q4_1", 32, 20},
	Q5_0:    {"q5_0", 32, 22},
	Q5_1:    {"q5_1", 32, 24},
	Q2_K:    {"q2_K", 256, 84},
	Q3_K:    {"q3_K", 256, 110},
	Q5_K:    {"q5_K", 256, 176},
	Q8_K:    {"q8_K", 256, 292},
	IQ4_NL:  {"iq4_nl", 32, 18},
	IQ4_XS:  {"iq4_xs", 256, 136},
	IQ3_XXS: {"iq3_xxs", 256, 98},
	IQ3_S:   {"iq3_s", 256, 110},
	IQ2_XXS: {"iq2_xxs", 256, 66},
	IQ2_XS:  {"iq2_xs", 256, 74},
	IQ2_S:   {"iq2_s", 256, 82},
	IQ1_S:   {"iq1_s", 256, 50},
	IQ1_M:   {"iq1_m", 256, 56},
	TQ1_0:   {"tq1_0", 256, 54},
	TQ2_0:   {"tq2_0", 256, 66},
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
