package model

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/tensor"
)

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
		max int
	}{{"embedding_length", &c.Hidden, MaxHidden}, {"block_count", &c.Layers, MaxLayers}}
	for _, fl := range fields {
		if f, err = num(fl.key, 0, true); err != nil {
			return nil, err
		}
		if !(f >= 1 && f <= float64(fl.max)) || f != math.Trunc(f) {
			return nil, fmt.Errorf("%s: metadata %s.%s is %g, want an integer in 1..%d", ck.Path, a, fl.key, f, fl.max)
		}
		*fl.dst = int(f)
	}
	// head_count, head_count_kv and feed_forward_length are one number or, in deci files
	// of Nemotron-NAS models, one per layer (block_count entries).
	perLayer := func(key string, limit int, required bool) ([]int, error) {
		v, ok := get(a + "." + key)
		if !ok {
			if required {
				return nil, fmt.Errorf("%s: metadata %s.%s is missing", ck.Path, a, key)
			}
			return nil, nil
		}
		list, isList := intList(v)
		if !isList {
			n, isNum := toFloat(v)
			if !isNum || n != math.Trunc(n) {
				return nil, fmt.Errorf("%s: metadata %s.%s: want an integer or an array of integers, got %T", ck.Path, a, key, v)
			}
			if c.Layers > len(ck.Tensors) {
				// Each layer of a model without per-layer arrays has its weights.
				return nil, fmt.Errorf("%s: metadata %s.block_count is %d but the file holds %d tensors", ck.Path, a, c.Layers, len(ck.Tensors))
			}
			list = make([]int64, c.Layers)
			for i := range list {
				list[i] = int64(n)
			}
		}
		if len(list) != c.Layers {
			return nil, fmt.Errorf("%s: metadata %s.%s has %d entries for %d blocks", ck.Path, a, key, len(list), c.Layers)
		}
		out := make([]int, len(list))
		for i, x := range list {
			if x < 0 || x > int64(limit) {
				return nil, fmt.Errorf("%s: metadata %s.%s: layer %d has %d, want 0..%d", ck.Path, a, key, i, x, limit)
			}
			out[i] = int(x)
		}
		return out, nil
	}
	heads, err := perLayer("attention.head_count", MaxHeads, true)
	if err != nil {
		return nil, err
	}
	kvHeads, err := perLayer("attention.head_count_kv", MaxHeads, false)
	if err != nil {
		return nil, err
	}
	ffn, err := perLayer("feed_forward_length", MaxFFN, true)
	if err != nil {
		return nil, err
	}
	for _, h := range heads {
		if h != 0 && c.Heads != 0 && h != c.Heads {
			return nil, fmt.Errorf("%s: metadata %s.attention.head_count differs between layers (%d and %d; decilm needs one query head count)", ck.Path, a, c.Heads, h)
		}
		if h != 0 {
			c.Heads = h
		}
	}
	if c.Heads == 0 {
		// No layer has attention; the head count then only sets a RoPE dimension no layer
		// uses.
		c.Heads = 1
	}
	if c.Hidden%c.Heads != 0 {
		return nil, fmt.Errorf("%s: head count %d does not divide embedding length %d", ck.Path, c.Heads, c.Hidden)
	}
	c.HeadDim = c.Hidden / c.Heads
	if rd, ok := get(a + ".rope.dimension_count"); ok {
		if n, isNum := toFloat(rd); !isNum || n != float64(c.HeadDim) {
			return nil, fmt.Errorf("%s: metadata %s.rope.dimension_count is %v but the heads are %d wide (embedding_length %d / head_count %d); partial rotary embeddings are not supported", ck.Path, a, rd, c.HeadDim, c.Hidden, c.Heads)
		}
	}
	c.Blocks = make([]Block, c.Layers)
	for l := range c.Blocks {
		b := &c.Blocks[l]
		kv := c.Heads
		if kvHeads != nil {
			kv = kvHeads[l]
		}
		switch {
		case heads[l] == 0:
			b.Attn = AttnNone
		case kv == 0:
			b.Attn = AttnLinear // llama.cpp's convention: head_count > 0, head_count_kv 0
		default:
			b.Attn, b.KVHeads = AttnGrouped, kv
		}
		_, linear := ck.Tensors[ggufLayer(l, GGUFLinearFFN)]
		switch {
		case ffn[l] > 0:
			b.FFN, b.FFNWidth = FFNGated, ffn[l]
		case linear:
			b.FFN = FFNLinear
		default:
			b.FFN = FFNNone
		}
	}
	if f, err = num("context_length", 2048, false); err != nil {
		return nil, err
	}
	if !(f >= 1 && f <= MaxPosition) {
		return nil, fmt.Errorf("%s: metadata %s.context_length is %g, want 1..%d", ck.Path, a, f, MaxPosition)
	}
	c.MaxPositions = int(f)
	if c.NormEps, err = num("attention.layer_norm_rms_epsilon", 1e-5, false); err != nil {
		return nil, err
	}
	if c.RopeTheta, err = num("rope.freq_base", 10000, false); err != nil {
		return nil, err
	}
	// llama.cpp has no dynamic NTK and asserts on an unknown scaling type, so decilm's
	// quantizer records DeciLM's dynamic scaling under decilm.rope.scaling.*. llama3
	// scaling is the rope_freqs tensor (one divisor per frequency), with its parameters
	// under decilm.rope.scaling.* too when decilm wrote the file.
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
		if s == "llama3" {
			lo, _ := get(prefix + "low_freq_factor")
			hi, _ := get(prefix + "high_freq_factor")
			orig, _ := get(prefix + "original_context_length")
			c.RopeScaling.LowFreqFactor, _ = toFloat(lo)
			c.RopeScaling.HighFreqFactor, _ = toFloat(hi)
			if o, _ := toFloat(orig); o >= 1 && o <= MaxPosition {
				c.RopeScaling.OriginalMaxPositions = int(o)
			}
		}
	}
	if rf, ok := ck.Tensors[GGUFRopeFreqs]; ok {
		if err := c.readRopeFreqs(rf); err != nil {
			return nil, fmt.Errorf("%s: %w", ck.Path, err)
		}
	} else if c.RopeScaling.Type == "llama3" {
		return nil, fmt.Errorf("%s: llama3 rope scaling without its %s tensor", ck.Path, GGUFRopeFreqs)
	}
	if v, ok := get("tokenizer.ggml.bos_token_id"); ok {
		if n, ok := toFloat(v); ok {
			c.BOS = int(max(min(n, MaxVocab), -1))
		}
	}
	if v, ok := get("tokenizer.ggml.eos_token_id"); ok {
		if n, ok := toFloat(v); ok {
			c.EOS = []int{int(max(min(n, MaxVocab), -1))}
		}
	}
	if emb, ok := ck.Tensors["token_embd.weight"]; ok && len(emb.Shape) == 2 {
		c.Vocab = emb.Shape[0]
	}
	if v, ok := get(a + ".vocab_size"); ok {
		if n, ok := toFloat(v); ok {
			if !(n >= 1 && n <= MaxVocab) {
				return nil, fmt.Errorf("%s: metadata %s.vocab_size is %g, want 1..%d", ck.Path, a, n, MaxVocab)
			}
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

// intList returns the values of an integer array, and whether v is one.
func intList(v any) ([]int64, bool) {
	var out []int64
	switch x := v.(type) {
	case []int32:
		for _, e := range x {
			out = append(out, int64(e))
		}
	case []uint32:
		for _, e := range x {
			out = append(out, int64(e))
		}
	case []int64:
		out = append(out, x...)
	case []uint64:
		for _, e := range x {
			out = append(out, int64(min(e, 1<<62)))
		}
	case []int16:
		for _, e := range x {
			out = append(out, int64(e))
		}
	case []uint16:
		for _, e := range x {
			out = append(out, int64(e))
		}
	case []int8:
		for _, e := range x {
			out = append(out, int64(e))
		}
	case []uint8:
		for _, e := range x {
			out = append(out, int64(e))
		}
	default:
		return nil, false
	}
	return out, true
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

// readRopeFreqs takes llama3 rope scaling from a GGUF rope_freqs tensor: one divisor per
// rotary frequency.
func (c *Config) readRopeFreqs(rf *tensor.Tensor) error {
	if !tensor.ShapeEqual(rf.Shape, []int{c.HeadDim / 2}) {
		return fmt.Errorf("tensor %s has shape %v, want [%d] (head dimension %d / 2)", GGUFRopeFreqs, rf.Shape, c.HeadDim/2, c.HeadDim)
	}
	if err := rf.Validate(); err != nil {
		return err
	}
	v := make([]float32, c.HeadDim/2)
	if err := tensor.DecodeRow(v, rf.Data, rf.DType); err != nil {
		return fmt.Errorf("tensor %s: %w", GGUFRopeFreqs, err)
	}
	rs := &c.RopeScaling
	if rs.Type != "" && rs.Type != "llama3" {
		return fmt.Errorf("tensor %s (llama3 rope scaling) beside rope scaling type %q", GGUFRopeFreqs, rs.Type)
	}
	rs.Type = "llama3"
	rs.Factors = make([]float64, len(v))
	for i, x := range v {
		rs.Factors[i] = float64(x)
		if !(x > 0) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("tensor %s: factor %d is %g (want positive and finite)", GGUFRopeFreqs, i, x)
		}
		if rs.OriginalMaxPositions == 0 {
			rs.Factor = max(rs.Factor, float64(x))
		}
	}
	rs.Factor = max(rs.Factor, 1)
	return nil
}
