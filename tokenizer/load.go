package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// Load reads a tokenizer from path: a model directory or one file. In a directory it prefers
// tokenizer.model, then tokenizer.json, then tokenizer.bin. A file is recognised by its
// extension or content: a GGUF file (its tokenizer.ggml.* metadata), a tokenizer.json, a
// SentencePiece model or a llama2.c tokenizer.bin (any other .bin). For a directory, a
// tokenizer.model or a tokenizer.json, the tokenizer_config.json beside it, when present,
// sets add_bos_token, add_eos_token, bos_token, eos_token and added tokens.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	file := path
	if st.IsDir() {
		file = ""
		for _, name := range []string{"tokenizer.model", "tokenizer.json", "tokenizer.bin"} {
			p := filepath.Join(path, name)
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
		if file == "" {
			return nil, fmt.Errorf("tokenizer: %s has no tokenizer.model, tokenizer.json or tokenizer.bin", path)
		}
	}
	t, kind, err := loadFile(file)
	if err != nil {
		return nil, err
	}
	if kind == "model" || kind == "json" {
		cfg := filepath.Join(filepath.Dir(file), "tokenizer_config.json")
		data, err := os.ReadFile(cfg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("tokenizer: %w", err)
		default:
			if err := t.ApplyConfig(data); err != nil {
				return nil, fmt.Errorf("%s: %w", cfg, err)
			}
		}
	}
	return t, nil
}

// loadFile reads one tokenizer file and says which kind it was.
func loadFile(path string) (*Tokenizer, string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext == ".gguf" {
		f, err := gguf.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("tokenizer: %w", err)
		}
		defer f.Close()
		t, err := FromGGUF(f)
		return t, "gguf", err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("tokenizer: %w", err)
	}
	var t *Tokenizer
	kind := ""
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case bytes.HasPrefix(data, []byte(gguf.Magic)):
		f, err := gguf.Parse(path, data)
		if err != nil {
			return nil, "", fmt.Errorf("tokenizer: %w", err)
		}
		t, err = FromGGUF(f)
		kind = "gguf"
	case ext == ".json" || (ext != ".model" && ext != ".bin" && len(trimmed) > 0 && trimmed[0] == '{'):
		t, err = LoadHFJSON(data)
		kind = "json"
	case ext == ".bin":
		t, err = LoadLlama2C(data, 0)
		kind = "bin"
	default:
		t, err = LoadModelProto(data)
		kind = "model"
	}
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return t, kind, nil
}

// ApplyConfig applies a Hugging Face tokenizer_config.json: add_bos_token, add_eos_token,
// legacy (false: the dummy prefix as transformers' non-legacy Llama conversion adds it), bos_token
// and eos_token (strings or {"content": ...}), and added_tokens_decoder, whose
// entries become control tokens (special) or user-defined ones, appended to the vocabulary when
// their id is past its end. Call it before using the tokenizer from several goroutines.
func (t *Tokenizer) ApplyConfig(data []byte) error {
	var c struct {
		AddBOS      *bool           `json:"add_bos_token"`
		Legacy      *bool           `json:"legacy"`
		AddEOS      *bool           `json:"add_eos_token"`
		BOS         json.RawMessage `json:"bos_token"`
		EOS         json.RawMessage `json:"eos_token"`
		AddedTokens map[string]struct {
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens_decoder"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("tokenizer config: %w", err)
	}
	if c.AddBOS != nil {
		t.addBOS = *c.AddBOS
	}
	if c.AddEOS != nil {
		t.addEOS = *c.AddEOS
	}
	if c.Legacy != nil && !*c.Legacy && t.merges == nil && t.dummyPrefix {
		// transformers converts such a tokenizer.model with a Metaspace pre-tokeniser,
		// prepend_scheme "first": the dummy prefix only at the start of the input, and not
		// when it starts with a space. (A tokenizer.json says how itself.)
		t.prefixFirstOnly, t.prefixUnlessSpace = true, true
		t.resetCache()
	}
	changed := false
	type added struct {
		id      int
		content string
		special bool
	}
	var adds []added
	maxID := -1
	for k, v := range c.AddedTokens {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 || id > 1<<24 {
			return fmt.Errorf("tokenizer config: added_tokens_decoder key %q is not a token id", k)
		}
		if v.Content == "" {
			return fmt.Errorf("tokenizer config: added token %d has empty content", id)
		}
		adds = append(adds, added{id, v.Content, v.Special})
		maxID = max(maxID, id)
	}
	if maxID >= len(t.pieces) {
		have := make([]bool, maxID+1-len(t.pieces))
		for _, a := range adds {
			if a.id >= len(t.pieces) {
				have[a.id-len(t.pieces)] = true
			}
		}
		for i, ok := range have {
			if !ok {
				return fmt.Errorf("tokenizer config: added tokens leave id %d undefined (vocabulary has %d)", len(t.pieces)+i, len(t.pieces))
			}
		}
		for len(t.pieces) <= maxID {
			t.pieces = append(t.pieces, "")
			t.scores = append(t.scores, 0)
			t.types = append(t.types, Control)
		}
	}
	for _, a := range adds {
		typ := UserDefined
		if a.special {
			typ = Control
		}
		if t.pieces[a.id] == a.content && (t.types[a.id] == typ || t.types[a.id] == Unknown || t.types[a.id] == Control) {
			continue // already so
		}
		if t.types[a.id] == Byte {
			return fmt.Errorf("tokenizer config: added token %q would replace byte token %d", a.content, a.id)
		}
		t.pieces[a.id], t.types[a.id] = a.content, typ
		changed = true
		if typ == UserDefined {
			t.configAdded = true
		}
	}
	bos, eos := t.bos, t.eos
	for _, s := range []struct {
		raw json.RawMessage
		dst *int
		key string
	}{{c.BOS, &bos, "bos_token"}, {c.EOS, &eos, "eos_token"}} {
		if len(s.raw) == 0 || bytes.Equal(s.raw, []byte("null")) {
			continue
		}
		var name string
		if err := json.Unmarshal(s.raw, &name); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(s.raw, &obj); err != nil {
				return fmt.Errorf("tokenizer config: %s is neither a string nor {\"content\": ...}", s.key)
			}
			name = obj.Content
		}
		id, ok := t.PieceID(name)
		if !ok {
			return fmt.Errorf("tokenizer config: %s %q is not in the vocabulary", s.key, name)
		}
		*s.dst = id
	}
	if changed {
		if err := t.init(t.unk, bos, eos, t.pad, false); err != nil {
			return fmt.Errorf("tokenizer config: %w", err)
		}
	}
	t.bos, t.eos = bos, eos // the tables do not depend on which ids these are
	return nil
}
