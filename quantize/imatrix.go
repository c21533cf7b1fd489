package quantize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// Imatrix is an importance matrix as llama.cpp's llama-imatrix computes it: for each weight
// matrix (llama.cpp name) the sum over the rows of text it multiplied of each input column's
// squared activation, and how many rows that was. Quantizers weigh each column's error by
// the mean, Sum2/Count (Importance).
type Imatrix struct {
	Entries map[string]*ImatrixEntry
	// Chunks is the number of chunks of text it was computed over, ChunkSize their length in
	// tokens (0 when unknown, as in llama.cpp's legacy files).
	Chunks, ChunkSize int
	// Datasets names the text files it was computed over.
	Datasets []string
}

// ImatrixEntry is one matrix's statistics.
type ImatrixEntry struct {
	Sum2  []float64 // Σ x² of each input column
	Count float64   // rows of activations summed (in a legacy .dat file: the calls)
	Calls int       // matrix products observed
}

// Importance returns the mean squared activation of each column of each matrix: the weights
// Options.Importance takes. An entry that saw no rows gives 1s, as llama.cpp's loader does.
func (im *Imatrix) Importance() map[string][]float32 {
	out := make(map[string][]float32, len(im.Entries))
	for name, e := range im.Entries {
		v := make([]float32, len(e.Sum2))
		for i, s := range e.Sum2 {
			if e.Count > 0 {
				v[i] = float32(s / e.Count)
			} else {
				v[i] = 1
			}
		}
		out[name] = v
	}
	return out
}

// names returns the entries' names in order.
func (im *Imatrix) names() []string {
	n := make([]string, 0, len(im.Entries))
	for k := range im.Entries {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Limits on what an imatrix file may make ReadImatrix allocate.
const (
	maxImatrixEntries = 1 << 20
	maxImatrixName    = 4096
)

// ReadImatrix reads an importance matrix file: llama.cpp's GGUF imatrix format (general.type
// "imatrix", tensors NAME.in_sum2 and NAME.counts) or its legacy .dat format (what
// llama-imatrix at c392e509 writes), told apart by the GGUF magic.
func ReadImatrix(path string) (*Imatrix, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	return ParseImatrix(path, data)
}

// ParseImatrix parses the bytes of an importance matrix file (see ReadImatrix); name is used
// in errors.
func ParseImatrix(name string, data []byte) (*Imatrix, error) {
	if bytes.HasPrefix(data, []byte("GGUF")) {
		return parseImatrixGGUF(name, data)
	}
	return parseImatrixDat(name, data)
}

// parseImatrixDat reads the legacy format: int32 entry count; per entry an int32 name
// length, the name, int32 calls, int32 value count and that many float32 values (the mean
// squared activation times the calls); then optionally int32 chunks, int32 length and the
// dataset's name.
func parseImatrixDat(name string, data []byte) (*Imatrix, error) {
	off := 0
	fail := func(format string, args ...any) error {
		return fmt.Errorf("imatrix: %s: byte %d: %s", name, off, fmt.Sprintf(format, args...))
	}
	i32 := func(what string) (int, error) {
		if len(data)-off < 4 {
			return 0, fail("file ends inside %s", what)
		}
		v := int32(binary.LittleEndian.Uint32(data[off:]))
		off += 4
		return int(v), nil
	}
	n, err := i32("the entry count")
	if err != nil {
		return nil, err
	}
	if n < 1 || n > maxImatrixEntries {
		return nil, fail("entry count %d is not in [1, %d]", n, maxImatrixEntries)
	}
	im := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	for i := 0; i < n; i++ {
		ln, err := i32("a name length")
		if err != nil {
			return nil, err
		}
		if ln < 1 || ln > maxImatrixName || ln > len(data)-off {
			return nil, fail("entry %d: name length %d is not in [1, %d] or runs past the end", i, ln, min(maxImatrixName, len(data)-off))
		}
		tn := string(data[off : off+ln])
		off += ln
		calls, err := i32("a call count")
		if err != nil {
			return nil, err
		}
		nval, err := i32("a value count")
		if err != nil {
			return nil, err
		}
		if calls < 0 {
			return nil, fail("entry %s: negative call count %d", tn, calls)
		}
		if nval < 1 || nval > (len(data)-off)/4 {
			return nil, fail("entry %s: value count %d is not in [1, %d]", tn, nval, (len(data)-off)/4)
		}
		if _, dup := im.Entries[tn]; dup {
			return nil, fail("entry %s appears twice", tn)
		}
		e := &ImatrixEntry{Sum2: make([]float64, nval), Count: float64(calls), Calls: calls}
		for j := range e.Sum2 {
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
			off += 4
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return nil, fail("entry %s: value %d is %g (want a finite value ≥ 0)", tn, j, v)
			}
			e.Sum2[j] = float64(v)
		}
		if calls == 0 { // llama.cpp does not divide then: the values are the importances
			e.Count = 1
		}
		im.Entries[tn] = e
	}
	if off == len(data) {
		return im, nil
	}
	chunks, err := i32("the chunk count")
	if err != nil {
		return nil, err
	}
	ln, err := i32("the dataset name length")
	if err != nil {
		return nil, err
	}
	if ln < 0 || ln > len(data)-off {
		return nil, fail("dataset name length %d runs past the end", ln)
	}
	im.Chunks = max(chunks, 0)
	if ln > 0 {
		im.Datasets = []string{string(data[off : off+ln])}
	}
	off += ln
	if off != len(data) {
		return nil, fail("%d bytes after the dataset name", len(data)-off)
	}
	return im, nil
}

// parseImatrixGGUF reads llama.cpp's GGUF imatrix format.
func parseImatrixGGUF(name string, data []byte) (*Imatrix, error) {
	f, err := gguf.Parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("imatrix: %w", err)
	}
	if t, err := f.String("general.type"); err == nil && t != "imatrix" {
		return nil, fmt.Errorf("imatrix: %s: general.type is %q, not imatrix", name, t)
	}
	im := &Imatrix{Entries: map[string]*ImatrixEntry{}}
	if v, err := f.Uint("imatrix.chunk_count"); err == nil {
		im.Chunks = int(min(v, math.MaxInt32))
	}
	if v, err := f.Uint("imatrix.chunk_size"); err == nil {
		im.ChunkSize = int(min(v, math.MaxInt32))
	}
	if v, err := f.Strings("imatrix.datasets"); err == nil {
		im.Datasets = v
	}
	sums, counts := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, t := range f.Tensors {
		switch {
		case strings.HasSuffix(t.Name, ".in_sum2"):
			sums[strings.TrimSuffix(t.Name, ".in_sum2")] = t
		case strings.HasSuffix(t.Name, ".counts"):
			counts[strings.TrimSuffix(t.Name, ".counts")] = t
		}
	}
	for _, u := range f.Unsupported {
		if strings.HasSuffix(u.Name, ".in_sum2") || strings.HasSuffix(u.Name, ".counts") {
			return nil, fmt.Errorf("imatrix: %s: tensor %s has ggml type %d, want F32", name, u.Name, u.Type)
		}
	}
	if len(sums) == 0 {
		return nil, fmt.Errorf("imatrix: %s: no NAME.in_sum2 tensors", name)
	}
	for tn, s := range sums {
		c, ok := counts[tn]
		if !ok {
			return nil, fmt.Errorf("imatrix: %s: %s.in_sum2 has no %s.counts", name, tn, tn)
		}
		if s.DType != tensor.F32 || c.DType != tensor.F32 {
			return nil, fmt.Errorf("imatrix: %s: %s's tensors are %s and %s, want f32", name, tn, s.DType, c.DType)
		}
		cols := s.Shape[len(s.Shape)-1]
		mats := s.Elements() / max(cols, 1)
		if c.Elements() != mats {
			return nil, fmt.Errorf("imatrix: %s: %s has %d matrices of sums but %d counts", name, tn, mats, c.Elements())
		}
		if mats != 1 {
			return nil, fmt.Errorf("imatrix: %s: %s holds %d matrices (experts), which decilm's models do not have", name, tn, mats)
		}
		sv, cv := make([]float32, s.Elements()), make([]float32, 1)
		if err := tensor.DecodeRow(sv, s.Data, tensor.F32); err != nil {
			return nil, fmt.Errorf("imatrix: %s: %s: %w", name, tn, err)
		}
		if err := tensor.DecodeRow(cv, c.Data, tensor.F32); err != nil {
			return nil, fmt.Errorf("imatrix: %s: %s: %w", name, tn, err)
		}
		if !(cv[0] >= 0) || math.IsInf(float64(cv[0]), 0) {
			return nil, fmt.Errorf("imatrix: %s: %s.counts is %g", name, tn, cv[0])
		}
		e := &ImatrixEntry{Sum2: make([]float64, len(sv)), Count: float64(cv[0]), Calls: im.Chunks}
		for j, v := range sv {
			if !(v >= 0) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("imatrix: %s: %s.in_sum2 value %d is %g (want a finite value ≥ 0)", name, tn, j, v)
			}
			e.Sum2[j] = float64(v)
		}
		im.Entries[tn] = e
	}
	return im, nil
}

// WriteFile writes im to path: in llama.cpp's legacy format when the name ends in ".dat"
// (the only one llama-quantize at c392e509 reads), else in its GGUF imatrix format.
func (im *Imatrix) WriteFile(path string) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		if strings.HasSuffix(path, ".dat") {
			return im.WriteDat(w)
		}
		return im.WriteGGUF(w)
	})
}

// WriteGGUF writes im in llama.cpp's GGUF imatrix format: general.type "imatrix",
// imatrix.datasets, imatrix.chunk_count and imatrix.chunk_size, and per matrix NAME.in_sum2
// (F32, one value a column) and NAME.counts (F32, the rows summed).
func (im *Imatrix) WriteGGUF(w io.Writer) error {
	ds := im.Datasets
	if ds == nil {
		ds = []string{}
	}
	kv := []gguf.KV{
		{Key: "general.type", Value: "imatrix"},
		{Key: "imatrix.datasets", Value: ds},
		{Key: "imatrix.chunk_count", Value: uint32(im.Chunks)},
		{Key: "imatrix.chunk_size", Value: uint32(im.ChunkSize)},
	}
	var ts []*tensor.Tensor
	for _, n := range im.names() {
		e := im.Entries[n]
		s := make([]float32, len(e.Sum2))
		for i, v := range e.Sum2 {
			s[i] = float32(v)
		}
		sb := make([]byte, 4*len(s))
		if err := tensor.EncodeRow(sb, s, tensor.F32); err != nil {
			return err
		}
		cb := binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(e.Count)))
		ts = append(ts,
			&tensor.Tensor{Name: n + ".in_sum2", DType: tensor.F32, Shape: []int{1, len(s)}, Data: sb},
			&tensor.Tensor{Name: n + ".counts", DType: tensor.F32, Shape: []int{1, 1}, Data: cb})
	}
	return gguf.Write(w, kv, ts)
}

// WriteDat writes im in llama.cpp's legacy format (see parseImatrixDat): each value is the
// mean squared activation times the calls, as llama-imatrix stores it.
func (im *Imatrix) WriteDat(w io.Writer) error {
	var b []byte
	i32 := func(v int) { b = binary.LittleEndian.AppendUint32(b, uint32(int32(v))) }
	names := im.names()
	if len(names) == 0 {
		return errors.New("imatrix: no entries to write")
	}
	i32(len(names))
	for _, n := range names {
		e := im.Entries[n]
		i32(len(n))
		b = append(b, n...)
		calls := max(e.Calls, 1)
		i32(calls)
		i32(len(e.Sum2))
		for _, s := range e.Sum2 {
			v := s
			if e.Count > 0 {
				v = s / e.Count * float64(calls)
			}
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
		}
	}
	i32(im.Chunks)
	ds := ""
	if len(im.Datasets) > 0 {
		ds = im.Datasets[0]
	}
	i32(len(ds))
	b = append(b, ds...)
	_, err := w.Write(b)
	return err
}

// Collector gathers an importance matrix from a model's forward passes, as llama-imatrix
// does: Observe (a model.Observer) adds each input row's squared activations to the sums of
// the matrices it multiplies, for the blocks' matrices (and the output projection when
// Output is set), skipping products of fewer than 16 rows as llama.cpp does.
type Collector struct {
	// Output includes the output projection (llama-imatrix --process-output).
	Output bool

	mu    sync.Mutex
	names map[*tensor.Tensor]string
	im    *Imatrix
}

// NewCollector returns a Collector for m's matrices.
func NewCollector(m *model.Model) *Collector {
	c := &Collector{names: map[*tensor.Tensor]string{}, im: &Imatrix{Entries: map[string]*ImatrixEntry{}}}
	for _, w := range m.Weights() {
		if w.Tensor != nil {
			c.names[w.Tensor] = w.GGUF
		}
	}
	return c
}

// Observe is the model.Observer that feeds the collector.
func (c *Collector) Observe(ws []*tensor.Tensor, x []float32, rows int) {
	if rows < 16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var sums []float64 // one pass over x for all matrices of the same input
	for _, w := range ws {
		name, ok := c.names[w]
		if !ok || !(strings.HasPrefix(name, "blk.") || (c.Output && name == "output.weight")) {
			continue
		}
		cols := w.Cols()
		if sums == nil {
			sums = make([]float64, cols)
			for r := 0; r < rows; r++ {
				for j, v := range x[r*cols : (r+1)*cols] {
					sums[j] += float64(v) * float64(v)
				}
			}
		}
		e := c.im.Entries[name]
		if e == nil {
			e = &ImatrixEntry{Sum2: make([]float64, cols)}
			c.im.Entries[name] = e
		}
		for j, s := range sums {
			e.Sum2[j] += s
		}
		e.Count += float64(rows)
		e.Calls++
	}
}

// Imatrix returns what has been gathered, labelled with the chunks and their size and the
// dataset's name.
func (c *Collector) Imatrix(chunks, chunkSize int, dataset string) *Imatrix {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := &Imatrix{Entries: map[string]*ImatrixEntry{}, Chunks: chunks, ChunkSize: chunkSize}
	if dataset != "" {
		im.Datasets = []string{dataset}
	}
	for n, e := range c.im.Entries {
		cp := *e
		cp.Sum2 = append([]float64(nil), e.Sum2...)
		im.Entries[n] = &cp
	}
	return im
}
