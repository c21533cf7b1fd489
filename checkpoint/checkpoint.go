// Package checkpoint opens a model checkpoint in any format decilm reads (a Hugging Face
// directory with safetensors or PyTorch .bin weights, sharded or not; a llama2.c .bin; a
// GGUF file) and presents its tensors by name as views over memory-mapped bytes. The
// format packages below it (safetensors, torch, llama2c, gguf) do the parsing.
package checkpoint

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/llama2c"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/checkpoint/torch"
	"github.com/decilm/decilm/tensor"
)

// Format names a checkpoint file format.
type Format string

// The formats Open recognises.
const (
	Safetensors Format = "safetensors"
	Torch       Format = "torch"
	Llama2C     Format = "llama2c"
	GGUF        Format = "gguf"
)

// Checkpoint is an opened checkpoint: its tensors by name, and where the model's
// configuration comes from.
type Checkpoint struct {
	// Path is what Open was given; Dir is the directory holding the checkpoint's
	// companion files (config.json, tokenizer files).
	Path, Dir string
	Format    Format
	// Tensors maps names to tensors; Names lists them in file order.
	Tensors map[string]*tensor.Tensor
	Names   []string
	// Config is the content of config.json for Hugging Face checkpoints (nil otherwise).
	Config []byte
	// Llama2C is the header of a llama2.c checkpoint (nil otherwise).
	Llama2C *llama2c.Header
	// GGUF is the parsed file of a GGUF checkpoint (nil otherwise), for its metadata.
	GGUF *gguf.File

	closers []func() error
	source  map[string]string // tensor name → the file it was read from
}

// Close releases every mapped file. Tensors must not be used afterwards.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.closers {
		if err := f(); err != nil && first == nil {
			first = err
		}
	}
	c.closers = nil
	return first
}

// Closers hands the checkpoint's release functions to the caller, which becomes
// responsible for calling them (a model that keeps the tensors does).
func (c *Checkpoint) Closers() []func() error {
	cl := c.closers
	c.closers = nil
	return cl
}

func (c *Checkpoint) add(file string, ts []*tensor.Tensor) error {
	for _, t := range ts {
		if _, dup := c.Tensors[t.Name]; dup {
			return fmt.Errorf("%s: tensor %q appears in more than one file", file, t.Name)
		}
		c.Tensors[t.Name] = t
		c.Names = append(c.Names, t.Name)
		if c.source == nil {
			c.source = map[string]string{}
		}
		c.source[t.Name] = file
	}
	return nil
}

// Open opens a checkpoint: a directory (Hugging Face layout: config.json with
// model.safetensors, model.safetensors.index.json and its shards, pytorch_model.bin or
// pytorch_model.bin.index.json and its shards), a single .safetensors file (config.json
// is read from its directory), a .gguf file or a llama2.c .bin file.
func Open(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: path, Tensors: map[string]*tensor.Tensor{}}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	if st.IsDir() {
		c.Dir = path
		if err := c.openDir(path); err != nil {
			return nil, err
		}
		ok = true
		return c, nil
	}
	c.Dir = filepath.Dir(path)
	switch {
	case strings.HasSuffix(path, ".safetensors"):
		c.Format = Safetensors
		if err := c.openSafetensors(path); err != nil {
			return nil, err
		}
		if err := c.readConfig(); err != nil {
			return nil, err
		}
	case strings.HasSuffix(path, ".gguf") || hasMagic(path, "GGUF"):
		c.Format = GGUF
		f, err := gguf.Open(path)
		if err != nil {
			return nil, err
		}
		c.closers = append(c.closers, f.Close)
		c.GGUF = f
		if err := c.add(path, f.Tensors); err != nil {
			return nil, err
		}
	case hasMagic(path, "PK\x03\x04"):
		c.Format = Torch
		if err := c.openTorch(path); err != nil {
			return nil, err
		}
		if err := c.readConfig(); err != nil {
			return nil, err
		}
	default:
		c.Format = Llama2C
		f, err := llama2c.Open(path)
		if err != nil {
			if hasMagic(path, "\x80\x02") || hasMagic(path, "\x80\x03") || hasMagic(path, "\x80\x04") || hasMagic(path, "\x80\x05") {
				return nil, fmt.Errorf("%s: a bare pickle (the torch.save format before PyTorch 1.6) is not supported: re-save it with a newer torch.save or as safetensors (as a llama2.c file: %v)", path, err)
			}
			return nil, err
		}
		c.closers = append(c.closers, f.Close)
		h := f.Header
		c.Llama2C = &h
		if err := c.add(path, f.Tensors); err != nil {
			return nil, err
		}
	}
	ok = true
	return c, nil
}

func hasMagic(path, magic string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(magic))
	if _, err := f.Read(b); err != nil {
		return false
	}
	return string(b) == magic
}

func (c *Checkpoint) readConfig() error {
	p := filepath.Join(c.Dir, "config.json")
	b, err := readLimited(p, maxConfigBytes)
	if err != nil {
		return fmt.Errorf("reading the model's configuration: %w", err)
	}
	c.Config = b
	return nil
}

func (c *Checkpoint) openSafetensors(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, f.Close)
	return c.add(path, f.Tensors)
}

func (c *Checkpoint) openTorch(path string) error {
	f, err := torch.Open(path)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, f.Close)
	// Tensors of other types (int64 buffers and the like) are left out; the model
	// reports any weight it needs and does not find.
	return c.add(path, f.Tensors)
}

func (c *Checkpoint) openDir(dir string) error {
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	var files []string
	var open func(string) error
	var index string
	var weightMap map[string]string
	switch {
	case exists("model.safetensors.index.json"):
		c.Format = Safetensors
		index, open = filepath.Join(dir, "model.safetensors.index.json"), c.openSafetensors
	case exists("model.safetensors"):
		c.Format = Safetensors
		files, open = []string{"model.safetensors"}, c.openSafetensors
	case exists("pytorch_model.bin.index.json"):
		c.Format = Torch
		index, open = filepath.Join(dir, "pytorch_model.bin.index.json"), c.openTorch
	case exists("pytorch_model.bin"):
		c.Format = Torch
		files, open = []string{"pytorch_model.bin"}, c.openTorch
	default:
		return fmt.Errorf("%s: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json", dir)
	}
	if index != "" {
		b, err := readLimited(index, maxIndexBytes)
		if err != nil {
			return err
		}
		if weightMap, files, err = ParseIndex(index, b); err != nil {
			return err
		}
	}
	if err := c.readConfig(); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s: shard %s named in the index is missing: %w", dir, f, err)
		}
		if err := open(p); err != nil {
			return err
		}
	}
	// Every tensor the index names must be in the shard it names.
	for _, t := range sortedKeys(weightMap) {
		f := weightMap[t]
		src, ok := c.source[t]
		switch {
		case !ok:
			return fmt.Errorf("%s: tensor %q should be in %s but is in no shard", index, t, f)
		case filepath.Base(src) != f:
			return fmt.Errorf("%s: tensor %q is in %s, but the index says %s", index, t, filepath.Base(src), f)
		}
	}
	return nil
}

// Limits on the small JSON files read beside the weights: far above any real model's, far
// below what would hurt.
const (
	maxIndexBytes  = 64 << 20
	maxConfigBytes = 16 << 20
)

// readLimited reads a file of at most limit bytes; a larger one is an error naming it.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d MiB such a file may have", path, st.Size(), limit>>20)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d MiB such a file may have", path, limit>>20)
	}
	return b, nil
}

// ParseIndex parses a sharded checkpoint's index (model.safetensors.index.json or
// pytorch_model.bin.index.json) read from path: its weight_map from tensor names to shard
// file names, and the distinct shard names, sorted. A shard name must be a plain file name
// (no folder, no "..").
func ParseIndex(path string, data []byte) (weightMap map[string]string, shards []string, err error) {
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, nil, fmt.Errorf("%s: weight_map is missing or empty", path)
	}
	set := map[string]bool{}
	for _, name := range sortedKeys(idx.WeightMap) {
		f := idx.WeightMap[name]
		if f == "" || f == "." || f == ".." || strings.ContainsAny(f, "/\\\x00") {
			return nil, nil, fmt.Errorf("%s: tensor %q maps to an invalid shard name %q", path, name, f)
		}
		set[f] = true
	}
	return idx.WeightMap, sortedKeys(set), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// OpenFS opens a Hugging Face checkpoint (config.json and model.safetensors) stored in dir
// of a file system, such as one embedded in the binary. The tensors alias the bytes read
// from fsys.
func OpenFS(fsys fs.FS, dir string) (*Checkpoint, error) {
	cfg, err := fs.ReadFile(fsys, path.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	data, err := fs.ReadFile(fsys, path.Join(dir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	name := path.Join(dir, "model.safetensors")
	f, err := safetensors.Parse(name, data)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Path: dir, Dir: dir, Format: Safetensors, Tensors: map[string]*tensor.Tensor{}, Config: cfg}
	if err := c.add(name, f.Tensors); err != nil {
		return nil, err
	}
	return c, nil
}
