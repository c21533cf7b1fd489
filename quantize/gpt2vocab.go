package quantize

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// llama3Split is the start of the pre-tokenizer regex of Llama-3's tokenizer.json, which
// llama.cpp knows as the "llama-bpe" pre-tokenizer.
const llama3Split = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}`

// IsLlama3BPE reports whether tokenizerJSON is a byte-level BPE tokenizer.json with
// Llama-3's pre-tokenizer, the vocabulary GPT2Vocab writes.
func IsLlama3BPE(tokenizerJSON []byte) bool {
	var tj struct {
		PreTokenizer json.RawMessage `json:"pre_tokenizer"`
		Model        struct {
			Type string `json:"type"`
		} `json:"model"`
	}
	if json.Unmarshal(tokenizerJSON, &tj) != nil || tj.Model.Type != "BPE" {
		return false
	}
	pre := string(tj.PreTokenizer)
	return strings.Contains(pre, llama3SplitJSON()) && strings.Contains(pre, "ByteLevel")
}

// GPT2Vocab returns the tokenizer.ggml.* metadata of a Llama-3 byte-level BPE vocabulary
// read from its tokenizer.json (and tokenizer_config.json, for the chat template; may be
// nil), as llama.cpp's converter writes it: model "gpt2", pre "llama-bpe", the tokens by
// id with "[PAD<id>]" for ids the file lacks below vocab, token types (3 control for
// special added tokens, 4 user-defined for other added tokens, 1 normal, 5 unused for the
// padding), merges as "a b" strings, and the BOS and EOS ids given. For Options.Vocab.
//
// Only Llama-3's pre-tokenizer is accepted: another would need another tokenizer.ggml.pre.
func GPT2Vocab(tokenizerJSON, tokenizerConfig []byte, vocab, bos, eos int) ([]gguf.KV, error) {
	var tj struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Model         struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(tokenizerJSON, &tj); err != nil {
		return nil, fmt.Errorf("quantize: tokenizer.json: %v", err)
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("quantize: tokenizer.json: model type %q is not BPE", tj.Model.Type)
	}
	if !IsLlama3BPE(tokenizerJSON) {
		return nil, fmt.Errorf("quantize: tokenizer.json: the pre-tokenizer is not Llama-3's byte-level split (only llama-bpe vocabularies can be written)")
	}
	if vocab <= 0 || vocab > 1<<24 {
		return nil, fmt.Errorf("quantize: vocabulary size %d out of range", vocab)
	}
	tokens := make([]string, vocab)
	types := make([]int32, vocab)
	seen := make([]bool, vocab)
	for piece, id := range tj.Model.Vocab {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("quantize: tokenizer.json: token %q has id %d outside the model's %d", piece, id, vocab)
		}
		tokens[id], types[id], seen[id] = piece, 1, true
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID >= vocab {
			return nil, fmt.Errorf("quantize: tokenizer.json: added token %q has id %d outside the model's %d", a.Content, a.ID, vocab)
		}
		tokens[a.ID], seen[a.ID] = a.Content, true
		types[a.ID] = 4
		if a.Special {
			types[a.ID] = 3
		}
	}
	for i := range tokens {
		if !seen[i] {
			tokens[i], types[i] = fmt.Sprintf("[PAD%d]", i), 5
		}
	}
	merges := make([]string, len(tj.Model.Merges))
	for i, m := range tj.Model.Merges {
		var s string
		var pair []string
		switch {
		case json.Unmarshal(m, &s) == nil:
			merges[i] = s
		case json.Unmarshal(m, &pair) == nil && len(pair) == 2:
			merges[i] = pair[0] + " " + pair[1]
		default:
			return nil, fmt.Errorf("quantize: tokenizer.json: merge %d is neither \"a b\" nor [a, b]", i)
		}
	}
	addBOS := strings.Contains(string(tj.PostProcessor), "TemplateProcessing") && bos >= 0 && bos < vocab &&
		strings.Contains(string(tj.PostProcessor), fmt.Sprintf("%q", tokens[bos]))
	kv := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "llama-bpe"},
		{Key: "tokenizer.ggml.tokens", Value: tokens},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.merges", Value: merges},
	}
	if bos >= 0 && bos < vocab {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.bos_token_id", Value: uint32(bos)})
	}
	if eos >= 0 && eos < vocab {
		kv = append(kv, gguf.KV{Key: "tokenizer.ggml.eos_token_id", Value: uint32(eos)})
	}
	kv = append(kv, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: addBOS})
	if tokenizerConfig != nil {
		var tc struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if err := json.Unmarshal(tokenizerConfig, &tc); err != nil {
			return nil, fmt.Errorf("quantize: tokenizer_config.json: %v", err)
		}
		var tmpl string
		if json.Unmarshal(tc.ChatTemplate, &tmpl) == nil && tmpl != "" {
			kv = append(kv, gguf.KV{Key: "tokenizer.chat_template", Value: tmpl})
		}
	}
	return kv, nil
}

// llama3SplitJSON is llama3Split as it appears inside a JSON string.
func llama3SplitJSON() string {
	b, _ := json.Marshal(llama3Split)
	return string(b[1 : len(b)-1])
}
