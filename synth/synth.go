// Package synth writes random-weight DeciLM, Nemotron-NAS and Llama checkpoints in the
// Hugging Face layout, for tests and benchmarks without a download. Weights follow the
// integer-only recipe of shared/fixtures/tiny-decilm/GENERATOR.md (and, for Nemotron-NAS
// blocks, tiny-nemotron/GENERATOR.md), so any implementation of the recipe writes the
// same bytes: the "tiny" and "tiny-nemotron" presets reproduce the fixture checkpoints
// exactly.
package synth

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/tensor"
)

// Preset is the shape of a synthetic model.
type Preset struct {
	Name   string
	Hidden int
	// Intermediate and KVHeads give a DeciLM or Llama model's FFN width and per-layer KV
	// heads; a Nemotron-NAS preset gives Blocks instead.
	Intermediate int
	Layers       int
	Heads        int
	KVHeads      []int
	// Blocks, when not nil, describes each layer as Nemotron-NAS's block_configs do.
	Blocks       []Block
	Vocab        int
	MaxPositions int
	NormEps      float64
	// RopeTheta is rope_theta (10000 when 0).
	RopeTheta float64
	// RopeScalingJSON is the config's rope_scaling value as JSON ("null" for none).
	RopeScalingJSON string
	// Llama makes the config a plain LlamaForCausalLM (num_key_value_heads: every layer
	// must have the same KV heads).
	Llama bool
	// Tied ties the output projection to the embedding (no lm_head.weight).
	Tied bool
	// BOS and EOSJSON are bos_token_id and eos_token_id (1 and "2" when zero).
	BOS     int
	EOSJSON string
}

// Block is one layer of a Nemotron-NAS preset, as in config.json's block_configs.
type Block struct {
	// HeadsInGroup is n_heads_in_group of grouped attention (KV heads = Heads /
	// HeadsInGroup); 0 with AttnLinear false means the attention is skipped (no_op).
	HeadsInGroup int
	AttnLinear   bool // replace_with_linear
	// FFNMult is the gated FFN's ffn_mult (width find_multiple(int(2·mult·hidden/3), 256));
	// 0 with FFNLinear false means the FFN is skipped (no_op).
	FFNMult   float64
	FFNLinear bool
}

// ParseBlocks reads a compact block list: one "ATTN/FFN" word per layer, ATTN being gN
// (grouped, n_heads_in_group N), L (linear) or - (skipped), FFN an ffn_mult, L or -.
func ParseBlocks(s string) ([]Block, error) {
	var out []Block
	for i, w := range strings.Fields(s) {
		a, f, ok := strings.Cut(w, "/")
		if !ok {
			return nil, fmt.Errorf("block %d: %q is not ATTN/FFN", i, w)
		}
		var b Block
		switch {
		case a == "L":
			b.AttnLinear = true
		case a == "-":
		case strings.HasPrefix(a, "g"):
			n, err := strconv.Atoi(a[1:])
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("block %d: attention %q", i, a)
			}
			b.HeadsInGroup = n
		default:
			return nil, fmt.Errorf("block %d: attention %q", i, a)
		}
		switch f {
		case "L":
			b.FFNLinear = true
		case "-":
		default:
			m, err := strconv.ParseFloat(f, 64)
			if err != nil || !(m > 0) {
				return nil, fmt.Errorf("block %d: ffn_mult %q", i, f)
			}
			b.FFNMult = m
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no blocks in %q", s)
	}
	return out, nil
}

func mustBlocks(s string) []Block {
	b, err := ParseBlocks(s)
	if err != nil {
		panic(err)
	}
	return b
}

// The real models' block lists, from ../shared/models (51B's is derived, not its exact
// config: see that folder's README).
const (
	super49B = "g8/2.625 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 -/2.625 -/2.625 g8/5.25 g8/5.25 g8/5.25 -/3.28125 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 -/1.3125 -/2.625 -/2.625 -/1.3125 -/5.25 -/1.3125 -/2.625 -/1.3125 -/1.3125 -/1.3125 g8/5.25 -/1.3125 -/1.0 -/1.0 -/1.3125 -/1.0 -/1.0 -/1.0 -/1.3125 -/1.3125 -/0.5 -/0.5 -/1.0 -/1.0 -/0.5 -/0.5 -/1.0 -/0.5 -/0.5 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25"
	nemo51B  = "g8/1.3125 g16/2.625 g8/5.25 g8/5.25 g8/5.25 g32/2.625 g32/2.625 g64/2.625 g64/2.625 g32/2.625 g32/2.625 L/2.625 g64/2.625 g32/2.625 g32/2.625 L/1.3125 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 L/2.625 g8/5.25 g8/5.25 L/2.625 L/5.25 L/2.625 L/2.625 L/2.625 -/1.3125 L/1.3125 g8/5.25 -/1.3125 L/1.3125 -/1.3125 g8/5.25 L/1.3125 -/1.3125 L/1.3125 L/1.3125 -/1.3125 -/1.3125 L/1.3125 -/1.3125 -/1.3125 L/1.3125 L/1.3125 L/1.3125 L/1.3125 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25 g8/5.25"
	ultra253 = "g16/0.4875 g16/0.975 g16/1.4625 g16/1.4625 g16/1.4625 g16/1.4625 g16/1.4625 g16/1.4625 g16/1.95 -/- -/- -/- -/- g16/1.95 g16/1.95 g16/1.95 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 g16/2.4375 -/- -/- -/- g16/1.95 g16/1.95 g16/1.95 -/1.95 g16/4.875 -/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/4.875 g16/4.875 g16/4.875 -/- -/- -/- -/- -/- g16/4.875 g16/3.4125 g16/3.4125 g16/3.4125 -/- -/- g16/2.925 g16/2.4375 g16/2.4375 g16/2.4375 -/2.4375 -/2.4375 g16/2.4375 -/- -/2.4375 -/2.4375 -/2.4375 -/2.4375 -/2.4375 -/2.4375 -/2.4375 g16/2.4375 -/- -/- -/- -/- -/- g16/2.925 g16/4.875 -/4.875 g16/4.875 -/- -/- -/- -/- -/- -/- -/- -/- -/36.5625 -/- -/- -/- -/- -/- -/- -/- -/- -/39.0 -/- -/- -/- -/- -/- -/- -/- -/- -/31.40625 -/- -/- -/- -/- -/- -/27.5625 -/1.95 g16/1.95 g16/2.4375 -/- g16/2.4375 g16/2.4375 g16/3.4125 g16/4.875 g16/4.875 g16/4.875 g16/4.875 g16/2.4375"
)

const (
	llama3Rope8  = `{"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}`
	llama3Rope16 = `{"factor": 16.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}`
	llama3Rope32 = `{"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}`
	llama3EOS    = "[128001, 128008, 128009]"
)

func nemotron(name string, hidden, heads int, blocks string, rope string) Preset {
	b := mustBlocks(blocks)
	return Preset{Name: name, Hidden: hidden, Heads: heads, Layers: len(b), Blocks: b, Vocab: 128256,
		MaxPositions: 131072, NormEps: 1e-5, RopeTheta: 500000, RopeScalingJSON: rope, BOS: 128000, EOSJSON: llama3EOS}
}

// Presets lists the built-in shapes: tiny (the tiny-decilm fixture), tiny-nemotron (the
// tiny-nemotron fixture: one layer of each block kind), 1b (1.1B parameters, variable
// GQA), decilm-6b and decilm-7b, nemotron-super-49b, nemotron-51b and nemotron-ultra-253b
// (the real models' shapes; Preset.FirstLayers makes a slice that fits in memory), and
// llama-3.2-1b.
var Presets = map[string]Preset{
	"tiny": {Name: "tiny", Hidden: 128, Intermediate: 344, Layers: 4, Heads: 8, KVHeads: []int{8, 4, 2, 1},
		Vocab: 32000, MaxPositions: 2048, NormEps: 1e-6, RopeScalingJSON: "null"},
	"1b": {Name: "1b", Hidden: 2048, Intermediate: 5632, Layers: 22, Heads: 32,
		KVHeads: []int{4, 4, 4, 4, 2, 4, 4, 4, 4, 2, 4, 4, 4, 4, 2, 4, 4, 1, 4, 4, 1, 4},
		Vocab:   32000, MaxPositions: 2048, NormEps: 1e-5, RopeScalingJSON: "null"},
	"decilm-6b": {Name: "decilm-6b", Hidden: 4096, Intermediate: 11008, Layers: 32, Heads: 32,
		KVHeads: []int{4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 4},
		Vocab:   32000, MaxPositions: 4096, NormEps: 1e-5, RopeScalingJSON: `{"type": "dynamic", "factor": 2.0}`},
	"decilm-7b": {Name: "decilm-7b", Hidden: 4096, Intermediate: 14336, Layers: 32, Heads: 32,
		KVHeads: []int{4, 4, 4, 4, 4, 2, 2, 2, 2, 2, 4, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4},
		Vocab:   32000, MaxPositions: 8192, NormEps: 1e-5, RopeScalingJSON: `{"type": "dynamic", "factor": 2.0}`},
	"tiny-nemotron":      nemotron("tiny-nemotron", 128, 8, "g2/2.625 -/5.25 L/2.625 g8/- g1/L -/- g4/7.875", llama3Rope8),
	"nemotron-super-49b": nemotron("nemotron-super-49b", 8192, 64, super49B, llama3Rope8),
	// 51B's rope settings are not known (its block list is derived): Super-49B's are used.
	"nemotron-51b":        nemotron("nemotron-51b", 8192, 64, nemo51B, llama3Rope8),
	"nemotron-ultra-253b": nemotron("nemotron-ultra-253b", 16384, 128, ultra253, llama3Rope16),
	"llama-3.2-1b": {Name: "llama-3.2-1b", Hidden: 2048, Intermediate: 8192, Layers: 16, Heads: 32, KVHeads: repeat(8, 16),
		Vocab: 128256, MaxPositions: 131072, NormEps: 1e-5, RopeTheta: 500000, RopeScalingJSON: llama3Rope32,
		Llama: true, Tied: true, BOS: 128000, EOSJSON: llama3EOS},
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// FirstLayers returns the preset cut to its first n layers (all of them when n is 0 or
// at least Layers), named NAME-Ln.
func (p Preset) FirstLayers(n int) Preset {
	if n <= 0 || n >= p.Layers {
		return p
	}
	p.Layers = n
	if p.Blocks != nil {
		p.Blocks = p.Blocks[:n]
	}
	if p.KVHeads != nil {
		p.KVHeads = p.KVHeads[:n]
	}
	p.Name = fmt.Sprintf("%s-L%d", p.Name, n)
	return p
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	var n []string
	for k := range Presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// spec is one tensor of the recipe: its name, shape and distribution.
type spec struct {
	name      string
	shape     []int
	mean, std float64
}

// ffnWidth is Nemotron-NAS's width of a gated FFN: find_multiple(int(2·mult·hidden/3), 256).
func ffnWidth(mult float64, hidden int) int {
	n := int(2 * mult * float64(hidden) / 3)
	if n%256 != 0 {
		n += 256 - n%256
	}
	return n
}

func (p Preset) specs() []spec {
	H, V := p.Hidden, p.Vocab
	hd := H / p.Heads
	nh := p.Heads * hd
	isq := func(n int) float64 { return 1 / math.Sqrt(float64(n)) }
	s := []spec{{"model.embed_tokens.weight", []int{V, H}, 0, 1}}
	for l := 0; l < p.Layers; l++ {
		pre := fmt.Sprintf("model.layers.%d.", l)
		b := Block{HeadsInGroup: 1, FFNMult: -1}
		if p.Blocks != nil {
			b = p.Blocks[l]
		}
		switch {
		case b.AttnLinear:
			s = append(s, spec{pre + "input_layernorm.weight", []int{H}, 1, 0.1},
				spec{pre + "self_attn.linear_attn.weight", []int{H, H}, 0, isq(H)})
		case b.HeadsInGroup > 0:
			kvHeads := p.Heads / b.HeadsInGroup
			if p.Blocks == nil {
				kvHeads = p.KVHeads[l]
			}
			kv := kvHeads * hd
			s = append(s,
				spec{pre + "input_layernorm.weight", []int{H}, 1, 0.1},
				spec{pre + "self_attn.q_proj.weight", []int{nh, H}, 0, isq(H)},
				spec{pre + "self_attn.k_proj.weight", []int{kv, H}, 0, isq(H)},
				spec{pre + "self_attn.v_proj.weight", []int{kv, H}, 0, isq(H)},
				spec{pre + "self_attn.o_proj.weight", []int{H, nh}, 0, isq(nh)})
		}
		switch {
		case b.FFNLinear:
			s = append(s, spec{pre + "post_attention_layernorm.weight", []int{H}, 1, 0.1},
				spec{pre + "mlp.linear_mlp.weight", []int{H, H}, 0, isq(H)})
		case b.FFNMult != 0:
			F := p.Intermediate
			if p.Blocks != nil {
				F = ffnWidth(b.FFNMult, H)
			}
			s = append(s,
				spec{pre + "post_attention_layernorm.weight", []int{H}, 1, 0.1},
				spec{pre + "mlp.gate_proj.weight", []int{F, H}, 0, isq(H)},
				spec{pre + "mlp.up_proj.weight", []int{F, H}, 0, isq(H)},
				spec{pre + "mlp.down_proj.weight", []int{H, F}, 0, isq(F)})
		}
	}
	s = append(s, spec{"model.norm.weight", []int{H}, 1, 0.1})
	if !p.Tied {
		s = append(s, spec{"lm_head.weight", []int{V, H}, 0, 2.5 / math.Sqrt(float64(H))})
	}
	return s
}

func mix(x uint64) uint64 {
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

// Value returns element i of tensor number t (in recipe order) for the given seed, mean
// and standard deviation, as a float32, following GENERATOR.md.
func Value(seed uint64, t int, i int, mean, std float64) float32 {
	key := mix(seed*0x10000 + uint64(t))
	z := mix(key + uint64(i+1)*0x9E3779B97F4A7C15)
	c := (z & 0xffff) + (z >> 16 & 0xffff) + (z >> 32 & 0xffff) + (z >> 48)
	s := float64(c+2)/65536 - 2
	w := (s*math.Sqrt(3))*std + mean
	return float32(w)
}

// fill writes elements [lo, hi) of tensor t as bf16 into dst.
func fill(dst []byte, seed uint64, t, lo, hi int, mean, std float64) {
	key := mix(seed*0x10000 + uint64(t))
	sq3 := math.Sqrt(3)
	for i := lo; i < hi; i++ {
		z := mix(key + uint64(i+1)*0x9E3779B97F4A7C15)
		c := (z & 0xffff) + (z >> 16 & 0xffff) + (z >> 32 & 0xffff) + (z >> 48)
		s := float64(c+2)/65536 - 2
		f := float32((s*sq3)*std + mean)
		u := math.Float32bits(f)
		u += 0x7FFF + ((u >> 16) & 1)
		binary.LittleEndian.PutUint16(dst[2*(i-lo):], uint16(u>>16))
	}
}

// ConfigJSON returns the config.json of a preset.
func (p Preset) ConfigJSON() []byte {
	arch, modelType := "DeciLMForCausalLM", "deci"
	var perLayer string
	switch {
	case p.Blocks != nil:
		modelType = "nemotron-nas"
		var bs []string
		for _, b := range p.Blocks {
			group, ffn := "null", "null"
			if b.HeadsInGroup > 0 {
				group = strconv.Itoa(b.HeadsInGroup)
			}
			if b.FFNMult > 0 {
				ffn = strconv.FormatFloat(b.FFNMult, 'f', -1, 64)
			}
			bs = append(bs, fmt.Sprintf(`    {"attention": {"n_heads_in_group": %s, "no_op": %v, "replace_with_linear": %v}, "ffn": {"ffn_mult": %s, "no_op": %v, "replace_with_linear": %v}}`,
				group, b.HeadsInGroup == 0 && !b.AttnLinear, b.AttnLinear, ffn, b.FFNMult == 0 && !b.FFNLinear, b.FFNLinear))
		}
		perLayer = `  "intermediate_size": null,
  "num_key_value_heads": null,
  "block_configs": [
` + strings.Join(bs, ",\n") + `
  ],`
	case p.Llama:
		arch, modelType = "LlamaForCausalLM", "llama"
		perLayer = fmt.Sprintf(`  "intermediate_size": %d,
  "num_key_value_heads": %d,`, p.Intermediate, p.KVHeads[0])
	default:
		kv := ""
		for i, k := range p.KVHeads {
			if i > 0 {
				kv += ",\n    "
			}
			kv += fmt.Sprint(k)
		}
		perLayer = fmt.Sprintf(`  "intermediate_size": %d,
  "num_key_value_heads_per_layer": [
    %s
  ],`, p.Intermediate, kv)
	}
	theta, bos, eos := p.RopeTheta, p.BOS, p.EOSJSON
	if theta == 0 {
		theta = 10000
	}
	if bos == 0 {
		bos = 1
	}
	if eos == "" {
		eos = "2"
	}
	return []byte(fmt.Sprintf(`{
  "architectures": [
    %q
  ],
  "model_type": %q,
  "hidden_size": %d,
%s
  "num_hidden_layers": %d,
  "num_attention_heads": %d,
  "vocab_size": %d,
  "rms_norm_eps": %s,
  "rope_theta": %s,
  "rope_scaling": %s,
  "max_position_embeddings": %d,
  "bos_token_id": %d,
  "eos_token_id": %s,
  "pad_token_id": null,
  "tie_word_embeddings": %v,
  "torch_dtype": "bfloat16",
  "hidden_act": "silu",
  "attention_bias": false,
  "mlp_bias": false,
  "initializer_range": 0.02,
  "pretraining_tp": 1,
  "use_cache": true,
  "transformers_version": "4.35.2"
}
`, arch, modelType, p.Hidden, perLayer, p.Layers, p.Heads, p.Vocab, formatEps(p.NormEps), strconv.FormatFloat(theta, 'f', 1, 64),
		p.RopeScalingJSON, p.MaxPositions, bos, eos, p.Tied))
}

func formatEps(e float64) string {
	switch e {
	case 1e-6:
		return "1e-06"
	case 1e-5:
		return "1e-05"
	}
	return fmt.Sprint(e)
}

// Progress, when set, is called as bytes of weights are written (done, total).
type Progress func(done, total int64)

// WriteSafetensors writes the preset's weights for seed as one BF16 safetensors file.
func (p Preset) WriteSafetensors(w io.Writer, seed uint64, progress Progress) error {
	specs := p.specs()
	ts := make([]*tensor.Tensor, len(specs))
	var total int64
	for i, s := range specs {
		ts[i] = &tensor.Tensor{Name: s.name, DType: tensor.BF16, Shape: s.shape}
		total += int64(2 * ts[i].Elements())
	}
	var done int64
	const chunk = 1 << 20 // elements per work unit
	workers := runtime.GOMAXPROCS(0)
	return safetensors.WriteStream(w, ts, map[string]string{"format": "pt"}, func(t int, w io.Writer) error {
		s := specs[t]
		n := ts[t].Elements()
		// Fill chunks in parallel, write them in order.
		for lo := 0; lo < n; lo += chunk * workers {
			var wg sync.WaitGroup
			bufs := make([][]byte, 0, workers)
			for k := 0; k < workers && lo+k*chunk < n; k++ {
				a := lo + k*chunk
				b := min(a+chunk, n)
				buf := make([]byte, 2*(b-a))
				bufs = append(bufs, buf)
				wg.Add(1)
				go func() {
					defer wg.Done()
					fill(buf, seed, t, a, b, s.mean, s.std)
				}()
			}
			wg.Wait()
			for _, b := range bufs {
				if _, err := w.Write(b); err != nil {
					return err
				}
				done += int64(len(b))
			}
			if progress != nil {
				progress(done, total)
			}
		}
		return nil
	})
}

// Write creates dir (if needed) and writes config.json, tokenizer files (copied from
// tokenizerDir when it is not empty) and model.safetensors.
func (p Preset) Write(dir string, seed uint64, tokenizerDir string, progress Progress) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), p.ConfigJSON(), 0o644); err != nil {
		return err
	}
	if tokenizerDir != "" {
		if err := copyTokenizer(tokenizerDir, dir); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "model.safetensors.tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 4<<20)
	if err := p.WriteSafetensors(bw, seed, progress); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "model.safetensors"))
}

// copyTokenizer copies the tokenizer files found at src (a directory, or a tokenizer.model
// file) into dir.
func copyTokenizer(src, dir string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	var files []string
	if st.IsDir() {
		for _, n := range []string{"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} {
			if _, err := os.Stat(filepath.Join(src, n)); err == nil {
				files = append(files, filepath.Join(src, n))
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("%s: no tokenizer files", src)
		}
	} else {
		files = []string{src}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
