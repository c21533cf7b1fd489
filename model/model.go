// Package model is the DeciLM / Llama-2 transformer: its configuration, its weights (kept
// in their stored type: views into a memory-mapped file, the matrices copied once into the
// layout the kernels read best), a per-layer,
// per-sequence key/value cache, and one Forward pass over a batch of (sequence, position,
// token) rows that prefill, decoding, batched decoding and evaluation all share.
//
// DeciLM differs from Llama-2 in one way: each layer has its own number of key/value heads
// (variable grouped-query attention). Here every layer's K/V projections and cache are
// sized by that layer's own count, never padded to the largest.
package model

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// Layer is one decoder block: attention with its own KV-head count, then a SwiGLU MLP,
// each behind an RMS norm and a residual connection.
type Layer struct {
	AttnNorm []float32      // input_layernorm
	Q, K, V  *tensor.Tensor // [Heads·HeadDim, Hidden], [KVHeads·HeadDim, Hidden] ×2
	O        *tensor.Tensor // [Hidden, Heads·HeadDim]
	MLPNorm  []float32      // post_attention_layernorm
	Gate, Up *tensor.Tensor // [Intermediate, Hidden]
	Down     *tensor.Tensor // [Hidden, Intermediate]
	KVHeads  int
}

// Model is a loaded transformer. Forward may be called from one goroutine at a time.
type Model struct {
	Config *Config
	Embed  *tensor.Tensor // [Vocab, Hidden]
	Layers []Layer
	Norm   []float32      // final RMS norm
	LMHead *tensor.Tensor // [Vocab, Hidden]; the embedding when tied

	pool    *kernel.Pool
	mu      sync.Mutex
	scratch scratch
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
	m := &Model{Config: cfg, pool: kernel.NewPool(opts.Threads)}
	var err error
	if m.Embed, err = get("model.embed_tokens.weight", c.Vocab, c.Hidden); err != nil {
		return nil, err
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		kv := c.KVDim(l)
		var ly Layer
		ly.KVHeads = c.KVHeads[l]
		steps := []struct {
			dst   **tensor.Tensor
			name  string
			shape []int
		}{
			{&ly.Q, "self_attn.q_proj.weight", []int{c.Heads * c.HeadDim, c.Hidden}},
			{&ly.K, "self_attn.k_proj.weight", []int{kv, c.Hidden}},
			{&ly.V, "self_attn.v_proj.weight", []int{kv, c.Hidden}},
			{&ly.O, "self_attn.o_proj.weight", []int{c.Hidden, c.Heads * c.HeadDim}},
			{&ly.Gate, "mlp.gate_proj.weight", []int{c.Intermediate, c.Hidden}},
			{&ly.Up, "mlp.up_proj.weight", []int{c.Intermediate, c.Hidden}},
			{&ly.Down, "mlp.down_proj.weight", []int{c.Hidden, c.Intermediate}},
		}
		for _, s := range steps {
			if *s.dst, err = get(p+s.name, s.shape...); err != nil {
				return nil, fmt.Errorf("layer %d (%d KV heads): %w", l, c.KVHeads[l], err)
			}
		}
		if ly.AttnNorm, err = vec(p+"input_layernorm.weight", c.Hidden); err != nil {
			return nil, err
		}
		if ly.MLPNorm, err = vec(p+"post_attention_layernorm.weight", c.Hidden); err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, ly)
	}
	if m.Norm, err = vec("model.norm.weight", c.Hidden); err != nil {
		return nil, err
	}
	if _, ok := tensors["lm_head.weight"]; ok || !c.TieEmbeddings {
		if m.LMHead, err = get("lm_head.weight", c.Vocab, c.Hidden); err != nil {
			return nil, err
		}
	} else {
		m.LMHead = m.Embed
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
		return nil, fmt.Errorf("unexpected tensors for a %d-layer %s model: %s", c.Layers, c.Arch, strings.Join(extra, ", "))
	}
	// Quantized matrices are laid out again for the CPU's fastest kernels where it has
	// them (kernel.Pool.Pack: Q8_0 and Q4_0 on CPUs with AMX); results stay the same.
	if !opts.NoPack {
		mats := []*tensor.Tensor{m.LMHead}
		for _, l := range m.Layers {
			mats = append(mats, l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down)
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

// WeightBytes is the size of all weights in their stored types.
func (m *Model) WeightBytes() int64 {
	n := int64(len(m.Embed.Data))
	for _, l := range m.Layers {
		for _, t := range []*tensor.Tensor{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			n += int64(len(t.Data))
		}
		n += int64(8 * len(l.AttnNorm))
	}
	n += int64(4 * len(m.Norm))
	if m.LMHead != m.Embed {
		n += int64(len(m.LMHead.Data))
	}
	return n
}

// Prefault reads every page of the weights once, so the first tokens do not wait on
// the disk, reporting progress in bytes (weights packed at load were read then). It stops early when ctx is cancelled.
func (m *Model) Prefault(ctx context.Context, progress func(done, total int64)) error {
	var all []*tensor.Tensor
	all = append(all, m.Embed)
	for _, l := range m.Layers {
		all = append(all, l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down)
	}
	if m.LMHead != m.Embed {
		all = append(all, m.LMHead)
	}
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
