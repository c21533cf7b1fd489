package decilm

import (
	"bytes"
	"slices"
	"testing"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/checkpoint/gguf"
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

// TestGGUFChatTemplate: a GGUF file's tokenizer.chat_template becomes the model's template,
// with the vocabulary's BOS and EOS; without one, nothing.
func TestGGUFChatTemplate(t *testing.T) {
	tok, err := tokenizer.FromVocab(tokenizer.Vocab{Tokens: []string{"<unk>", "<s>", "</s>", "▁a"}, UNK: 0, BOS: 1, EOS: 2, PAD: -1})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(kv []gguf.KV) *gguf.File {
		var buf bytes.Buffer
		if err := gguf.Write(&buf, kv, nil); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse("t.gguf", buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	f := parse([]gguf.KV{{Key: "tokenizer.chat_template", Value: "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}"}})
	tpl, err := selectTemplate("", ggufChatConfig(f, tok), "model.gguf")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tpl.Render([]chat.Message{{Role: chat.RoleUser, Content: "hi"}}, true)
	if err != nil || got != "<s>[hi]</s>" {
		t.Errorf("Render = %q, %v; want \"<s>[hi]</s>\"", got, err)
	}
	if cfg := ggufChatConfig(parse([]gguf.KV{{Key: "general.name", Value: "x"}}), tok); cfg != nil {
		t.Errorf("no template gave %s", cfg)
	}
}
