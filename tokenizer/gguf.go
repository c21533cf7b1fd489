package tokenizer

import (
	"errors"
	"fmt"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// FromGGUF builds a tokenizer from a GGUF file's tokenizer.ggml.* metadata (model "llama":
// tokens, scores, token_type; model "gpt2", byte-level BPE: tokens, merges, token_type and
// pre, which must be "llama-bpe"; and for both the bos/eos/unknown/padding ids, add_bos_token, add_eos_token,
// add_space_prefix, remove_extra_whitespaces). AddBOS defaults to true and AddEOS to false
// when the file does not say. A SentencePiece vocabulary without
// tokenizer.ggml.unknown_token_id (llama.cpp's converter writes none for a model directory
// with tokenizer.model but no tokenizer.json) takes id 0 as its unknown token, as llama.cpp
// does.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	wrap := func(err error) error { return fmt.Errorf("tokenizer: GGUF vocabulary: %w", err) }
	model, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, wrap(err)
	}
	v := Vocab{Model: model, BOS: -1, EOS: -1, UNK: -1, PAD: -1, AddBOS: true}
	if v.Tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return nil, wrap(err)
	}
	if v.Scores, err = f.Float32s("tokenizer.ggml.scores"); err != nil && !errors.Is(err, gguf.ErrNotFound) {
		return nil, wrap(err)
	}
	if v.Types, err = f.Int32s("tokenizer.ggml.token_type"); err != nil && !errors.Is(err, gguf.ErrNotFound) {
		return nil, wrap(err)
	}
	if model == "gpt2" {
		if v.Merges, err = f.Strings("tokenizer.ggml.merges"); err != nil {
			return nil, wrap(err)
		}
		if v.Pre, err = f.String("tokenizer.ggml.pre"); err != nil && !errors.Is(err, gguf.ErrNotFound) {
			return nil, wrap(err)
		}
	}
	for _, k := range []struct {
		key string
		dst *int
	}{
		{"tokenizer.ggml.bos_token_id", &v.BOS},
		{"tokenizer.ggml.eos_token_id", &v.EOS},
		{"tokenizer.ggml.unknown_token_id", &v.UNK},
		{"tokenizer.ggml.padding_token_id", &v.PAD},
	} {
		id, err := f.Uint(k.key)
		switch {
		case errors.Is(err, gguf.ErrNotFound):
		case err != nil:
			return nil, wrap(err)
		case id >= uint64(len(v.Tokens)):
			return nil, wrap(fmt.Errorf("%s = %d is outside the vocabulary of %d tokens", k.key, id, len(v.Tokens)))
		default:
			*k.dst = int(id)
		}
	}
	for _, k := range []struct {
		key string
		dst *bool
		neg bool
	}{
		{"tokenizer.ggml.add_bos_token", &v.AddBOS, false},
		{"tokenizer.ggml.add_eos_token", &v.AddEOS, false},
		{"tokenizer.ggml.add_space_prefix", &v.NoSpacePrefix, true},
		{"tokenizer.ggml.remove_extra_whitespaces", &v.RemoveExtraWhitespaces, false},
	} {
		b, err := f.Bool(k.key)
		switch {
		case errors.Is(err, gguf.ErrNotFound):
		case err != nil:
			return nil, wrap(err)
		default:
			*k.dst = b != k.neg
		}
	}
	if v.UNK < 0 && (model == "" || model == "llama") {
		v.UNK = 0
	}
	t, err := FromVocab(v)
	if err != nil {
		return nil, fmt.Errorf("%w (GGUF %s)", err, f.Name)
	}
	return t, nil
}
