// Package checkpoint opens a model checkpoint in any format decilm reads (a Hugging Face
// directory with safetensors or PyTorch .bin weights, sharded or not; a llama2.c .bin; a
// GGUF file) and presents its tensors by name as views over memory-mapped bytes. The
// format packages below it (safetensors, torch, llama2c, gguf) do the parsing.
package checkpoint

import (
	"encoding/json"
	"fmt"
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
	b, err := os.ReadFile(p)
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
	switch {
	case exists("model.safetensors.index.json"):
		c.Format = Safetensors
		shards, err := readIndex(filepath.Join(dir, "model.safetensors.index.json"))
		if err != nil {
			return err
		}
		files, open = shards, c.openSafetensors
	case exists("model.safetensors"):
		c.Format = Safetensors
		files, open = []string{"model.safetensors"}, c.openSafetensors
	case exists("pytorch_model.bin.index.json"):
		c.Format = Torch
		shards, err := readIndex(filepath.Join(dir, "pytorch_model.bin.index.json"))
		if err != nil {
			return err
		}
		files, open = shards, c.openTorch
	case exists("pytorch_model.bin"):
		c.Format = Torch
		files, open = []string{"pytorch_model.bin"}, c.openTorch
	default:
		return fmt.Errorf("%s: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or pytorch_model.bin.index.json", dir)
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
	return c.checkIndex(dir)
}

// readIndex returns the distinct shard file names of a *.index.json weight map, sorted.
func readIndex(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is missing or empty", path)
	}
	set := map[string]bool{}
	for name, f := range idx.WeightMap {
		if f == "" || strings.Contains(f, "/") || strings.Contains(f, `\`) || f == ".." {
			return nil, fmt.Errorf("%s: tensor %q maps to an invalid shard name %q", path, name, f)
		}
		set[f] = true
	}
	var files []string
	for f := range set {
		files = append(files, f)
	}
	sort.Strings(files)
	return files, nil
}

// checkIndex verifies, for sharded checkpoints, that every tensor the index names was
// found in the shard it names.
func (c *Checkpoint) checkIndex(dir string) error {
	for _, name := range []string{"model.safetensors.index.json", "pytorch_model.bin.index.json"} {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		for t, f := range idx.WeightMap {
			if _, ok := c.Tensors[t]; !ok {
				return fmt.Errorf("%s: tensor %q should be in %s but is not", p, t, f)
			}
		}
		return nil
	}
	return nil
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
