package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Config is the shape of a DeciLM or Llama transformer, from a Hugging Face config.json, a
// GGUF file's metadata or a llama2.c header.
type Config struct {
	// Arch is "deci" for DeciLM (variable grouped-query attention) or "llama".
	Arch         string
	Hidden       int   // hidden_size
	Intermediate int   // intermediate_size (SwiGLU)
	Layers       int   // num_hidden_layers
	Heads        int   // num_attention_heads
	HeadDim      int   // hidden_size / num_attention_heads
	KVHeads      []int // key/value heads of each layer
	Vocab        int   // vocab_size
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

// RopeScaling describes rotary-embedding scaling beyond the trained context.
type RopeScaling struct {
	// Type is "linear" (positions divided by Factor) or "dynamic" (Hugging Face's dynamic
	// NTK: plain RoPE up to MaxPositions, a larger base beyond it), or "" for none.
	Type   string
	Factor float64
}

// ParseConfig reads a Hugging Face config.json (DeciLM or Llama). name is used in errors.
// Fields that change the arithmetic and have values decilm does not implement (another
// hidden_act, attention_bias true, an unknown rope_scaling type...) are errors.
func ParseConfig(name string, data []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %v", name, err)
	}
	p := &fieldParser{name: name, raw: raw}
	c := &Config{BOS: -1}
	c.Arch = p.str("model_type", "")
	switch c.Arch {
	case "", "deci", "llama":
	default:
		return nil, fmt.Errorf("%s: model_type %q is not supported (want deci or llama)", name, c.Arch)
	}
	if act := p.str("hidden_act", "silu"); act != "silu" {
		p.fail("hidden_act", "%q is not supported (only silu)", act)
	}
	if p.boolean("attention_bias", false) {
		p.fail("attention_bias", "true is not supported")
	}
	if p.boolean("mlp_bias", false) {
		p.fail("mlp_bias", "true is not supported")
	}
	c.Hidden = p.integer("hidden_size", -1)
	c.Intermediate = p.integer("intermediate_size", -1)
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
	if p.err != nil {
		return nil, p.err
	}
	for _, f := range []struct {
		key string
		v   int
	}{{"hidden_size", c.Hidden}, {"intermediate_size", c.Intermediate}, {"num_hidden_layers", c.Layers}, {"num_attention_heads", c.Heads}, {"vocab_size", c.Vocab}} {
		if f.v <= 0 {
			if _, ok := raw[f.key]; !ok {
				return nil, fmt.Errorf("%s: field %q is missing", name, f.key)
			}
			return nil, fmt.Errorf("%s: field %q must be positive, is %d", name, f.key, f.v)
		}
	}
	switch {
	case perLayer != nil:
		// The per-layer list wins over num_key_value_heads (fine-tunes saved by newer
		// transformers carry both).
		c.KVHeads = perLayer
		if c.Arch == "" {
			c.Arch = "deci"
		}
	case kv > 0:
		c.KVHeads = repeat(kv, c.Layers)
	default:
		c.KVHeads = repeat(c.Heads, c.Layers)
	}
	if c.Arch == "" {
		c.Arch = "llama"
	}
	if c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("%s: hidden_size %d is not a multiple of num_attention_heads %d", name, c.Hidden, c.Heads)
	}
	c.HeadDim = c.Hidden / c.Heads
	if headDim != 0 && headDim != c.HeadDim {
		return nil, fmt.Errorf("%s: head_dim %d differs from hidden_size/num_attention_heads = %d (not supported)", name, headDim, c.HeadDim)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// Validate checks the configuration's internal consistency.
func (c *Config) Validate() error {
	if c.Hidden <= 0 || c.Intermediate <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0 {
		return fmt.Errorf("config: sizes must be positive (hidden %d, intermediate %d, layers %d, heads %d, vocab %d)", c.Hidden, c.Intermediate, c.Layers, c.Heads, c.Vocab)
	}
	if c.HeadDim <= 0 || c.HeadDim%2 != 0 || c.HeadDim*c.Heads != c.Hidden {
		return fmt.Errorf("config: head dimension %d must be even and heads×head_dim must equal hidden_size %d", c.HeadDim, c.Hidden)
	}
	if len(c.KVHeads) != c.Layers {
		return fmt.Errorf("config: num_key_value_heads_per_layer has %d entries for %d layers", len(c.KVHeads), c.Layers)
	}
	for l, k := range c.KVHeads {
		if k <= 0 || k > c.Heads || c.Heads%k != 0 {
			return fmt.Errorf("config: layer %d has %d key/value heads, which must divide the %d attention heads", l, k, c.Heads)
		}
	}
	if c.MaxPositions <= 0 {
		return fmt.Errorf("config: max_position_embeddings must be positive, is %d", c.MaxPositions)
	}
	if !(c.NormEps > 0) || !(c.RopeTheta > 0) {
		return fmt.Errorf("config: rms_norm_eps (%g) and rope_theta (%g) must be positive", c.NormEps, c.RopeTheta)
	}
	switch c.RopeScaling.Type {
	case "":
	case "linear", "dynamic":
		if !(c.RopeScaling.Factor >= 1) {
			return fmt.Errorf("config: rope_scaling factor must be at least 1, is %g", c.RopeScaling.Factor)
		}
	default:
		return fmt.Errorf("config: rope_scaling type %q is not supported (want linear or dynamic)", c.RopeScaling.Type)
	}
	return nil
}

// KVDim returns the width of layer l's key (and value) projection: KVHeads[l]·HeadDim.
func (c *Config) KVDim(l int) int { return c.KVHeads[l] * c.HeadDim }

// KVBytesPerToken is the size of one token's keys and values over all layers, at
// bytesPerValue bytes per element (2 for f16).
func (c *Config) KVBytesPerToken(bytesPerValue int) int {
	n := 0
	for l := range c.KVHeads {
		n += 2 * c.KVDim(l) * bytesPerValue
	}
	return n
}

// Params returns the number of parameters of the weights the config implies.
func (c *Config) Params() int64 {
	h, f, v := int64(c.Hidden), int64(c.Intermediate), int64(c.Vocab)
	n := v * h // embedding
	for l := range c.KVHeads {
		kv := int64(c.KVDim(l))
		n += 2 * h              // norms
		n += h*h + 2*kv*h + h*h // q, k, v, o
		n += 3 * h * f          // gate, up, down
	}
	n += h // final norm
	if !c.TieEmbeddings {
		n += v * h
	}
	return n
}

// ContextLength is the longest sequence the model is meant to see: MaxPositions, times
// the rope_scaling factor when there is one.
func (c *Config) ContextLength() int {
	if c.RopeScaling.Type != "" {
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

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
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
	case "linear", "dynamic":
		rs.Type = strings.ToLower(t)
	case "default":
		return RopeScaling{}
	default:
		p.fail("rope_scaling", "type %q is not supported (want linear or dynamic)", t)
		return rs
	}
	f, ok := m["factor"].(json.Number)
	if !ok {
		p.fail("rope_scaling", "factor must be a number")
		return rs
	}
	rs.Factor, _ = f.Float64()
	return rs
}

// MarshalHF returns the configuration as a Hugging Face config.json (model_type "deci"
// with num_key_value_heads_per_layer when layers differ in KV heads, else "llama").
func (c *Config) MarshalHF() ([]byte, error) {
	m := map[string]any{
		"architectures":           []string{"LlamaForCausalLM"},
		"model_type":              "llama",
		"hidden_size":             c.Hidden,
		"intermediate_size":       c.Intermediate,
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
	uniform := true
	for _, k := range c.KVHeads {
		uniform = uniform && k == c.KVHeads[0]
	}
	if uniform && c.Arch != "deci" {
		m["num_key_value_heads"] = c.KVHeads[0]
	} else {
		m["model_type"] = "deci"
		m["architectures"] = []string{"DeciLMForCausalLM"}
		m["num_key_value_heads_per_layer"] = c.KVHeads
	}
	if c.RopeScaling.Type != "" {
		m["rope_scaling"] = map[string]any{"type": c.RopeScaling.Type, "factor": c.RopeScaling.Factor}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
