// Package lora reads LoRA adapters, Hugging Face PEFT folders (adapter_config.json with
// adapter_model.safetensors or adapter_model.bin) and llama.cpp's GGUF adapters
// (general.type "adapter"), checks them against a model's configuration and builds the
// model.Adapter that Forward applies at run time: y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with s = α/r
// (α/√r with rsLoRA; for GGUF, llama.cpp's rule: α/r, or 1 when α is 0), times the
// user's scale. A is [r, in] and B is [out, r] in both formats.
//
// Adapter features decilm does not apply (DoRA, modules_to_save, trained biases, adapted
// embeddings or output layers, norm weights) are errors naming the field or tensor, never
// silently dropped.
package lora

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/llama2c"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// MaxRank bounds an adapter's rank (real adapters use 4 to 256).
const MaxRank = 1 << 14

// Format names an adapter file format.
type Format string

// The formats Open reads.
const (
	PEFT Format = "peft"
	GGUF Format = "gguf"
)

// Pair is the update of one projection: B·A scaled by Scale.
type Pair struct {
	// Module is the projection's name in the file: PEFT's module name
	// ("model.layers.3.self_attn.q_proj") or GGUF's weight name ("blk.3.attn_q.weight").
	Module string
	A, B   *tensor.Tensor // [r, in] and [out, r]
	Rank   int
	// Alpha is the pair's lora_alpha (after alpha_pattern); Scale is the factor the
	// format's rule gives (before the user's scale).
	Alpha, Scale float64
}

// File is an opened adapter: its pairs, with tensor data still in the file.
type File struct {
	Path   string
	Format Format
	// Arch is the GGUF adapter's general.architecture ("" for PEFT).
	Arch  string
	Pairs []Pair
	// interleaved is true when the B rows of query and key projections are in the GGUF
	// (adjacent-pair RoPE) order, false for Hugging Face's (rotate-half) order.
	interleaved bool
	closers     []func() error
}

// Close releases the adapter's files; its tensors must not be used afterwards.
func (f *File) Close() error {
	var first error
	for _, c := range f.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	f.closers = nil
	return first
}

// Open reads the adapter at path: a PEFT folder, its adapter_model.safetensors or
// adapter_model.bin (adapter_config.json read from beside it), or a GGUF adapter file.
func Open(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("lora adapter: %w", err)
	}
	if st.IsDir() {
		return openPEFT(path, "")
	}
	if isGGUF(path) {
		return openGGUF(path)
	}
	if strings.HasSuffix(path, ".safetensors") || strings.HasSuffix(path, ".bin") {
		return openPEFT(filepath.Dir(path), path)
	}
	return nil, fmt.Errorf("lora adapter %s: not a PEFT folder, .safetensors, .bin or GGUF file", path)
}

func isGGUF(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [4]byte
	_, err = f.Read(b[:])
	return err == nil && string(b[:]) == "GGUF"
}

// Load opens the adapter at path, builds it for a model of configuration cfg with the
// user's scale (1 for none) and closes the file.
func Load(path string, cfg *model.Config, scale float64) (*model.Adapter, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Build(cfg, filepath.Base(strings.TrimRight(path, "/")), scale)
}

// Build checks every pair against cfg (the projection exists, A is [r, in] and B
// [out, r]) and returns the adapter with its matrices decoded to float32, the rows of
// query and key updates put in the model's RoPE order, and each scale multiplied by
// scale.
func (f *File) Build(cfg *model.Config, name string, scale float64) (*model.Adapter, error) {
	if math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("lora adapter %s: scale %v is not a finite number", f.Path, scale)
	}
	if f.Format == GGUF && f.Arch != "" && f.Arch != cfg.Arch {
		return nil, fmt.Errorf("lora adapter %s: general.architecture is %q, the model's is %q", f.Path, f.Arch, cfg.Arch)
	}
	byName := map[string]model.LoRATarget{}
	for _, t := range cfg.LoRATargets() {
		if f.Format == GGUF {
			byName[t.GGUF] = t
		} else {
			byName[t.Module()] = t
		}
	}
	a := model.NewAdapter(cfg, name)
	seen := map[string]bool{}
	for _, p := range f.Pairs {
		t, ok := byName[p.Module]
		if !ok {
			return nil, fmt.Errorf("lora adapter %s: %s is not a projection of this %d-layer %s model", f.Path, p.Module, cfg.Layers, cfg.Arch)
		}
		if seen[p.Module] {
			return nil, fmt.Errorf("lora adapter %s: %s has more than one A/B pair", f.Path, p.Module)
		}
		seen[p.Module] = true
		if !tensor.ShapeEqual(p.A.Shape, []int{p.Rank, t.In}) {
			return nil, fmt.Errorf("lora adapter %s: tensor %s has shape %v, the model's %s implies [%d %d]", f.Path, p.A.Name, p.A.Shape, t.HF, p.Rank, t.In)
		}
		if !tensor.ShapeEqual(p.B.Shape, []int{t.Out, p.Rank}) {
			return nil, fmt.Errorf("lora adapter %s: tensor %s has shape %v, the model's %s implies [%d %d]", f.Path, p.B.Name, p.B.Shape, t.HF, t.Out, p.Rank)
		}
		A, err := decode(p.A)
		if err != nil {
			return nil, fmt.Errorf("lora adapter %s: %w", f.Path, err)
		}
		bt := p.B
		if err := bt.Validate(); err != nil {
			return nil, fmt.Errorf("lora adapter %s: %w", f.Path, err)
		}
		if t.RopeHeads > 0 && f.interleaved != cfg.RopeInterleaved {
			rb, err := bt.DType.RowBytes(p.Rank)
			if err != nil {
				return nil, fmt.Errorf("lora adapter %s: tensor %s: %w", f.Path, bt.Name, err)
			}
			var data []byte
			if cfg.RopeInterleaved { // Hugging Face rows into a GGUF model
				data = llama2c.UnpermuteRows(bt.Data, t.RopeHeads, cfg.HeadDim, rb)
			} else { // GGUF rows into a Hugging Face model
				data = llama2c.PermuteRows(bt.Data, t.RopeHeads, cfg.HeadDim, rb)
			}
			bt = &tensor.Tensor{Name: bt.Name, DType: bt.DType, Shape: bt.Shape, Data: data}
		}
		B, err := decode(bt)
		if err != nil {
			return nil, fmt.Errorf("lora adapter %s: %w", f.Path, err)
		}
		if err := a.Add(t, p.Rank, A, B, float32(p.Scale*scale)); err != nil {
			return nil, err
		}
	}
	if a.Len() == 0 {
		return nil, fmt.Errorf("lora adapter %s: no LoRA tensors", f.Path)
	}
	return a, nil
}

// decode returns a tensor's values as float32, row by row.
func decode(t *tensor.Tensor) ([]float32, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	rows, cols := t.Rows(), t.Cols()
	out := make([]float32, rows*cols)
	rs := t.RowSize()
	for r := 0; r < rows; r++ {
		if err := tensor.DecodeRow(out[r*cols:(r+1)*cols], t.Data[r*rs:(r+1)*rs], t.DType); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
	}
	for i, v := range out {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("tensor %s: element %d is %v", t.Name, i, v)
		}
	}
	return out, nil
}

// ParseSpec splits a --lora flag value PATH[:SCALE]: a scale is a number after the last
// colon (a path that itself ends in ":NUMBER" can be given as PATH:NUMBER:1).
func ParseSpec(v string) (path string, scale float64, err error) {
	path, scale = v, 1
	if i := strings.LastIndexByte(v, ':'); i > 0 {
		if s, err := strconv.ParseFloat(v[i+1:], 64); err == nil {
			if math.IsNaN(s) || math.IsInf(s, 0) {
				return "", 0, fmt.Errorf("--lora %s: scale %q is not a finite number", v, v[i+1:])
			}
			path, scale = v[:i], s
		}
	}
	if path == "" {
		return "", 0, errors.New("--lora: empty path")
	}
	return path, scale, nil
}

// ggufKeys are the metadata keys of a GGUF adapter.
const (
	keyType        = "general.type"
	keyArch        = "general.architecture"
	keyAdapterType = "adapter.type"
	keyAlpha       = "adapter.lora.alpha"
)

// openGGUF reads a llama.cpp LoRA adapter: general.type "adapter", adapter.type "lora",
// adapter.lora.alpha, and tensor pairs NAME.lora_a [r, in] and NAME.lora_b [out, r].
func openGGUF(path string) (*File, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lora adapter: %w", err)
	}
	f, err := fromGGUF(g)
	if err != nil {
		g.Close()
		return nil, err
	}
	f.Path = path
	f.closers = append(f.closers, g.Close)
	return f, nil
}

// fromGGUF builds an adapter from a parsed GGUF file.
func fromGGUF(g *gguf.File) (*File, error) {
	name := g.Name
	typ, err := g.String(keyType)
	if err != nil || typ != "adapter" {
		return nil, fmt.Errorf("lora adapter %s: %s is %q, want \"adapter\" (is this a model rather than an adapter?)", name, keyType, typ)
	}
	at, err := g.String(keyAdapterType)
	if err != nil || at != "lora" {
		return nil, fmt.Errorf("lora adapter %s: %s is %q, want \"lora\"", name, keyAdapterType, at)
	}
	arch, _ := g.String(keyArch)
	alpha := 0.0
	if _, ok := g.Get(keyAlpha); ok {
		if alpha, err = g.Float(keyAlpha); err != nil {
			return nil, fmt.Errorf("lora adapter %s: %w", name, err)
		}
		if math.IsNaN(alpha) || math.IsInf(alpha, 0) {
			return nil, fmt.Errorf("lora adapter %s: %s is %v", name, keyAlpha, alpha)
		}
	}
	if len(g.Unsupported) > 0 {
		u := g.Unsupported[0]
		return nil, fmt.Errorf("lora adapter %s: tensor %s has ggml type %v, which decilm cannot read", name, u.Name, u.Type)
	}
	f := &File{Path: name, Format: GGUF, Arch: arch, interleaved: true}
	type ab struct{ a, b *tensor.Tensor }
	pairs := map[string]*ab{}
	var order []string
	for _, t := range g.Tensors {
		var base string
		var isA bool
		switch {
		case strings.HasSuffix(t.Name, ".lora_a"):
			base, isA = strings.TrimSuffix(t.Name, ".lora_a"), true
		case strings.HasSuffix(t.Name, ".lora_b"):
			base = strings.TrimSuffix(t.Name, ".lora_b")
		case strings.HasSuffix(t.Name, "_norm.weight"):
			return nil, fmt.Errorf("lora adapter %s: tensor %s changes a norm weight, which decilm does not apply", name, t.Name)
		default:
			return nil, fmt.Errorf("lora adapter %s: tensor %s is neither a .lora_a nor a .lora_b tensor", name, t.Name)
		}
		if base == "token_embd.weight" || base == "output.weight" {
			return nil, fmt.Errorf("lora adapter %s: tensor %s adapts the %s, which decilm does not support", name, t.Name, map[bool]string{true: "token embedding", false: "output layer"}[base == "token_embd.weight"])
		}
		p := pairs[base]
		if p == nil {
			p = &ab{}
			pairs[base] = p
			order = append(order, base)
		}
		if isA {
			p.a = t
		} else {
			p.b = t
		}
	}
	for _, base := range order {
		p := pairs[base]
		if p.a == nil || p.b == nil {
			return nil, fmt.Errorf("lora adapter %s: %s has only one of .lora_a and .lora_b", name, base)
		}
		if len(p.a.Shape) != 2 || len(p.b.Shape) != 2 {
			return nil, fmt.Errorf("lora adapter %s: %s: .lora_a %v and .lora_b %v must be matrices", name, base, p.a.Shape, p.b.Shape)
		}
		r := p.b.Shape[1]
		if p.a.Shape[0] != r {
			return nil, fmt.Errorf("lora adapter %s: %s: .lora_a has shape %v and .lora_b %v: their ranks differ (lora_a must be [r, in], llama.cpp's transposed layout)", name, base, p.a.Shape, p.b.Shape)
		}
		if r <= 0 || r > MaxRank {
			return nil, fmt.Errorf("lora adapter %s: %s: rank %d outside [1, %d]", name, base, r, MaxRank)
		}
		scale := 1.0
		if alpha != 0 {
			scale = alpha / float64(r)
		}
		f.Pairs = append(f.Pairs, Pair{Module: base, A: p.a, B: p.b, Rank: r, Alpha: alpha, Scale: scale})
	}
	if len(f.Pairs) == 0 {
		return nil, fmt.Errorf("lora adapter %s: no .lora_a/.lora_b tensors", name)
	}
	return f, nil
}

// ParseGGUF reads a GGUF adapter held in memory (name is used in messages).
func ParseGGUF(name string, data []byte) (*File, error) {
	g, err := gguf.Parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("lora adapter: %w", err)
	}
	return fromGGUF(g)
}
