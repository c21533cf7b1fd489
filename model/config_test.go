package model

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/decilm/decilm/synth"
)

func TestConfigVariants(t *testing.T) {
	base := `"hidden_size":64,"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10`
	cases := []struct {
		name string
		json string
		kv   []int
		arch string
	}{
		{"multi-head (no kv field)", `{` + base + `}`, []int{4, 4}, "llama"},
		{"llama GQA", `{` + base + `,"num_key_value_heads":2,"model_type":"llama"}`, []int{2, 2}, "llama"},
		{"deci per layer", `{` + base + `,"num_key_value_heads_per_layer":[4,1]}`, []int{4, 1}, "deci"},
		{"both: per-layer wins", `{` + base + `,"model_type":"llama","num_key_value_heads":4,"num_key_value_heads_per_layer":[2,1]}`, []int{2, 1}, "llama"},
		{"integral floats", `{"hidden_size":64.0,"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10}`, []int{4, 4}, "llama"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig("config.json", []byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.KVHeads(), c.kv) || cfg.Arch != c.arch {
				t.Fatalf("kv %v arch %s, want %v %s", cfg.KVHeads(), cfg.Arch, c.kv, c.arch)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	base := `"hidden_size":64,"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10`
	cases := []struct{ json, want string }{
		{`[]`, "not a JSON object"},
		{`{` + base + `,"attention_bias":true}`, `"attention_bias": true is not supported`},
		{`{` + base + `,"hidden_act":"gelu"}`, `"hidden_act": "gelu" is not supported`},
		{`{` + base + `,"model_type":"mistral"}`, `model_type "mistral"`},
		{`{"hidden_size":"64","intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10}`, `"hidden_size": want an integer, got a string`},
		{`{"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10}`, `"hidden_size" is missing`},
		{`{` + base + `,"num_key_value_heads_per_layer":[4]}`, "has 1 entries for 2 layers"},
		{`{` + base + `,"num_key_value_heads_per_layer":[3,4]}`, "layer 0 has 3 key/value heads"},
		{`{` + base + `,"num_key_value_heads_per_layer":"4"}`, "want a list of integers"},
		{`{` + base + `,"rope_scaling":{"type":"yarn","factor":2}}`, `type "yarn" is not supported`},
		{`{` + base + `,"rope_scaling":{"type":"linear"}}`, "factor must be a number"},
		{`{` + base + `,"rope_scaling":{"type":"linear","factor":0.5}}`, "at least 1"},
		{`{` + base + `,"rms_norm_eps":"x"}`, `"rms_norm_eps": want a number`},
		{`{` + base + `,"tie_word_embeddings":1}`, "want true or false"},
		{`{` + base + `,"head_dim":32}`, "head_dim 32"},
		{`{"hidden_size":65,"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10}`, "not a multiple"},
		{`{` + base + `,"eos_token_id":"x"}`, "want an integer or a list"},
	}
	for _, c := range cases {
		_, err := ParseConfig("config.json", []byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config.json") {
			t.Errorf("%s: error %v, want one naming config.json and containing %q", c.json, err, c.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"hidden_size":64,"intermediate_size":100,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":10,"num_key_value_heads_per_layer":[4,1]}`))
	f.Add([]byte(`{"rope_scaling":{"type":"dynamic","factor":2.0},"eos_token_id":[1,2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		c.Params()
		c.KVBytesPerToken(2)
	})
}

// TestPresetConfigs checks the synth package's decilm-6b and decilm-7b configs (the real
// models' shapes) against the figures of shared/design.md; TestRealConfigs reads the real
// config.json files under the oracle tag.
func TestPresetConfigs(t *testing.T) {
	c6, err := ParseConfig("6b", synth.Presets["decilm-6b"].ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	if c6.Params() != 5717102592 || c6.KVBytesPerToken(2) != 25600 || c6.RopeTheta != 10000 ||
		c6.RopeScaling.Type != "dynamic" || c6.RopeScaling.Factor != 2 || c6.ContextLength() != 8192 {
		t.Errorf("DeciLM-6B config: %+v (params %d, kv bytes %d)", c6, c6.Params(), c6.KVBytesPerToken(2))
	}
	// base = 10000 * ((2*6000/4096) - 1) ^ (128/126), Hugging Face's dynamic NTK formula.
	want := 10000 * math.Pow(2*6000.0/4096-1, 128.0/126)
	if c6.RopeBase(4096) != 10000 || math.Abs(c6.RopeBase(6000)-want) > 1e-9*want {
		t.Errorf("RopeBase(4096) = %g, RopeBase(6000) = %g; want 10000, %g", c6.RopeBase(4096), c6.RopeBase(6000), want)
	}
	c7, err := ParseConfig("7b", synth.Presets["decilm-7b"].ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	if c7.Params() != 7043551232 || c7.KVBytesPerToken(2) != 34304 {
		t.Errorf("DeciLM-7B: params %d, kv bytes %d", c7.Params(), c7.KVBytesPerToken(2))
	}
}
