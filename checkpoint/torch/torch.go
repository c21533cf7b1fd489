// Package torch reads and writes PyTorch checkpoints in the zip format of torch.save
// (pytorch_model.bin): a zip archive holding <dir>/data.pkl, a pickle of the state dict,
// and <dir>/data/<key>, the raw little-endian bytes of each storage.
//
// The pickle is decoded by a small unpickler that knows only what a state dict needs
// (dicts, tuples, strings, numbers, collections.OrderedDict, torch._utils._rebuild_tensor_v2
// and _rebuild_parameter, and the torch.*Storage types); any other global, such as
// os.system, is an error, so a hostile file cannot run or construct anything.
//
// Tensors of float32, float16, bfloat16 (and int32) storages become tensor.Tensor values whose Data
// are views into the file: for STORED zip entries (what torch.save writes) nothing is
// copied; a DEFLATE-compressed storage is decompressed into memory. Only contiguous tensors
// are supported; storage offsets and storages shared between tensors are.
//
// Sharded checkpoints (pytorch_model.bin.index.json) are not handled here: each shard is
// one file for this package.
package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// UnsupportedTensor describes a tensor whose storage type has no tensor.DType (int64,
// float64, bool, ...). It is listed so that a loader that needs it can name it.
type UnsupportedTensor struct {
	Name    string
	Storage string // the storage class, such as "LongStorage"
	Shape   []int
}

// File is a parsed PyTorch checkpoint.
type File struct {
	// Name is the path or name the file was opened with; errors start with it.
	Name string
	// Tensors lists the state dict's tensors of supported types, in the dict's order.
	// Names of tensors in nested dicts are joined with dots ("model.embed.weight").
	Tensors []*tensor.Tensor
	// Unsupported lists the tensors whose storage type has no tensor.DType.
	Unsupported []UnsupportedTensor

	index map[string]int
	mm    *mmap.File
}

// Open memory-maps the checkpoint at path and parses it. The tensors' Data point into the
// mapping: call Close only when they are no longer used.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, fmt.Errorf("torch: %w", err)
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
func (f *File) Close() error {
	if f == nil || f.mm == nil {
		return nil
	}
	m := f.mm
	f.mm = nil
	return m.Close()
}

// Tensor returns the tensor with the given name.
func (f *File) Tensor(name string) (*tensor.Tensor, bool) {
	i, ok := f.index[name]
	if !ok || i < 0 {
		return nil, false
	}
	return f.Tensors[i], true
}

// maxDictDepth bounds how deeply nested dicts of tensors are followed.
const maxDictDepth = 8

// archive is an opened zip with its entries by name.
type archive struct {
	name    string
	data    []byte
	entries map[string]*zip.File
	prefix  string // "archive/" or whatever directory torch.save used
	cache   map[string][]byte
}

func (a *archive) errorf(format string, args ...any) error {
	return fmt.Errorf("torch %s: "+format, append([]any{a.name}, args...)...)
}

// Parse parses a checkpoint held in data. Tensor Data are views into data for STORED
// entries, so data must not change while they are used. name is used in error messages.
func Parse(name string, data []byte) (*File, error) {
	a := &archive{name: name, data: data, cache: map[string][]byte{}}
	if len(data) < 4 || string(data[:4]) != "PK\x03\x04" {
		if len(data) >= 2 && data[0] == 0x80 && data[1] <= 5 {
			return nil, a.errorf("a bare pickle (the legacy torch.save format before PyTorch 1.6) is not supported")
		}
		return nil, a.errorf("not a zip archive (torch.save's format since PyTorch 1.6)")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, a.errorf("reading the zip archive: %v", err)
	}
	a.entries = make(map[string]*zip.File, len(zr.File))
	for _, zf := range zr.File {
		if _, dup := a.entries[zf.Name]; dup {
			return nil, a.errorf("zip entry %q appears twice", zf.Name)
		}
		a.entries[zf.Name] = zf
		if a.prefix == "" && strings.Count(zf.Name, "/") == 1 && strings.HasSuffix(zf.Name, "/data.pkl") {
			a.prefix = strings.TrimSuffix(zf.Name, "data.pkl")
		}
	}
	if a.prefix == "" {
		return nil, a.errorf("no <dir>/data.pkl in the zip archive: not a torch.save checkpoint")
	}
	pkl, err := a.entry(a.prefix+"data.pkl", maxPickle)
	if err != nil {
		return nil, err
	}
	root, err := unpickle(pkl)
	if err != nil {
		return nil, a.errorf("%sdata.pkl: %v", a.prefix, err)
	}
	d, ok := root.(*pyDict)
	if !ok {
		return nil, a.errorf("%sdata.pkl holds a %s, want a state dict", a.prefix, pyType(root))
	}
	f := &File{Name: name, index: map[string]int{}}
	if err := a.collect(f, d, "", 0, map[*pyDict]bool{}); err != nil {
		return nil, err
	}
	return f, nil
}

// collect adds the tensors of dict d, whose keys are prefixed with prefix, to f.
func (a *archive) collect(f *File, d *pyDict, prefix string, depth int, seen map[*pyDict]bool) error {
	if depth >= maxDictDepth {
		return a.errorf("dict %q nested more than %d deep", prefix, maxDictDepth)
	}
	if seen[d] {
		return a.errorf("dict %q appears twice in the state dict", prefix)
	}
	seen[d] = true
	for i, k := range d.keys {
		var name string
		switch k := k.(type) {
		case string:
			name = prefix + k
		default:
			name = fmt.Sprintf("%s%v", prefix, k)
		}
		switch v := d.vals[i].(type) {
		case *tensorRef:
			if err := a.addTensor(f, name, v); err != nil {
				return err
			}
		case *pyDict:
			if err := a.collect(f, v, name+".", depth+1, seen); err != nil {
				return err
			}
		}
		// Other values (numbers, strings, None) are not tensors and are skipped.
	}
	return nil
}

func (a *archive) addTensor(f *File, name string, t *tensorRef) error {
	if _, dup := f.index[name]; dup {
		return a.errorf("tensor %q appears twice", name)
	}
	if t.err != "" {
		return a.errorf("tensor %q: %s", name, t.err)
	}
	st := t.storage
	var dt tensor.DType
	switch st.typ {
	case "FloatStorage":
		dt = tensor.F32
	case "HalfStorage":
		dt = tensor.F16
	case "BFloat16Storage":
		dt = tensor.BF16
	case "IntStorage":
		dt = tensor.I32
	default:
		f.index[name] = -1 - len(f.Unsupported) // negative: an index into Unsupported
		f.Unsupported = append(f.Unsupported, UnsupportedTensor{Name: name, Storage: st.typ, Shape: t.shape})
		return nil
	}
	es := int64(storageTypes[st.typ])
	tt := &tensor.Tensor{Name: name, DType: dt, Shape: t.shape}
	n := int64(tt.Elements())
	if t.offset > st.numel || n > st.numel-t.offset {
		return a.errorf("tensor %q: %d elements at storage offset %d exceed storage %q of %d elements", name, n, t.offset, st.key, st.numel)
	}
	if st.numel > maxElements {
		return a.errorf("tensor %q: storage %q should hold %d elements, more than any file holds", name, st.key, st.numel)
	}
	data, err := a.entry(a.prefix+"data/"+st.key, uint64(st.numel)*uint64(es))
	if err != nil {
		return fmt.Errorf("%w (storage of tensor %q)", err, name)
	}
	if st.numel > int64(len(data))/es {
		return a.errorf("tensor %q: storage %q should hold %d %s elements of %d bytes but its zip entry has %d bytes",
			name, st.key, st.numel, st.typ, es, len(data))
	}
	lo, hi := t.offset*es, (t.offset+n)*es
	tt.Data = data[lo:hi:hi]
	if err := tt.Validate(); err != nil {
		return a.errorf("%v", err)
	}
	f.index[name] = len(f.Tensors)
	f.Tensors = append(f.Tensors, tt)
	return nil
}

// maxPickle bounds the decompressed size of data.pkl: a state dict's pickle holds names,
// shapes and storage keys, a few hundred bytes a tensor.
const maxPickle = 64 << 20

// entry returns the bytes of a zip entry: a view into the archive for a STORED entry, or
// a decompressed copy for a DEFLATE one. A DEFLATE entry may inflate to at most limit bytes
// (for a storage, the size its pickle declares), so a small file cannot make it allocate
// more than its tensors need.
func (a *archive) entry(name string, limit uint64) ([]byte, error) {
	if b, ok := a.cache[name]; ok {
		return b, nil
	}
	zf, ok := a.entries[name]
	if !ok {
		return nil, a.errorf("zip entry %q is missing", name)
	}
	var b []byte
	switch zf.Method {
	case zip.Store:
		off, err := zf.DataOffset()
		if err != nil {
			return nil, a.errorf("zip entry %q: %v", name, err)
		}
		size := zf.UncompressedSize64
		if zf.CompressedSize64 != size {
			return nil, a.errorf("zip entry %q is stored with %d bytes but claims %d", name, zf.CompressedSize64, size)
		}
		if off < 0 || uint64(off) > uint64(len(a.data)) || size > uint64(len(a.data))-uint64(off) {
			return nil, a.errorf("zip entry %q: %d bytes at offset %d run past the end of the file (%d bytes)", name, size, off, len(a.data))
		}
		b = a.data[off : off+int64(size) : off+int64(size)]
	case zip.Deflate:
		// Deflate expands at most 1032 to 1, which bounds what a forged size can cost.
		size := zf.UncompressedSize64
		if zf.CompressedSize64 > uint64(len(a.data)) || size > 1032*zf.CompressedSize64+64 {
			return nil, a.errorf("zip entry %q claims %d bytes from %d compressed", name, size, zf.CompressedSize64)
		}
		if size > limit {
			return nil, a.errorf("zip entry %q inflates to %d bytes, more than the %d its contents may have", name, size, limit)
		}
		r, err := zf.Open()
		if err != nil {
			return nil, a.errorf("zip entry %q: %v", name, err)
		}
		// Exactly the declared size, then the end of the entry (where the zip reader checks
		// the size and CRC): nothing past it is inflated.
		b = make([]byte, size)
		_, err = io.ReadFull(r, b)
		if err == nil {
			var one [1]byte
			if n, rerr := r.Read(one[:]); n > 0 {
				err = fmt.Errorf("it inflates past its declared %d bytes", size)
			} else if rerr != io.EOF {
				err = rerr
			}
		}
		r.Close()
		if err != nil {
			return nil, a.errorf("zip entry %q: %v", name, err)
		}
	default:
		return nil, a.errorf("zip entry %q uses compression method %d; only STORED and DEFLATE are supported", name, zf.Method)
	}
	a.cache[name] = b
	return b, nil
}
