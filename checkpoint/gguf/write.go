package gguf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/decilm/decilm/tensor"
)

// Write writes a GGUF version 3 file with the given metadata and tensors, in that order.
//
// Values must have one of the Go types listed for KV (a Go int or float without a size is
// an error, so that the stored type is always the one meant). The tensor data are aligned
// to general.alignment when kv sets it (a uint32 power of two) and to 32 bytes otherwise;
// the key is written only if kv has it. Tensor shapes are outermost first, as in
// tensor.Tensor, and are stored reversed, innermost first, as GGUF wants; a tensor may have
// at most 4 dimensions. Every tensor must pass Validate and names and keys must be unique.
func Write(w io.Writer, kv []KV, tensors []*tensor.Tensor) error {
	for _, t := range tensors {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("gguf: write: %w", err)
		}
	}
	return WriteStream(w, kv, tensors, func(i int, w io.Writer) error {
		_, err := w.Write(tensors[i].Data)
		return err
	})
}

// WriteStream is Write for tensors too large to hold in memory at once: the header is built
// from each tensor's Name, DType and Shape (Data is ignored), then data(i, w) must write
// exactly tensor i's bytes, in order; the padding between tensors is written here. A wrong
// byte count is an error.
func WriteStream(w io.Writer, kv []KV, tensors []*tensor.Tensor, data func(i int, w io.Writer) error) error {
	align := DefaultAlignment
	keys := make(map[string]bool, len(kv))
	var meta bytes.Buffer
	le := binary.LittleEndian
	putU32 := func(v uint32) { meta.Write(le.AppendUint32(nil, v)) }
	putU64 := func(v uint64) { meta.Write(le.AppendUint64(nil, v)) }
	putStr := func(s string) { putU64(uint64(len(s))); meta.WriteString(s) }

	meta.WriteString(Magic)
	putU32(3)
	putU64(uint64(len(tensors)))
	putU64(uint64(len(kv)))
	for _, e := range kv {
		if keys[e.Key] {
			return fmt.Errorf("gguf: write: metadata key %q appears twice", e.Key)
		}
		keys[e.Key] = true
		if e.Key == AlignmentKey {
			a, ok := e.Value.(uint32)
			if !ok || a == 0 || a&(a-1) != 0 || a > 1<<30 {
				return fmt.Errorf("gguf: write: %s must be a uint32 power of two, have %v (%T)", AlignmentKey, e.Value, e.Value)
			}
			align = int(a)
		}
		putStr(e.Key)
		b, err := appendValue(nil, e.Value, 0, true)
		if err != nil {
			return fmt.Errorf("gguf: write: metadata key %q: %w", e.Key, err)
		}
		meta.Write(b)
	}

	names := make(map[string]bool, len(tensors))
	sizes := make([]int, len(tensors))
	offset := uint64(0)
	for i, t := range tensors {
		if names[t.Name] {
			return fmt.Errorf("gguf: write: tensor %q appears twice", t.Name)
		}
		names[t.Name] = true
		if len(t.Shape) > maxDims {
			return fmt.Errorf("gguf: write: tensor %q has %d dimensions, GGUF allows at most %d", t.Name, len(t.Shape), maxDims)
		}
		typ, err := GGMLTypeOf(t.DType)
		if err != nil {
			return fmt.Errorf("gguf: write: tensor %q: %w", t.Name, err)
		}
		rows := t.Rows()
		rb, err := t.DType.RowBytes(t.Cols())
		if err != nil {
			return fmt.Errorf("gguf: write: tensor %q: %w", t.Name, err)
		}
		sizes[i] = rows * rb
		putStr(t.Name)
		putU32(uint32(len(t.Shape)))
		for i := len(t.Shape) - 1; i >= 0; i-- {
			putU64(uint64(t.Shape[i]))
		}
		putU32(uint32(typ))
		putU64(offset)
		offset += uint64(padded(sizes[i], align))
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	zeros := make([]byte, align)
	if _, err := bw.Write(meta.Bytes()); err != nil {
		return fmt.Errorf("gguf: write: %w", err)
	}
	if _, err := bw.Write(zeros[:padded(meta.Len(), align)-meta.Len()]); err != nil {
		return fmt.Errorf("gguf: write: %w", err)
	}
	for i, t := range tensors {
		cw := &countingWriter{w: bw}
		if err := data(i, cw); err != nil {
			return fmt.Errorf("gguf: write: tensor %q: %w", t.Name, err)
		}
		if cw.n != sizes[i] {
			return fmt.Errorf("gguf: write: tensor %q: wrote %d bytes, its shape needs %d", t.Name, cw.n, sizes[i])
		}
		if _, err := bw.Write(zeros[:padded(sizes[i], align)-sizes[i]]); err != nil {
			return fmt.Errorf("gguf: write: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gguf: write: %w", err)
	}
	return nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// padded rounds n up to a multiple of align (a power of two).
func padded(n, align int) int { return (n + align - 1) &^ (align - 1) }

// appendValue appends a value's encoding to b: its type tag first when withType is set (an
// array's elements carry no tag of their own, except that nested arrays carry their
// element type and count).
func appendValue(b []byte, v any, depth int, withType bool) ([]byte, error) {
	le := binary.LittleEndian
	tag := func(t ValueType) {
		if withType {
			b = le.AppendUint32(b, uint32(t))
		}
	}
	arr := func(et ValueType, n int) {
		tag(TypeArray)
		b = le.AppendUint32(b, uint32(et))
		b = le.AppendUint64(b, uint64(n))
	}
	switch x := v.(type) {
	case uint8:
		tag(TypeUint8)
		b = append(b, x)
	case int8:
		tag(TypeInt8)
		b = append(b, byte(x))
	case uint16:
		tag(TypeUint16)
		b = le.AppendUint16(b, x)
	case int16:
		tag(TypeInt16)
		b = le.AppendUint16(b, uint16(x))
	case uint32:
		tag(TypeUint32)
		b = le.AppendUint32(b, x)
	case int32:
		tag(TypeInt32)
		b = le.AppendUint32(b, uint32(x))
	case uint64:
		tag(TypeUint64)
		b = le.AppendUint64(b, x)
	case int64:
		tag(TypeInt64)
		b = le.AppendUint64(b, uint64(x))
	case float32:
		tag(TypeFloat32)
		b = le.AppendUint32(b, math.Float32bits(x))
	case float64:
		tag(TypeFloat64)
		b = le.AppendUint64(b, math.Float64bits(x))
	case bool:
		tag(TypeBool)
		if x {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case string:
		tag(TypeString)
		b = le.AppendUint64(b, uint64(len(x)))
		b = append(b, x...)
	case []uint8:
		arr(TypeUint8, len(x))
		b = append(b, x...)
	case []int8:
		arr(TypeInt8, len(x))
		for _, e := range x {
			b = append(b, byte(e))
		}
	case []uint16:
		arr(TypeUint16, len(x))
		for _, e := range x {
			b = le.AppendUint16(b, e)
		}
	case []int16:
		arr(TypeInt16, len(x))
		for _, e := range x {
			b = le.AppendUint16(b, uint16(e))
		}
	case []uint32:
		arr(TypeUint32, len(x))
		for _, e := range x {
			b = le.AppendUint32(b, e)
		}
	case []int32:
		arr(TypeInt32, len(x))
		for _, e := range x {
			b = le.AppendUint32(b, uint32(e))
		}
	case []uint64:
		arr(TypeUint64, len(x))
		for _, e := range x {
			b = le.AppendUint64(b, e)
		}
	case []int64:
		arr(TypeInt64, len(x))
		for _, e := range x {
			b = le.AppendUint64(b, uint64(e))
		}
	case []float32:
		arr(TypeFloat32, len(x))
		for _, e := range x {
			b = le.AppendUint32(b, math.Float32bits(e))
		}
	case []float64:
		arr(TypeFloat64, len(x))
		for _, e := range x {
			b = le.AppendUint64(b, math.Float64bits(e))
		}
	case []bool:
		arr(TypeBool, len(x))
		for _, e := range x {
			if e {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	case []string:
		arr(TypeString, len(x))
		for _, e := range x {
			b = le.AppendUint64(b, uint64(len(e)))
			b = append(b, e...)
		}
	case []any:
		if depth+1 >= maxNesting {
			return nil, fmt.Errorf("arrays nested more than %d deep", maxNesting)
		}
		arr(TypeArray, len(x))
		for i, e := range x {
			var err error
			if !isArray(e) {
				return nil, fmt.Errorf("element %d of an array of arrays is %T, want a slice", i, e)
			}
			// A nested array is written as its element type, count and elements.
			if b, err = appendValue(b, e, depth+1, false); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
	default:
		return nil, fmt.Errorf("value of Go type %T has no GGUF type", v)
	}
	return b, nil
}

func isArray(v any) bool {
	switch v.(type) {
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []uint64, []int64,
		[]float32, []float64, []bool, []string, []any:
		return true
	}
	return false
}
