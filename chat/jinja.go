package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ardanlabs/jinja"
)

// jinjaTemplate is a compiled Jinja chat template.
type jinjaTemplate struct {
	name    string
	t       *jinja.Template
	special SpecialTokens
}

// FromJinja compiles a Hugging Face style Jinja chat template. Rendering
// follows transformers' apply_chat_template: block tags trim the newline
// after them and the indentation before them (trim_blocks, lstrip_blocks),
// and the template sees messages (a list of {role, content}),
// add_generation_prompt, bos_token, eos_token and raise_exception(msg),
// which makes Render fail with msg. Known differences from Python's jinja2:
// str.strip() and |trim use Go's definition of whitespace (Python also
// strips U+001C..U+001F), indexing past the end of a list (messages[0] of
// an empty conversation) gives an undefined value rather than an error, and
// the filters and methods available are those github.com/ardanlabs/jinja
// v1.8.0 provides.
func FromJinja(source string, special SpecialTokens) (Template, error) {
	return compileJinja("jinja", source, special)
}

func compileJinja(name, source string, special SpecialTokens) (t Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("chat: %s: compiling template: %v", name, r)
		}
	}()
	c, err := jinja.Compile(source)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", name, err)
	}
	return &jinjaTemplate{name: name, t: c, special: special}, nil
}

func (j *jinjaTemplate) Name() string { return j.name }

func (j *jinjaTemplate) Render(msgs []Message, gen bool) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat: %s: rendering template: %v", j.name, r)
		}
	}()
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	out, err = j.t.Render(map[string]any{
		"messages":              list,
		"add_generation_prompt": gen,
		"bos_token":             j.special.BOS,
		"eos_token":             j.special.EOS,
	})
	if err != nil {
		return "", fmt.Errorf("chat: %s: %w", j.name, err)
	}
	return out, nil
}

// FromTokenizerConfig reads the chat_template of a tokenizer_config.json:
// either a string, or a list of {"name", "template"} objects of which the
// one named "default" is used. The template's bos_token and eos_token come
// from the same file (a string, or an object with a "content" field). It
// returns ok = false, with no error, when the file has no chat_template.
func FromTokenizerConfig(data []byte) (t Template, ok bool, err error) {
	const file = "tokenizer_config.json"
	var cfg struct {
		ChatTemplate json.RawMessage `json:"chat_template"`
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, false, fmt.Errorf("chat: %s: %w", file, err)
	}
	special, err := specialTokens(cfg.BOS, cfg.EOS)
	if err != nil {
		return nil, false, err
	}
	raw := bytes.TrimSpace(cfg.ChatTemplate)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var source string
	name := file + " chat_template"
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &source); err != nil {
			return nil, false, fmt.Errorf("chat: %s: chat_template: %w", file, err)
		}
	case '[':
		var list []struct {
			Name     string `json:"name"`
			Template string `json:"template"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, false, fmt.Errorf("chat: %s: chat_template: want a string or a list of {name, template}: %w", file, err)
		}
		var names []string
		found := false
		for _, e := range list {
			names = append(names, fmt.Sprintf("%q", e.Name))
			if e.Name == "default" {
				source, found = e.Template, true
				break
			}
		}
		if !found {
			return nil, false, fmt.Errorf("chat: %s: chat_template: no template named \"default\" among [%s]", file, strings.Join(names, ", "))
		}
		name += " default"
	default:
		return nil, false, fmt.Errorf("chat: %s: chat_template: want a string or a list of {name, template}, got %.20s", file, raw)
	}
	if strings.TrimSpace(source) == "" {
		return nil, false, fmt.Errorf("chat: %s: chat_template is empty", file)
	}
	t, err = compileJinja(name, source, special)
	if err != nil {
		return nil, false, err
	}
	return t, true, nil
}

// ReadSpecialTokens returns the bos_token and eos_token of a
// tokenizer_config.json, for use with [FromJinja] when a checkpoint keeps
// its template in a separate chat_template.jinja file. Absent or null
// entries give "".
func ReadSpecialTokens(tokenizerConfig []byte) (SpecialTokens, error) {
	var cfg struct {
		BOS json.RawMessage `json:"bos_token"`
		EOS json.RawMessage `json:"eos_token"`
	}
	if err := json.Unmarshal(tokenizerConfig, &cfg); err != nil {
		return SpecialTokens{}, fmt.Errorf("chat: tokenizer_config.json: %w", err)
	}
	return specialTokens(cfg.BOS, cfg.EOS)
}

func specialTokens(bos, eos json.RawMessage) (SpecialTokens, error) {
	var s SpecialTokens
	var err error
	if s.BOS, err = tokenText(bos); err != nil {
		return SpecialTokens{}, fmt.Errorf("chat: tokenizer_config.json: bos_token: %w", err)
	}
	if s.EOS, err = tokenText(eos); err != nil {
		return SpecialTokens{}, fmt.Errorf("chat: tokenizer_config.json: eos_token: %w", err)
	}
	return s, nil
}

// tokenText decodes a special token entry: absent or null, a string, or an
// AddedToken object {"content": "..."}.
func tokenText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '{':
		var tok struct {
			Content *string `json:"content"`
		}
		if err := json.Unmarshal(raw, &tok); err != nil {
			return "", err
		}
		if tok.Content == nil {
			return "", errors.New("object has no \"content\"")
		}
		return *tok.Content, nil
	}
	return "", fmt.Errorf("want a string or an object with \"content\", got %.20s", raw)
}
