package tokenizer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// parseGGUF writes kv as a GGUF file without tensors and parses it back.
func parseGGUF(t *testing.T, kv []gguf.KV) *gguf.File {
	t.Helper()
	var buf bytes.Buffer
	if err := gguf.Write(&buf, kv, nil); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("test.gguf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestGGUFWithoutUnknownID: llama.cpp's converter writes no tokenizer.ggml.unknown_token_id
// for a model directory with tokenizer.model but no tokenizer.json, and llama.cpp then takes
// id 0 as the unknown token of a SentencePiece vocabulary. Such a file used to be rejected
// ("vocabulary has no unknown piece").
func TestGGUFWithoutUnknownID(t *testing.T) {
	for _, withTypes := range []bool{false, true} {
		kv := []gguf.KV{
			{Key: "tokenizer.ggml.model", Value: "llama"},
			// No piece is named <unk> and none has type Unknown.
			{Key: "tokenizer.ggml.tokens", Value: []string{"<pad>", "<s>", "</s>", "▁", "a", "▁a"}},
			{Key: "tokenizer.ggml.scores", Value: []float32{0, 0, 0, -1, -2, -0.5}},
			{Key: "tokenizer.ggml.bos_token_id", Value: uint32(1)},
			{Key: "tokenizer.ggml.eos_token_id", Value: uint32(2)},
		}
		if withTypes {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml.token_type", Value: []int32{3, 3, 3, 1, 1, 1}})
		}
		tok, err := FromGGUF(parseGGUF(t, kv))
		if err != nil {
			t.Fatalf("types %v: %v", withTypes, err)
		}
		if tok.UNK() != 0 {
			t.Errorf("types %v: UNK() = %d, want 0", withTypes, tok.UNK())
		}
		if got := tok.Encode("a a", EncodeOptions{AddBOS: true}); !equalInts(got, []int{1, 5, 5}) {
			t.Errorf("types %v: Encode(\"a a\") = %v, want [1 5 5]", withTypes, got)
		}
	}
}

// TestGGUFErrorPrefix: an error from a GGUF vocabulary says "tokenizer:" once.
func TestGGUFErrorPrefix(t *testing.T) {
	f := parseGGUF(t, []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "llama"},
		{Key: "tokenizer.ggml.tokens", Value: []string{"a", "b"}},
		{Key: "tokenizer.ggml.token_type", Value: []int32{1, 9}},
	})
	_, err := FromGGUF(f)
	if err == nil {
		t.Fatal("no error for token type 9")
	}
	if n := strings.Count(err.Error(), "tokenizer"); n != 1 {
		t.Errorf("error %q says \"tokenizer\" %d times", err, n)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
