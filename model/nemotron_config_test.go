package model_test

import (
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// nasConfig is a small Nemotron-NAS config.json whose block_configs is blocks.
func nasConfig(layers, blocks string, extra string) string {
	return `{"model_type":"nemotron-nas","hidden_size":64,"num_hidden_layers":` + layers +
		`,"num_attention_heads":4,"vocab_size":10,"intermediate_size":null,"num_key_value_heads":null` + extra +
		`,"block_configs":[` + blocks + `]}`
}

const (
	grouped = `{"attention":{"n_heads_in_group":2,"no_op":false,"replace_with_linear":false},"ffn":{"ffn_mult":1.5,"no_op":false,"replace_with_linear":false}}`
	skipped = `{"attention":{"n_heads_in_group":null,"no_op":true,"replace_with_linear":false},"ffn":{"ffn_mult":null,"no_op":true,"replace_with_linear":false}}`
)

func TestNemotronConfig(t *testing.T) {
	linear := `{"attention":{"n_heads_in_group":null,"replace_with_linear":true},"ffn":{"intermediate_size":100,"replace_with_linear":false}}`
	c, err := model.ParseConfig("config.json", []byte(nasConfig("3", grouped+","+skipped+","+linear, "")))
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Block{
		{Attn: model.AttnGrouped, KVHeads: 2, FFN: model.FFNGated, FFNWidth: 256}, // find_multiple(int(2·1.5·64/3), 256)
		{Attn: model.AttnNone, FFN: model.FFNNone},
		{Attn: model.AttnLinear, FFN: model.FFNGated, FFNWidth: 100},
	}
	for l := range want {
		if c.Blocks[l] != want[l] {
			t.Errorf("layer %d: %+v, want %+v", l, c.Blocks[l], want[l])
		}
	}
	if c.Arch != "deci" || c.KVBytesPerToken(2) != 2*2*16*2 {
		t.Errorf("arch %s, KV bytes %d", c.Arch, c.KVBytesPerToken(2))
	}
	// MarshalHF writes block_configs that parse back to the same blocks.
	b, err := c.MarshalHF()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := model.ParseConfig("marshalled", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for l := range want {
		if c2.Blocks[l] != want[l] {
			t.Errorf("marshalled layer %d: %+v, want %+v", l, c2.Blocks[l], want[l])
		}
	}
}

// TestNemotronConfigErrors: block_configs that decilm cannot run are errors naming the
// layer and the field.
func TestNemotronConfigErrors(t *testing.T) {
	attn := func(fields string) string {
		return `{"attention":{` + fields + `},"ffn":{"ffn_mult":1.0}}`
	}
	ffn := func(fields string) string {
		return `{"attention":{"n_heads_in_group":1},"ffn":{` + fields + `}}`
	}
	cases := []struct{ json, want string }{
		{nasConfig("2", grouped, ""), "block_configs has 1 entries for 2 layers"},
		{nasConfig("1", attn(`"n_heads_in_group":3`), ""), "block_configs[0] (layer 0) attention: n_heads_in_group 3 does not divide the 4 attention heads"},
		{nasConfig("1", attn(`"n_heads_in_group":null`), ""), "layer 0) attention: n_heads_in_group must be a positive integer"},
		{nasConfig("2", grouped+","+attn(`"n_heads_in_group":1,"window_length":4096`), ""), `layer 1) attention: field "window_length": 4096: sliding-window attention is not supported`},
		{nasConfig("1", attn(`"n_heads_in_group":1,"num_sink_tokens":4`), ""), `field "num_sink_tokens"`},
		{nasConfig("1", attn(`"n_heads_in_group":1,"sparsify":["x"]`), ""), `field "sparsify"`},
		{nasConfig("1", attn(`"n_heads_in_group":1,"unshifted_sink":true`), ""), `field "unshifted_sink": true is not supported`},
		{nasConfig("1", attn(`"n_heads_in_group":1,"llama4":{"attention_chunk_size":8192}`), ""), `layer 0) attention: field "llama4" = {"attention_chunk_size":8192} is not supported`},
		{nasConfig("1", attn(`"no_op":true,"replace_with_linear":true`), ""), "no_op and replace_with_linear are both true"},
		{nasConfig("1", ffn(`"ffn_mult":null`), ""), "layer 0) ffn: a gated FFN needs a positive ffn_mult or intermediate_size"},
		{nasConfig("1", ffn(`"ffn_mult":1.0,"hidden_act":"relu"`), ""), `layer 0) ffn: field "hidden_act": "relu" is not supported`},
		{nasConfig("1", ffn(`"ffn_mult":1e300`), ""), "out of range"},
		{nasConfig("1", grouped, `,"rope_scaling":{"rope_type":"yarn","factor":4}`), `type "yarn" is not supported (want linear, dynamic or llama3)`},
		{nasConfig("1", grouped, `,"rope_scaling":{"rope_type":"llama3","factor":8}`), "low_freq_factor must be a number"},
		{nasConfig("1", grouped, `,"rope_scaling":{"rope_type":"longrope","factor":8}`), `"longrope" is not supported`},
		{`{"model_type":"nemotron-nas","hidden_size":64,"num_hidden_layers":1,"num_attention_heads":4,"vocab_size":10,"block_configs":{"a":1}}`, "want a list of objects"},
	}
	for _, c := range cases {
		_, err := model.ParseConfig("config.json", []byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "config.json") {
			t.Errorf("%s:\nerror %v\nwant one naming config.json and containing %q", c.json, err, c.want)
		}
	}
}

// TestConfigBounds: counts and sizes a file declares are bounded before anything is
// allocated from them (issue 19).
func TestConfigBounds(t *testing.T) {
	base := `"hidden_size":64,"intermediate_size":100,"num_attention_heads":4,"vocab_size":10`
	cases := []struct{ json, want string }{
		{`{` + base + `,"num_hidden_layers":2147483647}`, `"num_hidden_layers" is 2147483647, more than decilm allows`},
		{`{` + base + `,"num_hidden_layers":2,"rope_scaling":{"type":"linear","factor":1e308}}`, "rope_scaling factor must be at least 1 (and at most 1024), is 1e+308"},
		{`{` + base + `,"num_hidden_layers":2,"rope_scaling":{"type":"dynamic","factor":1000},"max_position_embeddings":1073741824}`, "exceeds"},
		{`{` + base + `,"num_hidden_layers":2,"bos_token_id":10}`, "bos_token_id 10 is outside the vocabulary of 10 tokens"},
		{`{` + base + `,"num_hidden_layers":2,"eos_token_id":[2,99]}`, "eos_token_id 99 is outside the vocabulary"},
		{`{"hidden_size":64,"intermediate_size":100,"num_attention_heads":4,"vocab_size":100000000,"num_hidden_layers":2}`, `"vocab_size" is 100000000, more than decilm allows`},
	}
	for _, c := range cases {
		_, err := model.ParseConfig("config.json", []byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\nerror %v\nwant one containing %q", c.json, err, c.want)
		}
	}
}

// TestLinearBlockTensors: a linear block's missing matrix, and an lm_head beside tied
// embeddings, are errors naming the layer or the tensor.
func TestLinearBlockTensors(t *testing.T) {
	dir := smallNemotron(t)
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg, err := model.ConfigOf(ck)
	if err != nil {
		t.Fatal(err)
	}
	drop := func(name string) map[string]*tensor.Tensor {
		m := map[string]*tensor.Tensor{}
		for k, v := range ck.Tensors {
			if k != name {
				m[k] = v
			}
		}
		return m
	}
	_, err = model.New(cfg, drop("model.layers.2.self_attn.linear_attn.weight"), model.Options{})
	if err == nil || !strings.Contains(err.Error(), `layer 2 (linear attention, FFN width 256): tensor "model.layers.2.self_attn.linear_attn.weight" is missing`) {
		t.Errorf("missing linear attention: %v", err)
	}
	_, err = model.New(cfg, drop("model.layers.4.mlp.linear_mlp.weight"), model.Options{})
	if err == nil || !strings.Contains(err.Error(), `layer 4 (4 KV heads, linear FFN): tensor "model.layers.4.mlp.linear_mlp.weight" is missing`) {
		t.Errorf("missing linear FFN: %v", err)
	}
	// A skipped attention must not come with attention weights.
	extra := drop("")
	extra["model.layers.1.self_attn.q_proj.weight"] = ck.Tensors["model.layers.0.self_attn.q_proj.weight"]
	if _, err = model.New(cfg, extra, model.Options{}); err == nil || !strings.Contains(err.Error(), "unexpected tensors for a 7-layer deci model: model.layers.1.self_attn.q_proj.weight") {
		t.Errorf("weights of a skipped attention: %v", err)
	}
	tied := *cfg
	tied.TieEmbeddings = true
	if _, err = model.New(&tied, drop(""), model.Options{}); err == nil || !strings.Contains(err.Error(), `tensor "lm_head.weight" is present but the config ties`) {
		t.Errorf("lm_head beside tied embeddings: %v", err)
	}
}

// FuzzParseNemotronConfig fuzzes the config reader from Nemotron-NAS seeds (block_configs,
// llama3 rope scaling); FuzzParseConfig covers DeciLM and Llama configs.
func FuzzParseNemotronConfig(f *testing.F) {
	f.Add([]byte(nasConfig("2", grouped+","+skipped, `,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8192}`)))
	f.Add([]byte(nasConfig("1", `{"attention":{"replace_with_linear":true},"ffn":{"replace_with_linear":true}}`, "")))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := model.ParseConfig("fuzz", data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		c.Params()
		c.KVBytesPerToken(2)
		c.WeightShapes()
		if _, err := c.MarshalHF(); err != nil {
			t.Fatalf("MarshalHF: %v", err)
		}
	})
}
