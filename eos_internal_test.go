package decilm

import (
	"slices"
	"testing"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tokenizer"
)

// TestEOSIDsLlama3: every eos_token_id of a Llama-3 config.json (a list), the tokenizer's EOS
// and its <|eot_id|> and <|eom_id|> end generation, each once.
func TestEOSIDsLlama3(t *testing.T) {
	// A byte-level vocabulary: GPT-2's byte map, one merge, Llama-3's control tokens.
	var v tokenizer.Vocab
	v.Model, v.BOS, v.UNK, v.PAD = "gpt2", -1, -1, -1
	next := rune(256)
	for b := range 256 {
		r := rune(b)
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r, next = next, next+1
		}
		v.Tokens = append(v.Tokens, string(r))
	}
	v.Merges = []string{"a b"}
	v.Tokens = append(v.Tokens, "ab", "<|begin_of_text|>", "<|end_of_text|>", "<|eom_id|>", "<|eot_id|>") // 256..260
	for i := range v.Tokens {
		typ := tokenizer.Normal
		if i > 256 {
			typ = tokenizer.Control
		}
		v.Types = append(v.Types, int32(typ))
	}
	v.EOS = 260
	tok, err := tokenizer.FromVocab(v)
	if err != nil {
		t.Fatal(err)
	}
	got := eosIDs(&model.Config{EOS: []int{258, 259, 260}}, tok)
	if !slices.Equal(got, []int{258, 259, 260}) {
		t.Errorf("eosIDs = %v, want [258 259 260]", got)
	}
	got = eosIDs(&model.Config{EOS: []int{258}}, tok)
	if !slices.Equal(got, []int{258, 260, 259}) {
		t.Errorf("eosIDs = %v, want [258 260 259]", got)
	}
}
