package model_test

import (
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// TestNewErrors: a checkpoint whose tensors do not fit its config is refused, naming the
// tensor.
func TestNewErrors(t *testing.T) {
	ck, err := checkpoint.Open(testmodel.Synth(t, "tiny", 1234))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	cfg, err := model.ConfigOf(ck)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() map[string]*tensor.Tensor {
		m := map[string]*tensor.Tensor{}
		for k, v := range ck.Tensors {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		mutate func(map[string]*tensor.Tensor)
		want   string
	}{
		{"missing", func(m map[string]*tensor.Tensor) { delete(m, "model.layers.2.self_attn.k_proj.weight") },
			`layer 2 (2 KV heads): tensor "model.layers.2.self_attn.k_proj.weight" is missing`},
		{"kv heads of another layer", func(m map[string]*tensor.Tensor) {
			m["model.layers.3.self_attn.v_proj.weight"] = m["model.layers.2.self_attn.v_proj.weight"]
		}, `"model.layers.3.self_attn.v_proj.weight" has shape [32 128], the config implies [16 128]`},
		{"bytes do not match shape", func(m map[string]*tensor.Tensor) {
			x := *m["model.norm.weight"]
			x.Data = x.Data[:10]
			m["model.norm.weight"] = &x
		}, `tensor "model.norm.weight": bf16 shape [128] needs 256 bytes, have 10`},
		{"unexpected", func(m map[string]*tensor.Tensor) {
			m["model.layers.4.mlp.up_proj.weight"] = m["model.layers.3.mlp.up_proj.weight"]
		}, "unexpected tensors for a 4-layer deci model: model.layers.4.mlp.up_proj.weight"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := clone()
			c.mutate(ts)
			_, err := model.New(cfg, ts, model.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// TestForwardErrors: batches that break the cache's rules are refused.
func TestForwardErrors(t *testing.T) {
	m, err := model.Load(testmodel.Stories(t), model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := model.NewCache(m.Config, 8)
	cases := []struct {
		name string
		b    model.Batch
		want string
	}{
		{"gap", model.Batch{Tokens: []int{1}, Pos: []int{3}, Seq: []int{0}}, "starts at position 3 but holds 0"},
		{"not consecutive", model.Batch{Tokens: []int{1, 2}, Pos: []int{0, 2}, Seq: []int{0, 0}}, "expected 1"},
		{"token out of range", model.Batch{Tokens: []int{512}, Pos: []int{0}, Seq: []int{0}}, "outside the vocabulary"},
		{"past the cache", model.Batch{Tokens: make([]int, 9), Pos: []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, Seq: make([]int, 9)}, "context length exceeded"},
		{"lengths", model.Batch{Tokens: []int{1, 2}, Pos: []int{0}, Seq: []int{0, 0}}, "different lengths"},
	}
	for _, tc := range cases {
		if _, err := m.Forward(&tc.b, c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}
