// Package model is the DeciLM / Nemotron-NAS / Llama transformer: its configuration (a
// list of per-layer block descriptions), its weights (kept in their stored type: views
// into a memory-mapped file, the matrices copied once into the layout the kernels read
// best), a per-layer, per-sequence key/value cache, and one Forward pass over a batch of
// (sequence, position, token) rows that prefill, decoding, batched decoding and
// evaluation all share.
//
// DeciLM differs from Llama-2 in that each layer has its own number of key/value heads
// (variable grouped-query attention); Nemotron-NAS further lets each layer's attention be
// one linear map or skipped, and each layer's FFN have its own width, be linear or be
// skipped. Every layer's K/V projections and cache are sized by that layer's own count,
// never padded to the largest, and layers without grouped attention cache nothing.
package model

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// Layer is one decoder block: attention (grouped with its own KV-head count, one linear
// map, or skipped) and then an FFN (gated SiLU of its own width, one linear map, or
// skipped), each present part behind an RMS norm and a residual connection. The weights a
// block does not have are nil.
type Layer struct {
	Block
	AttnNorm   []float32      // input_layernorm
	Q, K, V    *tensor.Tensor // [Heads·HeadDim, Hidden], [KVHeads·HeadDim, Hidden] ×2
	O          *tensor.Tensor // [Hidden, Heads·HeadDim]
	AttnLinear *tensor.Tensor // [Hidden, Hidden]: self_attn.linear_attn
	MLPNorm    []float32      // post_attention_layernorm
	Gate, Up   *tensor.Tensor // [FFNWidth, Hidden]
	Down       *tensor.Tensor // [Hidden, FFNWidth]
	FFNLinear  *tensor.Tensor // [Hidden, Hidden]: mlp.linear_mlp
}

// Model is a loaded transformer. Forward may be called from one goroutine at a time.
type Model struct {
	Config *Config
	Embed  *tensor.Tensor // [Vocab, Hidden]
	Layers []Layer
	Norm   []float32      // final RMS norm
	LMHead *tensor.Tensor // [Vocab, Hidden]; the embedding when tied

	obs     Observer // observe.go
	pool    *kernel.Pool
	mu      sync.Mutex
	scratch scratch
	adapter *Adapter // applied to rows without their own (lora.go)
	closers []func() error
}

// Options tune how a model runs.
type Options struct {
	// Threads is the number of worker threads; 0 means every CPU the process may use.
	Threads int
	// NoPack keeps the matrices where they are given instead of having kernel.Pool.Pack
	// copy them (see New): for tools that read every weight once, such as quantize.
	NoPack bool
}

// New builds a model from a configuration and named tensors (Hugging Face names:
// "model.embed_tokens.weight", "model.layers.N.self_attn.q_proj.weight", ...). Every
// tensor's shape is checked against the configuration; a missing, misshapen or unexpected
// tensor is an error naming it. Weights keep their stored type; the small norm vectors are
// widened to float32, and the matrices are copied once by kernel.Pool.Pack into the layout
// and memory the CPU's fastest kernels read best (where there is a gain to be had; the
// results are the same bits either way).
func New(cfg *Config, tensors map[string]*tensor.Tensor, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	used := map[string]bool{}
	get := func(name string, shape ...int) (*tensor.Tensor, error) {
		t, ok := tensors[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing", name)
		}
		if !tensor.ShapeEqual(t.Shape, shape) {
			return nil, fmt.Errorf("tensor %q has shape %v, the config implies %v", name, t.Shape, shape)
		}
		if err := t.Validate(); err != nil {
			return nil, err
		}
		used[name] = true
		return t, nil
	}
	vec := func(name string, n int) ([]float32, error) {
		t, err := get(name, n)
		if err != nil {
			return nil, err
		}
		v := make([]float32, n)
		if err := tensor.DecodeRow(v, t.Data, t.DType); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		return v, nil
	}
	c := cfg
	if _, ok := tensors[hfOutput]; ok && c.TieEmbeddings {
		return nil, fmt.Errorf("tensor %q is present but the config ties the output to the embedding (tie_word_embeddings true)", hfOutput)
	}
	m := &Model{Config: cfg, pool: kernel.NewPool(opts.Threads)}
	var err error
	if m.Embed, err = get(hfEmbed, c.Vocab, c.Hidden); err != nil {
		return nil, err
	}
	m.Layers = make([]Layer, c.Layers)
	for l := range m.Layers {
		ly := &m.Layers[l]
		ly.Block = c.Blocks[l]
		for _, w := range layerWeights {
			shape := w.shape(c, ly.Block)
			if shape == nil {
				continue
			}
			name := hfLayer(l, w.hf)
			if w.mat != nil {
				*w.mat(ly), err = get(name, shape...)
			} else {
				*w.vec(ly), err = vec(name, shape[0])
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", describeLayer(c, l), err)
			}
		}
	}
	if m.Norm, err = vec(hfNorm, c.Hidden); err != nil {
		return nil, err
	}
	if c.TieEmbeddings {
		m.LMHead = m.Embed
	} else if m.LMHead, err = get(hfOutput, c.Vocab, c.Hidden); err != nil {
		return nil, err
	}
	var extra []string
	for name := range tensors {
		if !used[name] && !strings.HasSuffix(name, "rotary_emb.inv_freq") {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		if len(extra) > 3 {
			extra = append(extra[:3], fmt.Sprintf("and %d more", len(extra)-3))
		}
		sort.Strings(extra[:min(len(extra), 3)])
		return nil, fmt.Errorf("unexpected tensors for a %d-layer %s model: %s", c.Layers, c.Arch, strings.Join(extra, ", "))
	}
	// Matrices are laid out again for the CPU's fastest kernels where it has them
	// (kernel.Pool.Pack: Q8_0 and Q4_0 on CPUs with AMX, Q4_0 on CPUs with AVX2 and no
	// AVX-512 VNNI, Q4_K and Q6_K in groups of 8 rows on CPUs with AVX2, BF16 in panels on
	// CPUs without AMX).
	if !opts.NoPack {
		mats := m.matrices()[1:] // all but the embedding, which is read a row at a time
		if m.LMHead == m.Embed {
			mats = append(mats, m.LMHead)
		}
		m.pool.Pack(mats)
	}
	return m, nil
}

// Close releases the files the model's weights live in (when Load opened them). The model
// must not be used afterwards.
func (m *Model) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c(); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	return first
}

// Pool returns the worker pool the model computes with.
func (m *Model) Pool() *kernel.Pool { return m.pool }

// WeightBytes is the size of all weights in their stored types (norm vectors at the
// float32 the model holds them in).
func (m *Model) WeightBytes() int64 {
	var n int64
	for _, w := range m.Weights() {
		if w.Tensor != nil {
			n += int64(len(w.Tensor.Data))
		} else {
			n += int64(4 * len(w.Vector))
		}
	}
	return n
}

// Prefault reads every page of the weights once, so the first tokens do not wait on
// the disk, reporting progress in bytes (weights packed at load were read then). It stops early when ctx is cancelled.
func (m *Model) Prefault(ctx context.Context, progress func(done, total int64)) error {
	all := m.matrices()
	total := m.WeightBytes()
	var done int64
	var sink byte
	for _, t := range all {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.Packed != nil { // already read into Packed; MatMul does not read Data
			done += int64(len(t.Data))
			continue
		}
		for i := 0; i < len(t.Data); i += 4096 {
			sink ^= t.Data[i]
		}
		done += int64(len(t.Data))
		if progress != nil {
			progress(min(done, total), total)
		}
	}
	prefaultSink = sink
	return nil
}

// prefaultSink keeps Prefault's reads from being optimised away.
var prefaultSink byte
