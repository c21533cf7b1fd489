package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Limits on the sizes a configuration may declare, checked before anything is allocated
// from them: far above every real model (Ultra-253B has 162 layers, hidden 16384, 128
// heads, FFN width 425,984) and far below what would exhaust memory.
const (
	MaxLayers   = 1 << 14
	MaxHidden   = 1 << 17
	MaxHeads    = 1 << 12
	MaxFFN      = 1 << 22
	MaxVocab    = 1 << 24
	MaxPosition = 1 << 30
)

// AttnKind is what a layer's attention does.
type AttnKind uint8

const (
	// AttnGrouped is grouped-query attention with the block's own number of key/value heads.
	AttnGrouped AttnKind = iota
	// AttnLinear replaces attention by one Hidden×Hidden matrix (no RoPE, no cache), behind
	// the input norm and a residual connection (Nemotron-NAS replace_with_linear).
	AttnLinear
	// AttnNone skips attention: no norm, no residual, no cache (Nemotron-NAS no_op).
	AttnNone
)

func (k AttnKind) String() string {
	switch k {
	case AttnGrouped:
		return "grouped"
	case AttnLinear:
		return "linear"
	case AttnNone:
		return "skipped"
	}
	return fmt.Sprintf("AttnKind(%d)", k)
}

// FFNKind is what a layer's feed-forward network does.
type FFNKind uint8

const (
	// FFNGated is the SwiGLU MLP, down(silu(gate(x))·up(x)), of the block's own width.
	FFNGated FFNKind = iota
	// FFNLinear replaces the MLP by one Hidden×Hidden matrix behind the post-attention norm
	// and a residual connection.
	FFNLinear
	// FFNNone skips the MLP: no norm, no residual.
	FFNNone
)

func (k FFNKind) String() string {
	switch k {
	case FFNGated:
		return "gated"
	case FFNLinear:
		return "linear"
	case FFNNone:
		return "skipped"
	}
	return fmt.Sprintf("FFNKind(%d)", k)
}

// Block describes one decoder layer: what its attention and its FFN are. Llama (the same
// block in every layer), DeciLM-6B/7B (KV heads per layer) and Nemotron-NAS (any mix of
// kinds and widths) are all lists of blocks.
type Block struct {
	Attn     AttnKind
	KVHeads  int // key/value heads of grouped attention; 0 for the other kinds
	FFN      FFNKind
	FFNWidth int // intermediate width of a gated FFN; 0 for the other kinds
}

// Config is the shape of a DeciLM, Nemotron-NAS or Llama transformer, from a Hugging Face
// config.json, a GGUF file's metadata or a llama2.c header.
type Config struct {
	// Arch is "deci" for DeciLM and Nemotron-NAS (blocks differ between layers) or "llama".
	Arch    string
	Hidden  int // hidden_size
	Layers  int // num_hidden_layers
	Heads   int // num_attention_heads (of every layer with grouped attention)
	HeadDim int // hidden_size / num_attention_heads
	// Blocks describes each layer (len Layers).
	Blocks []Block
	Vocab  int // vocab_size
	// MaxPositions is max_position_embeddings: the trained context length.
	MaxPositions int
	NormEps      float64 // rms_norm_eps
	RopeTheta    float64 // rope_theta (10000 when absent)
	// RopeScaling is the rope_scaling entry; Type is "" when there is none.
	RopeScaling RopeScaling
	// RopeInterleaved is true when query and key rows rotate adjacent pairs (2i, 2i+1), as in
	// GGUF and llama2.c files, rather than halves (i, i+HeadDim/2) as in Hugging Face files.
	RopeInterleaved bool
	TieEmbeddings   bool // tie_word_embeddings
	BOS             int  // bos_token_id (-1 when unknown)
	EOS             []int
	// DType is torch_dtype, informational ("bfloat16", ...).
	DType string
}

// RopeScaling describes rotary-embedding scaling.
type RopeScaling struct {
	// Type is "linear" (positions divided by Factor), "dynamic" (Hugging Face's dynamic
	// NTK: plain RoPE up to MaxPositions, a larger base beyond it), "llama3" (each
	// frequency divided by its own factor, Factors), or "" for none.
	Type   string
	Factor float64
	// LowFreqFactor, HighFreqFactor and OriginalMaxPositions are the llama3 parameters
	// (low_freq_factor, high_freq_factor, original_max_position_embeddings), 0 when the
	// factors came from a GGUF file's rope_freqs tensor instead.
	LowFreqFactor, HighFreqFactor float64
	OriginalMaxPositions          int
	// Factors divides frequency i (of HeadDim/2) for llama3 scaling: computed from the
	// parameters above as Hugging Face's _compute_llama3_parameters does, or read from a
	// GGUF rope_freqs tensor. Nil for the other types.
	Factors []float64
}

// Llama3Factors returns the divisor of each of the half·2 = dim rotary frequencies of base
// theta under llama3 scaling (Hugging Face's _compute_llama3_parameters; llama.cpp's
// rope_freqs tensor holds the same numbers).
func Llama3Factors(theta float64, dim int, factor, low, high float64, orig int) []float64 {
	out := make([]float64, dim/2)
	lowWave := float64(orig) / low
	highWave := float64(orig) / high
	for i := range out {
		freq := 1 / math.Pow(theta, float64(2*i)/float64(dim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = factor
		default:
			smooth := (float64(orig)/wave - low) / (high - low)
			out[i] = 1 / ((1-smooth)/factor + smooth)
		}
	}
	return out
}

// ParseConfig reads a Hugging Face config.json (Llama, DeciLM, or Nemotron-NAS with
// block_configs). name is used in errors. Fields that change the arithmetic and have
// values decilm does not implement (another hidden_act, attention_bias true, an unknown
// rope_scaling type, a sliding window in a block...) are errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	p := &fieldParser{name: name, raw: raw}
	c := &Config{BOS: -1}
	modelType := p.str("model_type", "")
	switch modelType {
	case "", "deci", "llama":
		c.Arch = modelType
	case "nemotron-nas":
		c.Arch = "deci"
	default:
		return nil, fmt.Errorf("%s: model_type %q is not supported (want deci, nemotron-nas or llama)", name, modelType)
	}
	act := p.str("hidden_act", "silu")
	if act != "silu" {
		p.fail("hidden_act", "%q is not supported (only silu)", act)
	}
	if p.boolean("attention_bias", false) {
		p.fail("attention_bias", "true is not supported")
	}
	if p.boolean("mlp_bias", false) {
		p.fail("mlp_bias", "true is not supported")
	}
	c.Hidden = p.integer("hidden_size", -1)
	intermediate := p.integer("intermediate_size", -1)
	c.Layers = p.integer("num_hidden_layers", -1)
	c.Heads = p.integer("num_attention_heads", -1)
	c.Vocab = p.integer("vocab_size", -1)
	c.MaxPositions = p.integer("max_position_embeddings", 2048)
	c.NormEps = p.number("rms_norm_eps", 1e-6)
	c.RopeTheta = p.number("rope_theta", 10000)
	c.TieEmbeddings = p.boolean("tie_word_embeddings", false)
	c.DType = p.str("torch_dtype", "")
	c.BOS = p.integer("bos_token_id", 1)
	c.EOS = p.intOrList("eos_token_id", []int{2})
	perLayer := p.intList("num_key_value_heads_per_layer")
	kv := p.integer("num_key_value_heads", 0)
	headDim := p.integer("head_dim", 0)
	if _, ok := raw["rope_scaling"]; ok {
		c.RopeScaling = p.ropeScaling()
	}
	_, hasBlocks := raw["block_configs"]
	if p.err != nil {
		return nil, p.err
	}
	required := []struct {
		key string
		v   int
		max int
	}{{"hidden_size", c.Hidden, MaxHidden}, {"num_hidden_layers", c.Layers, MaxLayers}, {"num_attention_heads", c.Heads, MaxHeads}, {"vocab_size", c.Vocab, MaxVocab}}
	if !hasBlocks {
		required = append(required, struct {
			key string
			v   int
			max int
		}{"intermediate_size", intermediate, MaxFFN})
	}
	for _, f := range required {
		if f.v <= 0 {
			if r, ok := raw[f.key]; !ok || string(bytes.TrimSpace(r)) == "null" {
				return nil, fmt.Errorf("%s: field %q is missing or null", name, f.key)
			}
			return nil, fmt.Errorf("%s: field %q must be positive, is %d", name, f.key, f.v)
		}
		if f.v > f.max {
			return nil, fmt.Errorf("%s: field %q is %d, more than decilm allows (%d)", name, f.key, f.v, f.max)
		}
	}
	if c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d", name, c.Hidden, c.Heads)
	}
	c.HeadDim = c.Hidden / c.Heads
	if headDim != 0 && headDim != c.HeadDim {
		return nil, fmt.Errorf("%s: head_dim %d differs from hidden_size/num_attention_heads = %d (not supported)", name, headDim, c.HeadDim)
	}
	switch {
	case hasBlocks:
		blocks, err := parseBlocks(name, raw["block_configs"], c, act)
		if err != nil {
			return nil, err
		}
		c.Blocks = blocks
		if c.Arch == "" {
			c.Arch = "deci"
		}
	case perLayer != nil:
		// The per-layer list wins over num_key_value_heads (fine-tunes saved by newer
		// transformers carry both).
		if len(perLayer) != c.Layers {
			return nil, fmt.Errorf("%s: num_key_value_heads_per_layer has %d entries for %d layers", name, len(perLayer), c.Layers)
		}
		for _, k := range perLayer {
			c.Blocks = append(c.Blocks, Block{Attn: AttnGrouped, KVHeads: k, FFN: FFNGated, FFNWidth: intermediate})
		}
		if c.Arch == "" {
			c.Arch = "deci"
		}
	default:
		if kv <= 0 {
			kv = c.Heads
		}
		c.Blocks = Uniform(c.Layers, kv, intermediate)
	}
	if c.Arch == "" {
		c.Arch = "llama"
	}
	if c.RopeScaling.Type == "llama3" {
		rs := &c.RopeScaling
		rs.Factors = Llama3Factors(c.RopeTheta, c.HeadDim, rs.Factor, rs.LowFreqFactor, rs.HighFreqFactor, rs.OriginalMaxPositions)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Uniform returns n identical blocks: grouped attention with kvHeads key/value heads and a
// gated FFN of width ffn (a Llama model).
func Uniform(n, kvHeads, ffn int) []Block {
	b := make([]Block, n)
	for i := range b {
		b[i] = Block{Attn: AttnGrouped, KVHeads: kvHeads, FFN: FFNGated, FFNWidth: ffn}
	}
	return b
}

// FFNMultWidth is the FFN width Nemotron-NAS derives from a block's ffn_mult:
// find_multiple(int(2·ffn_mult·hidden/3), 256).
func FFNMultWidth(mult float64, hidden int) int {
	w := 2 * mult * float64(hidden) / 3
	if !(w >= 0) || w > MaxFFN {
		return -1
	}
	n := int(w)
	if n%256 != 0 {
		n += 256 - n%256
	}
	return n
}

// parseBlocks reads Nemotron-NAS's block_configs: one {"attention": {...}, "ffn": {...}}
// object per layer. act is the config's hidden_act, the default of each block's.
func parseBlocks(name string, raw json.RawMessage, c *Config, act string) ([]Block, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: field \"block_configs\": want a list of objects: %v", name, err)
	}
	if len(list) != c.Layers {
		return nil, fmt.Errorf("%s: block_configs has %d entries for %d layers (num_hidden_layers)", name, len(list), c.Layers)
	}
	blocks := make([]Block, len(list))
	for l, entry := range list {
		where := fmt.Sprintf("%s: block_configs[%d] (layer %d)", name, l, l)
		for k := range entry {
			if k != "attention" && k != "ffn" {
				if err := ignorable(where, k, entry[k]); err != nil {
					return nil, err
				}
			}
		}
		var b Block
		// Attention.
		ap := &fieldParser{name: where + " attention", raw: map[string]json.RawMessage{}}
		if err := subObject(where, "attention", entry["attention"], &ap.raw); err != nil {
			return nil, err
		}
		noOp := ap.boolean("no_op", false)
		linear := ap.boolean("replace_with_linear", false)
		group := ap.integer("n_heads_in_group", 0)
		if v := ap.integer("window_length", 0); v != 0 {
			ap.fail("window_length", "%d: sliding-window attention is not supported", v)
		}
		if v := ap.integer("num_sink_tokens", 0); v != 0 {
			ap.fail("num_sink_tokens", "%d: sink-token attention is not supported", v)
		}
		if ap.boolean("unshifted_sink", false) {
			ap.fail("unshifted_sink", "true is not supported")
		}
		ap.boolean("use_prefill_window_in_sink_attention", false) // matters only with a window
		if _, ok := ap.get("sparsify"); ok {
			ap.fail("sparsify", "sparsified attention is not supported")
		}
		if ap.err != nil {
			return nil, ap.err
		}
		for k, v := range ap.raw {
			switch k {
			case "no_op", "replace_with_linear", "n_heads_in_group", "window_length", "num_sink_tokens", "unshifted_sink", "use_prefill_window_in_sink_attention", "sparsify":
			default:
				if err := ignorable(where+" attention", k, v); err != nil {
					return nil, err
				}
			}
		}
		switch {
		case noOp && linear:
			return nil, fmt.Errorf("%s attention: no_op and replace_with_linear are both true", where)
		case noOp:
			b.Attn = AttnNone
		case linear:
			b.Attn = AttnLinear
		default:
			if group <= 0 {
				return nil, fmt.Errorf("%s attention: n_heads_in_group must be a positive integer for grouped attention, is %d", where, group)
			}
			if c.Heads%group != 0 {
				return nil, fmt.Errorf("%s attention: n_heads_in_group %d does not divide the %d attention heads", where, group, c.Heads)
			}
			b.Attn, b.KVHeads = AttnGrouped, c.Heads/group
		}
		// FFN.
		fp := &fieldParser{name: where + " ffn", raw: map[string]json.RawMessage{}}
		if err := subObject(where, "ffn", entry["ffn"], &fp.raw); err != nil {
			return nil, err
		}
		noOp = fp.boolean("no_op", false)
		linear = fp.boolean("replace_with_linear", false)
		mult := fp.number("ffn_mult", 0)
		width := fp.integer("intermediate_size", 0)
		if a := fp.str("hidden_act", act); a != "silu" {
			fp.fail("hidden_act", "%q is not supported (only silu)", a)
		}
		if !fp.boolean("gated", true) {
			fp.fail("gated", "false (an ungated MLP) is not supported")
		}
		if _, ok := fp.get("sparsify"); ok {
			fp.fail("sparsify", "sparsified FFNs are not supported")
		}
		if fp.err != nil {
			return nil, fp.err
		}
		for k, v := range fp.raw {
			switch k {
			case "no_op", "replace_with_linear", "ffn_mult", "intermediate_size", "hidden_act", "gated", "sparsify":
			default:
				if err := ignorable(where+" ffn", k, v); err != nil {
					return nil, err
				}
			}
		}
		switch {
		case noOp && linear:
			return nil, fmt.Errorf("%s ffn: no_op and replace_with_linear are both true", where)
		case noOp:
			b.FFN = FFNNone
		case linear:
			b.FFN = FFNLinear
		default:
			b.FFN = FFNGated
			switch {
			case width > 0:
				b.FFNWidth = width
			case mult > 0:
				b.FFNWidth = FFNMultWidth(mult, c.Hidden)
			default:
				return nil, fmt.Errorf("%s ffn: a gated FFN needs a positive ffn_mult or intermediate_size", where)
			}
			if b.FFNWidth <= 0 || b.FFNWidth > MaxFFN {
				return nil, fmt.Errorf("%s ffn: width %d (ffn_mult %g) is out of range (1..%d)", where, b.FFNWidth, mult, MaxFFN)
			}
		}
		blocks[l] = b
	}
	return blocks, nil
}

// subObject decodes the object field key of a block (absent or null: empty).
func subObject(where, key string, raw json.RawMessage, dst *map[string]json.RawMessage) error {
	if raw == nil || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: %q: want an object: %v", where, key, err)
	}
	return nil
}

// ignorable accepts a block field decilm does not know when its value cannot change the
// computation (null, false, 0, "" or {}), and is an error naming it otherwise.
func ignorable(where, key string, raw json.RawMessage) error {
	switch strings.TrimSpace(string(raw)) {
	case "null", "false", "0", `""`, "{}", "[]":
		return nil
	}
	return fmt.Errorf("%s: field %q = %s is not supported (decilm does not know what it changes)", where, key, bytes.TrimSpace(raw))
}

// Validate checks the configuration's internal consistency, and that every count and size
// stays within the package's limits.
func (c *Config) Validate() error {
	if c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0 {
		return fmt.Errorf("config: sizes must be positive (hidden %d, layers %d, heads %d, vocab %d)", c.Hidden, c.Layers, c.Heads, c.Vocab)
	}
	if c.Hidden > MaxHidden || c.Layers > MaxLayers || c.Heads > MaxHeads || c.Vocab > MaxVocab {
		return fmt.Errorf("config: sizes beyond decilm's limits (hidden %d of %d, layers %d of %d, heads %d of %d, vocab %d of %d)",
			c.Hidden, MaxHidden, c.Layers, MaxLayers, c.Heads, MaxHeads, c.Vocab, MaxVocab)
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim*c.Heads != c.Hidden {
		return fmt.Errorf("config: head dimension %d must be even and heads×head_dim must equal hidden_size %d", c.HeadDim, c.Hidden)
	}
	if len(c.Blocks) != c.Layers {
		return fmt.Errorf("config: %d block descriptions for %d layers", len(c.Blocks), c.Layers)
	}
	for l, b := range c.Blocks {
		switch b.Attn {
		case AttnGrouped:
			if k := b.KVHeads; k <= 0 || k > c.Heads || c.Heads%k != 0 {
				return fmt.Errorf("config: layer %d has %d key/value heads, which must divide the %d attention heads", l, k, c.Heads)
			}
		case AttnLinear, AttnNone:
			if b.KVHeads != 0 {
				return fmt.Errorf("config: layer %d: %s attention has %d key/value heads (want 0)", l, b.Attn, b.KVHeads)
			}
		default:
			return fmt.Errorf("config: layer %d: unknown attention kind %d", l, b.Attn)
		}
		switch b.FFN {
		case FFNGated:
			if b.FFNWidth <= 0 || b.FFNWidth > MaxFFN {
				return fmt.Errorf("config: layer %d: FFN width %d must be in 1..%d", l, b.FFNWidth, MaxFFN)
			}
		case FFNLinear, FFNNone:
			if b.FFNWidth != 0 {
				return fmt.Errorf("config: layer %d: %s FFN has width %d (want 0)", l, b.FFN, b.FFNWidth)
			}
		default:
			return fmt.Errorf("config: layer %d: unknown FFN kind %d", l, b.FFN)
		}
	}
	if c.MaxPositions <= 0 || c.MaxPositions > MaxPosition {
		return fmt.Errorf("config: max_position_embeddings must be in 1..%d, is %d", MaxPosition, c.MaxPositions)
	}
	if !(c.NormEps > 0) || !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) || math.IsInf(c.NormEps, 0) {
		return fmt.Errorf("config: rms_norm_eps (%g) and rope_theta (%g) must be positive and finite", c.NormEps, c.RopeTheta)
	}
	if c.BOS < -1 || c.BOS >= c.Vocab {
		return fmt.Errorf("config: bos_token_id %d is outside the vocabulary of %d tokens", c.BOS, c.Vocab)
	}
	for _, e := range c.EOS {
		if e < 0 || e >= c.Vocab {
			return fmt.Errorf("config: eos_token_id %d is outside the vocabulary of %d tokens", e, c.Vocab)
		}
	}
	rs := c.RopeScaling
	switch rs.Type {
	case "":
	case "linear", "dynamic", "llama3":
		if !(rs.Factor >= 1) || rs.Factor > 1024 {
			return fmt.Errorf("config: rope_scaling factor must be at least 1 (and at most 1024), is %g", rs.Factor)
		}
		if rs.Type != "llama3" && float64(c.MaxPositions)*rs.Factor > MaxPosition {
			return fmt.Errorf("config: rope_scaling factor %g times max_position_embeddings %d exceeds %d positions", rs.Factor, c.MaxPositions, MaxPosition)
		}
		if rs.Type == "llama3" {
			if len(rs.Factors) != c.HeadDim/2 {
				return fmt.Errorf("config: llama3 rope scaling has %d frequency factors for head dimension %d (want %d)", len(rs.Factors), c.HeadDim, c.HeadDim/2)
			}
			for i, f := range rs.Factors {
				if !(f > 0) || math.IsInf(f, 0) {
					return fmt.Errorf("config: llama3 rope frequency factor %d is %g (want positive and finite)", i, f)
				}
			}
		}
	default:
		return fmt.Errorf("config: rope_scaling type %q is not supported (want linear, dynamic or llama3)", rs.Type)
	}
	return nil
}

// KVDim returns the width of layer l's key (and value) projection: its KV heads × HeadDim
// (0 for a layer without grouped attention, which caches nothing).
func (c *Config) KVDim(l int) int { return c.Blocks[l].KVHeads * c.HeadDim }

// KVHeads returns each layer's key/value heads (0 where the layer has no grouped
// attention).
func (c *Config) KVHeads() []int {
	out := make([]int, len(c.Blocks))
	for l, b := range c.Blocks {
		out[l] = b.KVHeads
	}
	return out
}

// MaxFFN is the widest gated FFN of any layer (0 when there is none).
func (c *Config) MaxFFN() int {
	n := 0
	for _, b := range c.Blocks {
		n = max(n, b.FFNWidth)
	}
	return n
}

// Uniform reports whether every layer has the same block (a plain Llama model).
func (c *Config) Uniform() bool {
	for _, b := range c.Blocks {
		if b != c.Blocks[0] {
			return false
		}
	}
	return true
}

// KVBytesPerToken is the size of one token's keys and values over all layers, at
// bytesPerValue bytes per element (2 for f16).
func (c *Config) KVBytesPerToken(bytesPerValue int) int {
	n := 0
	for l := range c.Blocks {
		n += 2 * c.KVDim(l) * bytesPerValue
	}
	return n
}

// LayerParams returns the number of parameters of layer l.
func (c *Config) LayerParams(l int) int64 {
	b := c.Blocks[l]
	h := int64(c.Hidden)
	var n int64
	switch b.Attn {
	case AttnGrouped:
		kv := int64(c.KVDim(l))
		n += h + 2*h*h + 2*kv*h // norm, q, o, k, v
	case AttnLinear:
		n += h + h*h
	}
	switch b.FFN {
	case FFNGated:
		n += h + 3*h*int64(b.FFNWidth)
	case FFNLinear:
		n += h + h*h
	}
	return n
}

// Params returns the number of parameters of the weights the config implies.
func (c *Config) Params() int64 {
	h, v := int64(c.Hidden), int64(c.Vocab)
	n := v * h // embedding
	for l := range c.Blocks {
		n += c.LayerParams(l)
	}
	n += h // final norm
	if !c.TieEmbeddings {
		n += v * h
	}
	return n
}

// ContextLength is the longest sequence the model is meant to see: MaxPositions, times
// the rope_scaling factor for linear and dynamic scaling (llama3 configs give the
// extended length as max_position_embeddings already).
func (c *Config) ContextLength() int {
	switch c.RopeScaling.Type {
	case "linear", "dynamic":
		return int(float64(c.MaxPositions) * c.RopeScaling.Factor)
	}
	return c.MaxPositions
}

// RopeBase returns the rotary base used for a sequence whose length (after the current
// step) is seqLen. With dynamic NTK scaling, and seqLen beyond MaxPositions, it is
// θ·((factor·L/M) − (factor − 1))^(d/(d−2)) as in Hugging Face's
// LlamaDynamicNTKScalingRotaryEmbedding; otherwise θ.
func (c *Config) RopeBase(seqLen int) float64 {
	if c.RopeScaling.Type != "dynamic" || seqLen <= c.MaxPositions {
		return c.RopeTheta
	}
	f := c.RopeScaling.Factor
	d := float64(c.HeadDim)
	return c.RopeTheta * math.Pow(f*float64(seqLen)/float64(c.MaxPositions)-(f-1), d/(d-2))
}

// fieldParser reads typed fields from a JSON object, keeping the first error.
type fieldParser struct {
	name string
	raw  map[string]json.RawMessage
	err  error
}

func (p *fieldParser) fail(key, format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: field %q: %s", p.name, key, fmt.Sprintf(format, args...))
	}
}

func (p *fieldParser) get(key string) (any, bool) {
	r, ok := p.raw[key]
	if !ok {
		return nil, false
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(r))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		p.fail(key, "%v", err)
		return nil, false
	}
	if v == nil {
		return nil, false
	}
	return v, true
}

func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (p *fieldParser) str(key, def string) string {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		p.fail(key, "want a string, got %s", describe(v))
		return def
	}
	return s
}

func (p *fieldParser) boolean(key string, def bool) bool {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	b, ok := v.(bool)
	if !ok {
		p.fail(key, "want true or false, got %s", describe(v))
		return def
	}
	return b
}

func toInt(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := n.Int64(); err == nil && i >= math.MinInt32 && i <= math.MaxInt32 {
		return int(i), true
	}
	// Accept integral floats such as 4096.0.
	f, err := n.Float64()
	if err != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt32 {
		return 0, false
	}
	return int(f), true
}

func (p *fieldParser) integer(key string, def int) int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	i, ok := toInt(v)
	if !ok {
		p.fail(key, "want an integer, got %s %v", describe(v), v)
		return def
	}
	return i
}

func (p *fieldParser) number(key string, def float64) float64 {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		p.fail(key, "want a number, got %s", describe(v))
		return def
	}
	f, err := n.Float64()
	if err != nil {
		p.fail(key, "%v", err)
		return def
	}
	return f
}

func (p *fieldParser) intList(key string) []int {
	v, ok := p.get(key)
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		p.fail(key, "want a list of integers, got %s", describe(v))
		return nil
	}
	out := make([]int, len(list))
	for i, e := range list {
		n, ok := toInt(e)
		if !ok {
			p.fail(key, "entry %d: want an integer, got %s", i, describe(e))
			return nil
		}
		out[i] = n
	}
	return out
}

func (p *fieldParser) intOrList(key string, def []int) []int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	if n, ok := toInt(v); ok {
		return []int{n}
	}
	if _, ok := v.([]any); ok {
		return p.intList(key)
	}
	p.fail(key, "want an integer or a list of integers, got %s", describe(v))
	return def
}

func (p *fieldParser) ropeScaling() RopeScaling {
	v, ok := p.get("rope_scaling")
	if !ok {
		return RopeScaling{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		p.fail("rope_scaling", "want an object or null, got %s", describe(v))
		return RopeScaling{}
	}
	var rs RopeScaling
	t, _ := m["type"].(string)
	if rt, ok := m["rope_type"].(string); ok {
		t = rt
	}
	switch strings.ToLower(t) {
	case "linear", "dynamic", "llama3":
		rs.Type = strings.ToLower(t)
	case "default":
		return RopeScaling{}
	default:
		p.fail("rope_scaling", "type %q is not supported (want linear, dynamic or llama3)", t)
		return rs
	}
	num := func(key string, def float64) float64 {
		x, ok := m[key]
		if !ok && def > 0 {
			return def
		}
		f, isNum := x.(json.Number)
		if !isNum {
			p.fail("rope_scaling", "%s must be a number", key)
			return 0
		}
		v, err := f.Float64()
		if err != nil || math.IsInf(v, 0) {
			p.fail("rope_scaling", "%s %s is out of range", key, f)
			return 0
		}
		return v
	}
	rs.Factor = num("factor", 0)
	if rs.Type == "llama3" {
		// Hugging Face's defaults for the llama3 parameters are none: all must be given.
		rs.LowFreqFactor = num("low_freq_factor", 0)
		rs.HighFreqFactor = num("high_freq_factor", 0)
		orig := num("original_max_position_embeddings", 0)
		if p.err != nil {
			return rs
		}
		if !(rs.LowFreqFactor > 0) || !(rs.HighFreqFactor > rs.LowFreqFactor) {
			p.fail("rope_scaling", "llama3 needs 0 < low_freq_factor < high_freq_factor, have %g and %g", rs.LowFreqFactor, rs.HighFreqFactor)
		}
		if orig != math.Trunc(orig) || orig < 1 || orig > MaxPosition {
			p.fail("rope_scaling", "original_max_position_embeddings %g is not a positive integer up to %d", orig, MaxPosition)
		}
		rs.OriginalMaxPositions = int(orig)
	}
	return rs
}

// MarshalHF returns the configuration as a Hugging Face config.json: model_type "llama"
// when every layer is the same grouped block, "deci" with num_key_value_heads_per_layer
// when layers differ only in KV heads, else "nemotron-nas" with block_configs.
func (c *Config) MarshalHF() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             c.Hidden,
		"num_hidden_layers":       c.Layers,
		"num_attention_heads":     c.Heads,
		"vocab_size":              c.Vocab,
		"max_position_embeddings": c.MaxPositions,
		"rms_norm_eps":            c.NormEps,
		"rope_theta":              c.RopeTheta,
		"tie_word_embeddings":     c.TieEmbeddings,
		"hidden_act":              "silu",
		"attention_bias":          false,
		"bos_token_id":            c.BOS,
	}
	if len(c.EOS) == 1 {
		m["eos_token_id"] = c.EOS[0]
	} else if len(c.EOS) > 1 {
		m["eos_token_id"] = c.EOS
	}
	if c.DType != "" {
		m["torch_dtype"] = c.DType
	}
	plain := true // every layer grouped with a gated FFN of one width
	for _, b := range c.Blocks {
		plain = plain && b.Attn == AttnGrouped && b.FFN == FFNGated && b.FFNWidth == c.Blocks[0].FFNWidth
	}
	switch {
	case plain && c.Uniform() && c.Arch != "deci":
		m["num_key_value_heads"] = c.Blocks[0].KVHeads
		m["intermediate_size"] = c.Blocks[0].FFNWidth
	case plain:
		m["model_type"] = "deci"
		m["architectures"] = []string{"DeciLMForCausalLM"}
		m["num_key_value_heads_per_layer"] = c.KVHeads()
		m["intermediate_size"] = c.Blocks[0].FFNWidth
	default:
		m["model_type"] = "nemotron-nas"
		m["architectures"] = []string{"DeciLMForCausalLM"}
		var blocks []any
		for _, b := range c.Blocks {
			attn := map[string]any{"n_heads_in_group": nil, "no_op": b.Attn == AttnNone, "replace_with_linear": b.Attn == AttnLinear}
			if b.Attn == AttnGrouped {
				attn["n_heads_in_group"] = c.Heads / b.KVHeads
			}
			ffn := map[string]any{"ffn_mult": nil, "no_op": b.FFN == FFNNone, "replace_with_linear": b.FFN == FFNLinear}
			if b.FFN == FFNGated {
				// ffn_mult as the models ship it where it gives the width back exactly.
				mult := float64(b.FFNWidth) * 3 / 2 / float64(c.Hidden)
				if FFNMultWidth(mult, c.Hidden) == b.FFNWidth {
					ffn["ffn_mult"] = mult
				} else {
					delete(ffn, "ffn_mult")
					ffn["intermediate_size"] = b.FFNWidth
				}
			}
			blocks = append(blocks, map[string]any{"attention": attn, "ffn": ffn})
		}
		m["block_configs"] = blocks
	}
	rs := c.RopeScaling
	switch rs.Type {
	case "":
	case "llama3":
		if rs.OriginalMaxPositions == 0 {
			return nil, errors.New("config: llama3 rope scaling read from per-frequency factors (a GGUF rope_freqs tensor) has no config.json form")
		}
		m["rope_scaling"] = map[string]any{"rope_type": "llama3", "factor": rs.Factor, "low_freq_factor": rs.LowFreqFactor,
			"high_freq_factor": rs.HighFreqFactor, "original_max_position_embeddings": rs.OriginalMaxPositions}
	default:
		m["rope_scaling"] = map[string]any{"type": rs.Type, "factor": rs.Factor}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
