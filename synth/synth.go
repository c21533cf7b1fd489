// Package synth writes random-weight DeciLM checkpoints in the Hugging Face layout, for
// tests and benchmarks without a download. Weights follow the integer-only recipe of
// shared/fixtures/tiny-decilm/GENERATOR.md, so any implementation of the recipe writes the
// same bytes: the "tiny" preset reproduces the fixture checkpoint exactly.
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
	"sync"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/tensor"
)

// Preset is the shape of a synthetic model.
type Preset struct {
	Name         string
	Hidden       int
	Intermediate int
	Layers       int
	Heads        int
	KVHeads      []int
	Vocab        int
	MaxPositions int
	NormEps      float64
	// RopeScalingJSON is the config's rope_scaling value as JSON ("null" for none).
	RopeScalingJSON string
}

// Presets lists the built-in shapes: tiny (the fixture), 1b (1.1B parameters, variable
// GQA), decilm-6b and decilm-7b (the real models' shapes).
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

func (p Preset) specs() []spec {
	H, F, V := p.Hidden, p.Intermediate, p.Vocab
	hd := H / p.Heads
	nh := p.Heads * hd
	isq := func(n int) float64 { return 1 / math.Sqrt(float64(n)) }
	s := []spec{{"model.embed_tokens.weight", []int{V, H}, 0, 1}}
	for l := 0; l < p.Layers; l++ {
		kv := p.KVHeads[l] * hd
		pre := fmt.Sprintf("model.layers.%d.", l)
		s = append(s,
			spec{pre + "input_layernorm.weight", []int{H}, 1, 0.1},
			spec{pre + "self_attn.q_proj.weight", []int{nh, H}, 0, isq(H)},
			spec{pre + "self_attn.k_proj.weight", []int{kv, H}, 0, isq(H)},
			spec{pre + "self_attn.v_proj.weight", []int{kv, H}, 0, isq(H)},
			spec{pre + "self_attn.o_proj.weight", []int{H, nh}, 0, isq(nh)},
			spec{pre + "post_attention_layernorm.weight", []int{H}, 1, 0.1},
			spec{pre + "mlp.gate_proj.weight", []int{F, H}, 0, isq(H)},
			spec{pre + "mlp.up_proj.weight", []int{F, H}, 0, isq(H)},
			spec{pre + "mlp.down_proj.weight", []int{H, F}, 0, isq(F)},
		)
	}
	s = append(s, spec{"model.norm.weight", []int{H}, 1, 0.1}, spec{"lm_head.weight", []int{V, H}, 0, 2.5 / math.Sqrt(float64(H))})
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
	kv := ""
	for i, k := range p.KVHeads {
		if i > 0 {
			kv += ",\n    "
		}
		kv += fmt.Sprint(k)
	}
	return []byte(fmt.Sprintf(`{
  "architectures": [
    "DeciLMForCausalLM"
  ],
  "model_type": "deci",
  "hidden_size": %d,
  "intermediate_size": %d,
  "num_hidden_layers": %d,
  "num_attention_heads": %d,
  "num_key_value_heads_per_layer": [
    %s
  ],
  "vocab_size": %d,
  "rms_norm_eps": %s,
  "rope_theta": 10000.0,
  "rope_scaling": %s,
  "max_position_embeddings": %d,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "pad_token_id": null,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "hidden_act": "silu",
  "attention_bias": false,
  "initializer_range": 0.02,
  "pretraining_tp": 1,
  "use_cache": true,
  "transformers_version": "4.35.2"
}
`, p.Hidden, p.Intermediate, p.Layers, p.Heads, kv, p.Vocab, formatEps(p.NormEps), p.RopeScalingJSON, p.MaxPositions))
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
