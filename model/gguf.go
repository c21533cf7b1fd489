package model

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/tensor"
)

// ggufNames maps llama.cpp tensor names (token_embd.weight, blk.N.attn_q.weight, ...) to
// the Hugging Face names the model uses.
func ggufNames(in map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	simple := map[string]string{
		"token_embd.weight":  "model.embed_tokens.weight",
		"output_norm.weight": "model.norm.weight",
		"output.weight":      "lm_head.weight",
	}
	block := map[string]string{
		"attn_norm.weight":   "input_layernorm.weight",
		"attn_q.weight":      "self_attn.q_proj.weight",
		"attn_k.weight":      "self_attn.k_proj.weight",
		"attn_v.weight":      "self_attn.v_proj.weight",
		"attn_output.weight": "self_attn.o_proj.weight",
		"ffn_norm.weight":    "post_attention_layernorm.weight",
		"ffn_gate.weight":    "mlp.gate_proj.weight",
		"ffn_up.weight":      "mlp.up_proj.weight",
		"ffn_down.weight":    "mlp.down_proj.weight",
	}
	out := make(map[string]*tensor.Tensor, len(in))
	for name, t := range in {
		if hf, ok := simple[name]; ok {
			out[hf] = t
			continue
		}
		if rest, ok := strings.CutPrefix(name, "blk."); ok {
			num, suffix, _ := strings.Cut(rest, ".")
			l, err := strconv.Atoi(num)
			if hf, ok := block[suffix]; ok && err == nil {
				out[fmt.Sprintf("model.layers.%d.%s", l, hf)] = t
				continue
			}
		}
		if name == "rope_freqs.weight" {
			continue
		}
		out[name] = t // unknown: New reports it
	}
	return out, nil
}

// unreadableTensors returns an error naming the ggml types of a GGUF file's tensors that
// decilm cannot compute with, each with its count and one tensor of it, or nil when there
// are none. Such a file is refused whole: with a weight left out, a model would run on
// without it (an output projection, say, quietly tied to the embedding).
func unreadableTensors(ck *checkpoint.Checkpoint) error {
	u := ck.GGUF.Unsupported
	if len(u) == 0 {
		return nil
	}
	count := map[gguf.GGMLType]int{}
	first := map[gguf.GGMLType]string{}
	for _, t := range u {
		if count[t.Type] == 0 {
			first[t.Type] = t.Name
		}
		count[t.Type]++
	}
	types := make([]gguf.GGMLType, 0, len(count))
	for g := range count {
		types = append(types, g)
	}
	sort.Slice(types, func(a, b int) bool { return types[a] < types[b] })
	parts := make([]string, len(types))
	for i, g := range types {
		noun := "tensors"
		if count[g] == 1 {
			noun = "tensor"
		}
		parts[i] = fmt.Sprintf("%s (ggml type %d): %d %s, such as %q", g, uint32(g), count[g], noun, first[g])
	}
	return fmt.Errorf("%s: %d of %d tensors have ggml types decilm cannot read: %s", ck.Path, len(u), len(u)+len(ck.GGUF.Tensors), strings.Join(parts, "; "))
}

func configFromGGUF(ck *checkpoint.Checkpoint) (*Config, error) {
	if err := unreadableTensors(ck); err != nil {
		return nil, err
	}
	get := ck.GGUF.Get
	arch, _ := get("general.architecture")
	a, _ := arch.(string)
	if a != "llama" && a != "deci" {
		return nil, fmt.Errorf("%s: general.architecture %q is not supported (want llama or deci)", ck.Path, a)
	}
	num := func(key string, def float64, required bool) (float64, error) {
		v, ok := get(a + "." + key)
		if !ok {
			if required {
				return 0, fmt.Errorf("%s: metadata %s.%s is missing", ck.Path, a, key)
			}
			return def, nil
		}
		f, ok := toFloat(v)
		if !ok {
			return 0, fmt.Errorf("%s: metadata %s.%s: want a number, got %T", ck.Path, a, key, v)
		}
		return f, nil
	}
	c := &Config{Arch: a, RopeInterleaved: true, BOS: 1, EOS: []int{2}}
	var err error
	var f float64
	fields := []struct {
		key string
		dst *int
	}{{"embedding_length", &c.Hidden}, {"feed_forward_length", &c.Intermediate}, {"block_count", &c.Layers}, {"attention.head_count", &c.Heads}}
	for _, fl := range fields {
		if f, err = num(fl.key, 0, true); err != nil {
			return nil, err
		}
		*fl.dst = int(f)
	}
	if f, err = num("context_length", 2048, false); err != nil {
		return nil, err
	}
	c.MaxPositions = int(f)
	if c.NormEps, err = num("attention.layer_norm_rms_epsilon", 1e-5, false); err != nil {
		return nil, err
	}
	if c.RopeTheta, err = num("rope.freq_base", 10000, false); err != nil {
		return nil, err
	}
	// llama.cpp has no dynamic NTK and asserts on an unknown scaling type, so decilm's
	// quantizer records DeciLM's dynamic scaling under decilm.rope.scaling.*.
	for _, prefix := range []string{a + ".rope.scaling.", "decilm.rope.scaling."} {
		t, ok := get(prefix + "type")
		if !ok {
			continue
		}
		s, _ := t.(string)
		if s == "none" || s == "" {
			continue
		}
		f, ok := get(prefix + "factor")
		fac, isNum := toFloat(f)
		if !ok || !isNum {
			return nil, fmt.Errorf("%s: metadata %sfactor is missing or not a number", ck.Path, prefix)
		}
		c.RopeScaling = RopeScaling{Type: s, Factor: fac}
	}
	if c.Heads <= 0 || c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("%s: head count %d does not divide embedding length %d", ck.Path, c.Heads, c.Hidden)
	}
	c.HeadDim = c.Hidden / c.Heads
	switch v, _ := get(a + ".attention.head_count_kv"); kv := v.(type) {
	case nil:
		c.KVHeads = repeat(c.Heads, c.Layers)
	case []int32:
		for _, k := range kv {
			c.KVHeads = append(c.KVHeads, int(k))
		}
	case []uint32:
		for _, k := range kv {
			c.KVHeads = append(c.KVHeads, int(k))
		}
	default:
		n, ok := toFloat(v)
		if !ok {
			return nil, fmt.Errorf("%s: metadata %s.attention.head_count_kv has type %T", ck.Path, a, v)
		}
		c.KVHeads = repeat(int(n), c.Layers)
	}
	if v, ok := get("tokenizer.ggml.bos_token_id"); ok {
		if n, ok := toFloat(v); ok {
			c.BOS = int(n)
		}
	}
	if v, ok := get("tokenizer.ggml.eos_token_id"); ok {
		if n, ok := toFloat(v); ok {
			c.EOS = []int{int(n)}
		}
	}
	if emb, ok := ck.Tensors["token_embd.weight"]; ok && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	if v, ok := get(a + ".vocab_size"); ok {
		if n, ok := toFloat(v); ok {
			c.Vocab = int(n)
		}
	}
	_, hasOut := ck.Tensors["output.weight"]
	c.TieEmbeddings = !hasOut
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	return c, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case uint8:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case int16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
