package model_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// tinyGGUF writes a one-layer Llama GGUF (hidden 32, 2 heads, FFN 64, vocabulary 16) with
// F16 weights and an untied output.weight, whose ggml type id it then sets to outType
// (keeping F16's 2 bytes a value); it returns the file's path.
func tinyGGUF(t *testing.T, outType gguf.GGMLType) string {
	t.Helper()
	const h, ff, vocab = 32, 64, 16
	kv := []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "llama.embedding_length", Value: uint32(h)},
		{Key: "llama.feed_forward_length", Value: uint32(ff)},
		{Key: "llama.block_count", Value: uint32(1)},
		{Key: "llama.attention.head_count", Value: uint32(2)},
		{Key: "llama.context_length", Value: uint32(64)},
	}
	mk := func(name string, dt tensor.DType, shape ...int) *tensor.Tensor {
		x := &tensor.Tensor{Name: name, DType: dt, Shape: shape}
		n := x.Elements() * 2
		if dt == tensor.F32 {
			n *= 2
		}
		x.Data = make([]byte, n)
		return x
	}
	ts := []*tensor.Tensor{
		mk("token_embd.weight", tensor.F16, vocab, h),
		mk("output_norm.weight", tensor.F32, h),
		mk("output.weight", tensor.F16, vocab, h),
		mk("blk.0.attn_norm.weight", tensor.F32, h),
		mk("blk.0.ffn_norm.weight", tensor.F32, h),
		mk("blk.0.attn_q.weight", tensor.F16, h, h),
		mk("blk.0.attn_k.weight", tensor.F16, h, h),
		mk("blk.0.attn_v.weight", tensor.F16, h, h),
		mk("blk.0.attn_output.weight", tensor.F16, h, h),
		mk("blk.0.ffn_gate.weight", tensor.F16, ff, h),
		mk("blk.0.ffn_up.weight", tensor.F16, ff, h),
		mk("blk.0.ffn_down.weight", tensor.F16, h, ff),
	}
	var buf bytes.Buffer
	if err := gguf.Write(&buf, kv, ts); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	// The tensor info: name, n_dims (2), dims as uint64 (innermost first), type.
	name := []byte("output.weight")
	i := bytes.Index(b, append(binary.LittleEndian.AppendUint64(nil, uint64(len(name))), name...))
	if i < 0 {
		t.Fatal("output.weight's tensor info not found")
	}
	at := i + 8 + len(name) + 4 + 2*8
	if got := binary.LittleEndian.Uint32(b[at:]); got != uint32(gguf.GGMLF16) {
		t.Fatalf("type field holds %d, want F16", got)
	}
	binary.LittleEndian.PutUint32(b[at:], uint32(outType))
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGGUFUnreadableType: a file with a tensor of a ggml type decilm cannot read is
// refused at load with the type, its count and a tensor of it, never loaded with the
// tensor left out (an untied output.weight used to be replaced by the token embedding,
// silently, and decilm info reported tied embeddings).
func TestGGUFUnreadableType(t *testing.T) {
	m, err := model.Load(tinyGGUF(t, gguf.GGMLF16), model.Options{})
	if err != nil {
		t.Fatalf("the F16 file: %v", err)
	}
	if m.Config.TieEmbeddings {
		t.Error("the F16 file's output.weight is not tied to the embedding")
	}
	m.Close()

	path := tinyGGUF(t, 25) // I16: the same size, a type decilm has no use for
	m, err = model.Load(path, model.Options{})
	if err == nil {
		m.Close()
		t.Fatalf("a file with an I16 output.weight loaded (tied embeddings: %v)", m.Config.TieEmbeddings)
	}
	for _, want := range []string{path, "1 of 12 tensors", "I16 (ggml type 25): 1 tensor", `"output.weight"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "missing") {
		t.Errorf("error %q blames a missing tensor", err)
	}
}
