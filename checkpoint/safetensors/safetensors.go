// Package safetensors reads and writes the safetensors format: an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte range, then the
// raw tensor bytes. Reading hands out views into the given bytes (usually a memory-mapped
// file) and validates every offset before use.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// maxHeader bounds the JSON header (the format's own limit is 100 MB).
const maxHeader = 100 << 20

// maxDims bounds a tensor's dimensions (a model's weights have one or two).
const maxDims = 8

// File is a parsed safetensors file.
type File struct {
	// Name is the file name used in error messages.
	Name string
	// Metadata is the optional "__metadata__" string map.
	Metadata map[string]string
	// Tensors lists the tensors in the order of their data offsets.
	Tensors []*tensor.Tensor

	m *mmap.File
}

// Open memory-maps and parses the named file. Close releases the mapping.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, m.Data)
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Close releases the file's mapping, if Open made one. Tensors must not be used after.
func (f *File) Close() error { return f.m.Close() }

var dtypes = map[string]tensor.DType{
	"F32":  tensor.F32,
	"F16":  tensor.F16,
	"BF16": tensor.BF16,
	"I32":  tensor.I32,
}

var dtypeNames = map[tensor.DType]string{
	tensor.F32:  "F32",
	tensor.F16:  "F16",
	tensor.BF16: "BF16",
	tensor.I32:  "I32",
}

type entry struct {
	DType       string  `json:"dtype"`
	Shape       shape   `json:"shape"`
	DataOffsets offsets `json:"data_offsets"`
}

// shape and offsets decode JSON arrays of integers, refusing more than maxDims (2) items as
// they go: a header's "shape":[1,1,1,...] must not become a slice eight times its size.
type (
	shape   []int64
	offsets []int64
)

func (s *shape) UnmarshalJSON(b []byte) error {
	v, err := decodeInts(b, maxDims, "dimensions")
	*s = v
	return err
}

func (o *offsets) UnmarshalJSON(b []byte) error {
	v, err := decodeInts(b, 2, "data offsets")
	*o = v
	return err
}

// decodeInts decodes a JSON array of at most max integers (null is an empty array). b is a
// well-formed JSON value (encoding/json checked it); it is read in place.
func decodeInts(b []byte, max int, what string) ([]int64, error) {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return nil, fmt.Errorf("%s must be an array of integers", what)
	}
	in := bytes.TrimSpace(b[1 : len(b)-1])
	var v []int64
	for len(in) > 0 {
		if len(v) == max {
			return nil, fmt.Errorf("more than %d %s", max, what)
		}
		item := in
		in = nil
		if i := bytes.IndexByte(item, ','); i >= 0 {
			item, in = item[:i], item[i+1:]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(item)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %s is not a 64-bit integer", what, bytes.TrimSpace(item))
		}
		v = append(v, n)
	}
	return v, nil
}

// decodeEntry decodes one tensor's entry, refusing fields other than dtype, shape and
// data_offsets. It reads val in place (a json.Decoder would copy it into a growing buffer).
func decodeEntry(val []byte, e *entry) error {
	var fields map[string]skip
	if err := json.Unmarshal(val, &fields); err != nil {
		return err
	}
	for k := range fields {
		if k != "dtype" && k != "shape" && k != "data_offsets" {
			return fmt.Errorf("json: unknown field %q", k)
		}
	}
	return json.Unmarshal(val, e)
}

// skip is a JSON value that is checked but not kept.
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// readHeader splits the header object into its entries in file order, in one pass, refusing
// a key named twice (decoding into a map would silently keep the last).
func readHeader(hdr []byte) (keys []string, vals []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("header is not a JSON object: %v", err)
	}
	if tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("header is not a JSON object: it starts with %v", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not a JSON object: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, nil, fmt.Errorf("header names %q twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("header is not a JSON object: %v", err)
		}
		keys = append(keys, key)
		vals = append(vals, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header is not a JSON object: %v", err)
	}
	return keys, vals, nil
}

// Parse reads a safetensors file held in data. Tensor Data slices alias data. Errors name
// the file (name) and the tensor or field at fault.
func Parse(name string, data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%s: %d bytes is too short for a safetensors file", name, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeader {
		return nil, fmt.Errorf("%s: header length %d exceeds the %d-byte limit", name, n, maxHeader)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("%s: header length %d runs past the end of the file (%d bytes)", name, n, len(data))
	}
	hdr := data[8 : 8+n]
	body := data[8+n:]
	keys, vals, err := readHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	f := &File{Name: name}
	type span struct {
		t          *tensor.Tensor
		begin, end int64
	}
	var spans []span
	for i, key := range keys {
		val := vals[i]
		if key == "__metadata__" {
			if err := json.Unmarshal(val, &f.Metadata); err != nil {
				return nil, fmt.Errorf("%s: __metadata__ must map strings to strings: %v", name, err)
			}
			continue
		}
		var e entry
		if err := decodeEntry(val, &e); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: bad header entry: %v", name, key, err)
		}
		dt, ok := dtypes[e.DType]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %q: unsupported dtype %q (want F32, F16, BF16 or I32)", name, key, e.DType)
		}
		if len(e.DataOffsets) != 2 {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets must have 2 entries, has %d", name, key, len(e.DataOffsets))
		}
		b, en := e.DataOffsets[0], e.DataOffsets[1]
		if b < 0 || en < b || en > int64(len(body)) {
			return nil, fmt.Errorf("%s: tensor %q: data_offsets [%d,%d] out of range (data section has %d bytes)", name, key, b, en, len(body))
		}
		shape := make([]int, len(e.Shape))
		elems := int64(1)
		for i, s := range e.Shape {
			if s < 0 || (s > 0 && elems > (1<<50)/s) {
				return nil, fmt.Errorf("%s: tensor %q: bad shape %v", name, key, e.Shape)
			}
			shape[i] = int(s)
			elems *= s
		}
		want := elems * int64(dt.BlockBytes())
		if en-b != want {
			return nil, fmt.Errorf("%s: tensor %q: %s shape %v needs %d bytes, data_offsets give %d", name, key, e.DType, e.Shape, want, en-b)
		}
		t := &tensor.Tensor{Name: key, DType: dt, Shape: shape, Data: body[b:en:en]}
		spans = append(spans, span{t, b, en})
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].end < spans[j].end
	})
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("%s: tensors %q and %q overlap", name, spans[i-1].t.Name, spans[i].t.Name)
		}
	}
	for _, s := range spans {
		f.Tensors = append(f.Tensors, s.t)
	}
	return f, nil
}

// Write writes tensors in the given order as a safetensors file: compact JSON header with
// "__metadata__" first (when metadata is not nil), tensors with consecutive data offsets,
// the header padded with spaces to a multiple of 8 bytes, as the reference Python writer
// does.
func Write(w io.Writer, tensors []*tensor.Tensor, metadata map[string]string) error {
	for _, t := range tensors {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("safetensors: %w", err)
		}
	}
	return WriteStream(w, tensors, metadata, func(i int, w io.Writer) error {
		_, err := w.Write(tensors[i].Data)
		return err
	})
}

// WriteStream is Write for tensors too large to hold in memory: the header is built from
// each tensor's Name, DType and Shape (Data is ignored), then data(i, w) must write exactly
// tensor i's bytes, in order. A wrong byte count is an error.
func WriteStream(w io.Writer, tensors []*tensor.Tensor, metadata map[string]string, data func(i int, w io.Writer) error) error {
	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		hdr.WriteString(`"__metadata__":{`)
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			writeJSONString(&hdr, k)
			hdr.WriteByte(':')
			writeJSONString(&hdr, metadata[k])
		}
		hdr.WriteByte('}')
		first = false
	}
	var off int64
	seen := map[string]bool{}
	for _, t := range tensors {
		name, ok := dtypeNames[t.DType]
		if !ok {
			return fmt.Errorf("safetensors: tensor %q: dtype %s cannot be stored", t.Name, t.DType)
		}
		size, err := t.DType.RowBytes(t.Elements())
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if seen[t.Name] {
			return fmt.Errorf("safetensors: tensor %q given twice", t.Name)
		}
		seen[t.Name] = true
		if !first {
			hdr.WriteByte(',')
		}
		first = false
		writeJSONString(&hdr, t.Name)
		hdr.WriteString(`:{"dtype":"` + name + `","shape":[`)
		for i, s := range t.Shape {
			if i > 0 {
				hdr.WriteByte(',')
			}
			hdr.WriteString(strconv.Itoa(s))
		}
		end := off + int64(size)
		hdr.WriteString(`],"data_offsets":[` + strconv.FormatInt(off, 10) + "," + strconv.FormatInt(end, 10) + "]}")
		off = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var lenbuf [8]byte
	binary.LittleEndian.PutUint64(lenbuf[:], uint64(hdr.Len()))
	if _, err := w.Write(lenbuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for i, t := range tensors {
		size, _ := t.DType.RowBytes(t.Elements())
		cw := &countWriter{w: w}
		if err := data(i, cw); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if cw.n != int64(size) {
			return fmt.Errorf("safetensors: tensor %q: wrote %d bytes, its shape needs %d", t.Name, cw.n, size)
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Truncate(b.Len() - 1) // Encode's newline
}
