package model_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// ggufFile returns a GGUF file with the given metadata (after general.architecture deci)
// and small F32 tensors of the given names and shapes.
func ggufFile(t testing.TB, kv []gguf.KV, tensors map[string][]int) []byte {
	t.Helper()
	var ts []*tensor.Tensor
	for name, shape := range tensors {
		n := 1
		for _, d := range shape {
			n *= d
		}
		ts = append(ts, &tensor.Tensor{Name: name, DType: tensor.F32, Shape: shape, Data: make([]byte, 4*n)})
	}
	var b bytes.Buffer
	if err := gguf.Write(&b, append([]gguf.KV{{Key: "general.architecture", Value: "deci"}}, kv...), ts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ggufConfig parses data as a GGUF checkpoint and returns its model configuration.
func ggufConfig(data []byte) (*model.Config, error) {
	f, err := gguf.Parse("test.gguf", data)
	if err != nil {
		return nil, err
	}
	ck := &checkpoint.Checkpoint{Path: "test.gguf", Format: checkpoint.GGUF, GGUF: f, Tensors: map[string]*tensor.Tensor{}}
	for _, t := range f.Tensors {
		ck.Tensors[t.Name] = t
	}
	return model.ConfigOf(ck)
}

// nasKV is the metadata of a 4-layer deci file: grouped, skipped attention, linear
// attention, grouped with a linear FFN.
func nasKV() []gguf.KV {
	return []gguf.KV{
		{Key: "deci.embedding_length", Value: uint32(16)},
		{Key: "deci.block_count", Value: uint32(4)},
		{Key: "deci.attention.head_count", Value: []int32{4, 0, 4, 4}},
		{Key: "deci.attention.head_count_kv", Value: []int32{2, 0, 0, 1}},
		{Key: "deci.feed_forward_length", Value: []int32{32, 64, 0, 0}},
		{Key: "deci.rope.dimension_count", Value: uint32(4)},
	}
}

func TestGGUFBlocks(t *testing.T) {
	data := ggufFile(t, nasKV(), map[string][]int{"token_embd.weight": {10, 16}, "blk.3.ffn_linear.weight": {16, 16}})
	c, err := ggufConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	want := []model.Block{
		{Attn: model.AttnGrouped, KVHeads: 2, FFN: model.FFNGated, FFNWidth: 32},
		{Attn: model.AttnNone, FFN: model.FFNGated, FFNWidth: 64},
		{Attn: model.AttnLinear, FFN: model.FFNNone},
		{Attn: model.AttnGrouped, KVHeads: 1, FFN: model.FFNLinear},
	}
	for l := range want {
		if c.Blocks[l] != want[l] {
			t.Errorf("layer %d: %+v, want %+v", l, c.Blocks[l], want[l])
		}
	}
	// A zero rope_freqs tensor is refused.
	bad := ggufFile(t, nasKV(), map[string][]int{"token_embd.weight": {10, 16}, "rope_freqs.weight": {2}})
	if _, err := ggufConfig(bad); err == nil || !strings.Contains(err.Error(), "rope_freqs.weight: factor 0 is 0") {
		t.Errorf("zero rope_freqs: %v", err)
	}
}

func TestGGUFConfigErrors(t *testing.T) {
	emb := map[string][]int{"token_embd.weight": {10, 16}}
	with := func(key string, v any) []gguf.KV {
		kv := nasKV()
		for i := range kv {
			if kv[i].Key == key {
				kv[i].Value = v
				return kv
			}
		}
		return append(kv, gguf.KV{Key: key, Value: v})
	}
	cases := []struct {
		name string
		kv   []gguf.KV
		want string
	}{
		{"huge block_count", with("deci.block_count", uint32(2147483647)), "metadata deci.block_count is 2.147483647e+09, want an integer in 1..16384"},
		{"array of the wrong length", with("deci.attention.head_count_kv", []int32{2, 0, 0}), "metadata deci.attention.head_count_kv has 3 entries for 4 blocks"},
		{"query heads differ", with("deci.attention.head_count", []int32{4, 0, 2, 4}), "head_count differs between layers"},
		{"rope dimension", with("deci.rope.dimension_count", uint32(2)), "rope.dimension_count is 2 but the heads are 4 wide"},
		{"kv heads not dividing", with("deci.attention.head_count_kv", []int32{3, 0, 0, 1}), "layer 0 has 3 key/value heads"},
		{"negative ffn", with("deci.feed_forward_length", []int32{32, -1, 0, 0}), "layer 1 has -1"},
		{"context", with("deci.context_length", uint64(1)<<40), "context_length is 1.099511627776e+12"},
	}
	for _, c := range cases {
		_, err := ggufConfig(ggufFile(t, c.kv, emb))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// Scalar head counts: block_count is bounded by the tensors the file holds.
	kv := []gguf.KV{
		{Key: "deci.embedding_length", Value: uint32(16)},
		{Key: "deci.block_count", Value: uint32(10000)},
		{Key: "deci.attention.head_count", Value: uint32(4)},
		{Key: "deci.feed_forward_length", Value: uint32(32)},
	}
	if _, err := ggufConfig(ggufFile(t, kv, emb)); err == nil || !strings.Contains(err.Error(), "block_count is 10000 but the file holds 1 tensors") {
		t.Errorf("block_count beyond the tensors: %v", err)
	}
}

// FuzzGGUFConfig: the model settings read from any GGUF metadata are valid or an error.
func FuzzGGUFConfig(f *testing.F) {
	f.Add(ggufFile(f, nasKV(), map[string][]int{"token_embd.weight": {10, 16}, "rope_freqs.weight": {2}}))
	f.Add(ggufFile(f, []gguf.KV{{Key: "deci.embedding_length", Value: uint32(8)}, {Key: "deci.block_count", Value: uint32(1)},
		{Key: "deci.attention.head_count", Value: uint32(2)}, {Key: "deci.feed_forward_length", Value: uint32(4)}}, map[string][]int{"token_embd.weight": {4, 8}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ggufConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		c.Params()
		c.KVBytesPerToken(2)
		c.WeightShapes()
	})
}
