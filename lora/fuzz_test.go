package lora_test

import (
	"bytes"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
)

func tinyConfig(f *testing.F) *model.Config {
	c, err := model.ParseConfig("tiny", synth.Presets["tiny"].ConfigJSON())
	if err != nil {
		f.Fatal(err)
	}
	return c
}

// FuzzParseConfig: any adapter_config.json gives a config or an error, never a panic,
// and a config's pattern lookups work on any module name.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"r": 8, "lora_alpha": 16, "target_modules": ["q_proj", "v_proj"]}`,
		`{"r": 4, "target_modules": ".*\\.(q|v)_proj", "use_rslora": true, "rank_pattern": {"layers.1.self_attn.q_proj": 2}, "alpha_pattern": {"q_proj": 3}}`,
		`{"r": 4, "target_modules": "all-linear", "use_dora": true}`,
		`{"r": 1e9, "target_modules": []}`,
		`{"r": 4, "target_modules": "(", "rank_pattern": {"(": 1}}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := lora.ParseConfig("adapter_config.json", data)
		if err != nil {
			return
		}
		for _, m := range []string{"model.layers.1.self_attn.q_proj", "", "q_proj"} {
			c.Targets(m)
			if r, _ := c.RankAlpha(m); r <= 0 {
				t.Fatalf("rank %d for %q", r, m)
			}
			c.Scale(m)
		}
	})
}

// FuzzParseGGUF: any bytes give a GGUF adapter or an error, and building one for the tiny
// model gives an adapter or an error, never a panic.
func FuzzParseGGUF(f *testing.F) {
	cfg := tinyConfig(f)
	kv := []gguf.KV{{Key: "general.architecture", Value: "deci"}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: float32(4)}}
	for _, ts := range [][]*tensor.Tensor{
		{f32("blk.0.attn_q.weight.lora_a", []int{2, 128}, make([]float32, 256)), f32("blk.0.attn_q.weight.lora_b", []int{128, 2}, make([]float32, 256))},
		{f32("blk.3.attn_k.weight.lora_a", []int{1, 128}, make([]float32, 128)), f32("blk.3.attn_k.weight.lora_b", []int{16, 1}, make([]float32, 16))},
		{f32("blk.0.attn_q.weight.lora_a", []int{2, 4}, make([]float32, 8))},
	} {
		var buf bytes.Buffer
		if err := gguf.Write(&buf, kv, ts); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := lora.ParseGGUF("fuzz.gguf", data)
		if err != nil {
			return
		}
		a.Build(cfg, "fuzz", 1)
	})
}

// FuzzParsePEFT: a PEFT adapter from any config and safetensors bytes, built for the tiny
// model, gives an adapter or an error, never a panic.
func FuzzParsePEFT(f *testing.F) {
	cfg := tinyConfig(f)
	var buf bytes.Buffer
	ts := []*tensor.Tensor{f32("base_model.model.model.layers.3.self_attn.k_proj.lora_A.weight", []int{1, 128}, make([]float32, 128)),
		f32("base_model.model.model.layers.3.self_attn.k_proj.lora_B.weight", []int{16, 1}, make([]float32, 16))}
	if err := safetensorsWrite(&buf, ts); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"r": 1, "lora_alpha": 2, "target_modules": ["k_proj"]}`), buf.Bytes())
	f.Add([]byte(`{"r": 2, "lora_alpha": 2, "target_modules": ["k_proj"]}`), buf.Bytes())
	f.Fuzz(func(t *testing.T, config, weights []byte) {
		a, err := lora.ParsePEFT("fuzz", config, weights)
		if err != nil {
			return
		}
		a.Build(cfg, "fuzz", 1)
	})
}
