//go:build oracle

package tokenizer

import (
	"encoding/json"
	"slices"
	"sync"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

var (
	llama3Once sync.Once
	llama3Tok  *Tokenizer
	llama3Err  error
)

// llama3 loads the Llama-3.1 tokenizer of the fixtures (tokenizer.json and its
// tokenizer_config.json) once per test binary.
func llama3(t testing.TB) *Tokenizer {
	t.Helper()
	dir := testutil.Fixture(t, "llama3-tokenizer")
	llama3Once.Do(func() { llama3Tok, llama3Err = Load(dir) })
	if llama3Err != nil {
		t.Fatal(llama3Err)
	}
	return llama3Tok
}

// TestLlama3FixtureCases: the ids of cases.json, computed by @huggingface/tokenizers and
// tiktoken, with and without <|begin_of_text|>; special tokens in the text are parsed, as
// Hugging Face does by default. Decoding gives the text back.
func TestLlama3FixtureCases(t *testing.T) {
	tok := llama3(t)
	var cases []struct {
		Text     string `json:"text"`
		IDs      []int  `json:"ids"`
		IDsNoBOS []int  `json:"ids_no_bos"`
	}
	if err := json.Unmarshal(readFile(t, "llama3-tokenizer", "cases.json"), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("cases.json has no cases")
	}
	if !tok.ByteLevel() || tok.VocabSize() != 128256 || tok.BOS() != 128000 || !tok.AddBOS() {
		t.Fatalf("byte level %v, %d tokens, BOS %d (add %v); want true, 128256, 128000, true", tok.ByteLevel(), tok.VocabSize(), tok.BOS(), tok.AddBOS())
	}
	for _, c := range cases {
		if got := tok.Encode(c.Text, EncodeOptions{AddBOS: true, ParseSpecial: true}); !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
		}
		if got := tok.Encode(c.Text, EncodeOptions{ParseSpecial: true}); !slices.Equal(got, c.IDsNoBOS) {
			t.Errorf("Encode(%q) without BOS = %v, want %v", c.Text, got, c.IDsNoBOS)
		}
	}
}
