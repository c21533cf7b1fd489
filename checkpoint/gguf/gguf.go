// Package gguf reads and writes GGUF files, the single-file checkpoint format of llama.cpp
// and ggml: a header, typed key/value metadata (architecture, hyperparameters, the
// tokenizer's vocabulary), tensor descriptors and aligned tensor data.
//
// Parse and Open read versions 2 and 3 of the format. The metadata is decoded into plain
// Go values (see KV) and every tensor becomes a tensor.Tensor whose Data is a view into the
// file's bytes: nothing is copied, so Open's memory mapping must stay open while the
// tensors are in use. Every count, length and offset is checked against the file's size
// before it is used, so a damaged or hostile file gives an error that names the file and
// the problem, never a panic or a huge allocation.
//
// Write produces a GGUF version 3 file that llama.cpp can load.
package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// Magic is the four bytes every GGUF file starts with.
const Magic = "GGUF"

// DefaultAlignment is the alignment of tensor data when general.alignment is absent.
const DefaultAlignment = 32

// AlignmentKey is the metadata key that sets the alignment of tensor data.
const AlignmentKey = "general.alignment"

// maxDims is the most dimensions a ggml tensor has (GGML_MAX_DIMS).
const maxDims = 4

// maxNesting bounds how deeply arrays of arrays may nest.
const maxNesting = 8

// preallocMax bounds the room reserved from a count read in the file before the items are
// parsed.
const preallocMax = 1024

// KV is one metadata entry. Value holds a Go value of the stored type: uint8, int8, uint16,
// int16, uint32, int32, uint64, int64, float32, float64, bool or string for a scalar; a
// typed slice ([]uint8 ... []float64, []bool, []string) for an array of scalars; and []any,
// whose elements are themselves such slices, for an array of arrays.
type KV struct {
	Key   string
	Value any
}

// UnsupportedTensor describes a tensor whose ggml type decilm cannot compute with (Q5_K,
// IQ2_XS, ...). Its bytes were checked to lie within the file like any other tensor's; it
// is listed so that a loader that needs it can say which tensor and which type.
type UnsupportedTensor struct {
	Name  string
	Type  GGMLType
	Shape []int // outermost first, as tensor.Tensor's
	Data  []byte
}

// File is a parsed GGUF file.
type File struct {
	// Name is the path or name the file was opened with; errors start with it.
	Name string
	// Version is the GGUF format version (2 or 3).
	Version uint32
	// Alignment is the alignment of the tensor data in bytes (general.alignment, default 32).
	Alignment int
	// KV is the metadata in file order.
	KV []KV
	// Tensors lists the tensors of supported types in file order. Shapes are outermost
	// first (GGUF stores ne[0], the innermost dimension, first; it is reversed here) and
	// Data are views into the file's bytes.
	Tensors []*tensor.Tensor
	// Unsupported lists the tensors whose ggml type has no tensor.DType.
	Unsupported []UnsupportedTensor
	// DataOffset is the file offset where the tensor data section starts.
	DataOffset int64

	kvIndex     map[string]int
	tensorIndex map[string]int
	unsupIndex  map[string]int
	mm          *mmap.File
}

// ErrNotFound is wrapped by the accessors' errors when a key or tensor is absent, so that
// callers can tell an optional key that is missing from one of the wrong type.
var ErrNotFound = errors.New("not found")

// Open memory-maps the GGUF file at path and parses it. The tensors' Data point into the
// mapping: call Close only when they are no longer used.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(path, m.Data)
	if err != nil {
		m.Close()
		return nil, err
	}
	f.mm = m
	return f, nil
}

// Close releases the memory mapping made by Open; it does nothing for a File from Parse.
// The tensors' Data must not be used afterwards.
func (f *File) Close() error {
	if f == nil || f.mm == nil {
		return nil
	}
	m := f.mm
	f.mm = nil
	return m.Close()
}

// decoder reads little-endian GGUF fields from data, checking every read against its end.
type decoder struct {
	name string
	data []byte
	off  int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("gguf %s: "+format, append([]any{d.name}, args...)...)
}

func (d *decoder) remaining() int { return len(d.data) - d.off }

func (d *decoder) need(n int, what string) error {
	if n < 0 || n > d.remaining() {
		return d.errorf("%s at byte %d: need %d bytes, the file has %d left (truncated?)", what, d.off, n, d.remaining())
	}
	return nil
}

func (d *decoder) bytes(n int, what string) ([]byte, error) {
	if err := d.need(n, what); err != nil {
		return nil, err
	}
	b := d.data[d.off : d.off+n : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a uint64 count of items that take at least minSize bytes each and checks that
// that many could fit in the rest of the file.
func (d *decoder) count(minSize int, what string) (int, error) {
	at := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(d.remaining()/minSize) {
		return 0, d.errorf("%s at byte %d is %d, but only %d bytes follow", what, at, n, d.remaining())
	}
	return int(n), nil
}

func (d *decoder) str(what string) (string, error) {
	at := d.off
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.remaining()) {
		return "", d.errorf("%s at byte %d has length %d, but only %d bytes follow", what, at, n, d.remaining())
	}
	b, _ := d.bytes(int(n), what)
	return string(b), nil
}

// Parse parses a GGUF file held in data. The tensors' Data are views into data (nothing is
// copied), so data must not change while they are used. name is used in error messages.
func Parse(name string, data []byte) (*File, error) {
	d := &decoder{name: name, data: data}
	magic, err := d.bytes(4, "magic")
	if err != nil {
		return nil, d.errorf("not a GGUF file: %d bytes", len(data))
	}
	if string(magic) != Magic {
		return nil, d.errorf("not a GGUF file: it starts with %q, want %q", magic, Magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 1:
		return nil, d.errorf("GGUF version 1 is not supported (convert it with a newer llama.cpp)")
	case version != 2 && version != 3:
		if v := version>>24 | version>>8&0xff00; v == 2 || v == 3 {
			return nil, d.errorf("big-endian GGUF (version %d) is not supported", v)
		}
		return nil, d.errorf("unsupported GGUF version %d (want 2 or 3)", version)
	}
	// A tensor info takes at least 24 bytes (empty name, n_dims, type, offset), a key/value
	// pair at least 13 (empty key, type, one byte of value).
	nTensors, err := d.count(24, "tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.count(13, "metadata key/value count")
	if err != nil {
		return nil, err
	}
	// The counts only bound the loops: memory grows with what is actually parsed, so a count
	// the file cannot back (a large file whose data is mostly tensors) costs nothing.
	f := &File{
		Name:        name,
		Version:     version,
		Alignment:   DefaultAlignment,
		KV:          make([]KV, 0, min(nKV, preallocMax)),
		kvIndex:     make(map[string]int, min(nKV, preallocMax)),
		tensorIndex: make(map[string]int, min(nTensors, preallocMax)),
		unsupIndex:  map[string]int{},
	}
	for i := 0; i < nKV; i++ {
		at := d.off
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, d.errorf("metadata key %q at byte %d appears twice", key, at)
		}
		t, err := d.u32(fmt.Sprintf("type of metadata key %q", key))
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("%w (metadata key %q)", err, key)
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}
	if v, ok := f.Get(AlignmentKey); ok {
		a, ok := v.(uint32)
		if !ok {
			return nil, d.errorf("%s has type %s, want uint32", AlignmentKey, typeName(v))
		}
		if a == 0 || a&(a-1) != 0 || a > 1<<30 {
			return nil, d.errorf("%s is %d, want a power of two", AlignmentKey, a)
		}
		f.Alignment = int(a)
	}

	type info struct {
		name   string
		typ    GGMLType
		shape  []int
		offset uint64
		size   uint64
	}
	infos := make([]info, 0, min(nTensors, preallocMax))
	seen := make(map[string]bool, min(nTensors, preallocMax))
	for i := 0; i < nTensors; i++ {
		at := d.off
		tname, err := d.str(fmt.Sprintf("name of tensor %d", i))
		if err != nil {
			return nil, err
		}
		if seen[tname] {
			return nil, d.errorf("tensor %q at byte %d appears twice", tname, at)
		}
		seen[tname] = true
		nd, err := d.u32(fmt.Sprintf("dimension count of tensor %q", tname))
		if err != nil {
			return nil, err
		}
		if nd > maxDims {
			return nil, d.errorf("tensor %q has %d dimensions, at most %d are allowed", tname, nd, maxDims)
		}
		shape := make([]int, nd)
		elems := uint64(1)
		for j := 0; j < int(nd); j++ {
			ne, err := d.u64(fmt.Sprintf("dimension %d of tensor %q", j, tname))
			if err != nil {
				return nil, err
			}
			if ne > math.MaxInt64/2 || (ne != 0 && elems > (math.MaxInt64/2)/ne) {
				return nil, d.errorf("tensor %q: dimension %d (%d) makes the tensor too large", tname, j, ne)
			}
			elems *= ne
			shape[int(nd)-1-j] = int(ne) // reverse: GGUF lists the innermost dimension first
		}
		t, err := d.u32(fmt.Sprintf("type of tensor %q", tname))
		if err != nil {
			return nil, err
		}
		typ := GGMLType(t)
		ti, ok := ggmlTypes[typ]
		if !ok {
			return nil, d.errorf("tensor %q has unknown ggml type %d", tname, t)
		}
		off, err := d.u64(fmt.Sprintf("data offset of tensor %q", tname))
		if err != nil {
			return nil, err
		}
		if off%uint64(f.Alignment) != 0 {
			return nil, d.errorf("tensor %q: data offset %d is not a multiple of the alignment %d", tname, off, f.Alignment)
		}
		inner := uint64(1)
		if nd > 0 {
			inner = uint64(shape[nd-1])
		}
		if inner%uint64(ti.blockSize) != 0 {
			return nil, d.errorf("tensor %q: row length %d is not a multiple of the %s block size %d", tname, inner, ti.name, ti.blockSize)
		}
		size := elems / uint64(ti.blockSize) * uint64(ti.blockBytes)
		infos = append(infos, info{tname, typ, shape, off, size})
	}

	// The data section starts at the next multiple of the alignment.
	start := uint64(d.off)
	if r := start % uint64(f.Alignment); r != 0 {
		start += uint64(f.Alignment) - r
	}
	f.DataOffset = int64(start)
	avail := uint64(0)
	if start < uint64(len(data)) {
		avail = uint64(len(data)) - start
	}
	order := make([]int, len(infos))
	for i, in := range infos {
		order[i] = i
		if in.offset > avail || in.size > avail-in.offset {
			return nil, d.errorf("tensor %q: %d bytes at data offset %d (file offset %d) run past the end of the file (%d bytes)",
				in.name, in.size, in.offset, start+in.offset, len(data))
		}
	}
	sort.Slice(order, func(a, b int) bool { return infos[order[a]].offset < infos[order[b]].offset })
	prev := -1 // the non-empty tensor that ends last so far
	for _, k := range order {
		q := infos[k]
		if q.size == 0 {
			continue
		}
		if prev >= 0 {
			p := infos[prev]
			if p.offset+p.size > q.offset {
				return nil, d.errorf("tensors %q and %q overlap (data offsets %d+%d and %d)", p.name, q.name, p.offset, p.size, q.offset)
			}
		}
		prev = k
	}

	for _, in := range infos {
		b := []byte{}
		if in.size > 0 { // an empty tensor's offset may lie past the end of a file without data
			lo := int(start + in.offset)
			hi := lo + int(in.size)
			b = data[lo:hi:hi]
		}
		if dt, ok := in.typ.DType(); ok {
			t := &tensor.Tensor{Name: in.name, DType: dt, Shape: in.shape, Data: b}
			if err := t.Validate(); err != nil {
				return nil, d.errorf("%v", err)
			}
			f.tensorIndex[in.name] = len(f.Tensors)
			f.Tensors = append(f.Tensors, t)
		} else {
			f.unsupIndex[in.name] = len(f.Unsupported)
			f.Unsupported = append(f.Unsupported, UnsupportedTensor{Name: in.name, Type: in.typ, Shape: in.shape, Data: b})
		}
	}
	return f, nil
}

// value decodes one metadata value of type t.
func (d *decoder) value(t ValueType, depth int) (any, error) {
	what := "metadata value of type " + t.String()
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		b, err := d.bytes(1, what)
		if err != nil {
			return nil, err
		}
		switch t {
		case TypeUint8:
			return b[0], nil
		case TypeInt8:
			return int8(b[0]), nil
		}
		return b[0] != 0, nil
	case TypeUint16, TypeInt16:
		b, err := d.bytes(2, what)
		if err != nil {
			return nil, err
		}
		v := binary.LittleEndian.Uint16(b)
		if t == TypeInt16 {
			return int16(v), nil
		}
		return v, nil
	case TypeUint32, TypeInt32, TypeFloat32:
		b, err := d.bytes(4, what)
		if err != nil {
			return nil, err
		}
		v := binary.LittleEndian.Uint32(b)
		switch t {
		case TypeInt32:
			return int32(v), nil
		case TypeFloat32:
			return math.Float32frombits(v), nil
		}
		return v, nil
	case TypeUint64, TypeInt64, TypeFloat64:
		b, err := d.bytes(8, what)
		if err != nil {
			return nil, err
		}
		v := binary.LittleEndian.Uint64(b)
		switch t {
		case TypeInt64:
			return int64(v), nil
		case TypeFloat64:
			return math.Float64frombits(v), nil
		}
		return v, nil
	case TypeString:
		return d.str("string value")
	case TypeArray:
		if depth >= maxNesting {
			return nil, d.errorf("arrays nested more than %d deep at byte %d", maxNesting, d.off)
		}
		at := d.off
		et, err := d.u32("array element type")
		if err != nil {
			return nil, err
		}
		return d.array(ValueType(et), at, depth)
	}
	return nil, d.errorf("unknown metadata value type %d at byte %d", uint32(t), d.off-4)
}

// array decodes the count and elements of an array whose element type et was read at byte at.
func (d *decoder) array(et ValueType, at int, depth int) (any, error) {
	minSize := et.fixedSize()
	switch et {
	case TypeString:
		minSize = 8
	case TypeArray:
		minSize = 12
	case TypeUint8, TypeInt8, TypeBool, TypeUint16, TypeInt16, TypeUint32, TypeInt32,
		TypeFloat32, TypeUint64, TypeInt64, TypeFloat64:
	default:
		return nil, d.errorf("array at byte %d has unknown element type %d", at, uint32(et))
	}
	n, err := d.count(minSize, "array length")
	if err != nil {
		return nil, err
	}
	if fs := et.fixedSize(); fs > 0 {
		b, _ := d.bytes(n*fs, "array") // count checked that it fits
		return decodeFixed(et, b, n), nil
	}
	if et == TypeString {
		s := make([]string, n)
		for i := range s {
			if s[i], err = d.str("array string"); err != nil {
				return nil, fmt.Errorf("%w (element %d)", err, i)
			}
		}
		return s, nil
	}
	a := make([]any, n)
	for i := range a {
		if a[i], err = d.value(TypeArray, depth+1); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func decodeFixed(et ValueType, b []byte, n int) any {
	le := binary.LittleEndian
	switch et {
	case TypeUint8:
		return append([]uint8(nil), b...)
	case TypeInt8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(b[i])
		}
		return v
	case TypeBool:
		v := make([]bool, n)
		for i := range v {
			v[i] = b[i] != 0
		}
		return v
	case TypeUint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = le.Uint16(b[2*i:])
		}
		return v
	case TypeInt16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(le.Uint16(b[2*i:]))
		}
		return v
	case TypeUint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = le.Uint32(b[4*i:])
		}
		return v
	case TypeInt32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(le.Uint32(b[4*i:]))
		}
		return v
	case TypeFloat32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return v
	case TypeUint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = le.Uint64(b[8*i:])
		}
		return v
	case TypeInt64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(le.Uint64(b[8*i:]))
		}
		return v
	case TypeFloat64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return v
	}
	return nil
}
