package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ardanlabs/jinja"
)

// jinjaTemplate is a compiled Jinja chat template.
type jinjaTemplate struct {
	name    string
	source  string // as given, before the sandbox's rewriting
	t       *jinja.Template
	special SpecialTokens
}

// JinjaSource returns the Jinja source t was compiled from, and false for a template that
// is not a Jinja one (the built-in formats): what a GGUF file's tokenizer.chat_template holds.
func JinjaSource(t Template) (string, bool) {
	j, ok := t.(*jinjaTemplate)
	if !ok {
		return "", false
	}
	return j.source, true
}

// FromJinja compiles a Hugging Face style Jinja chat template. Rendering
// follows transformers' apply_chat_template: whitespace control is Python
// jinja2's with trim_blocks and lstrip_blocks on (a block tag removes the
// newline right after it and the indentation before it; newlines become
// "\n" and a final one is dropped), and the template sees messages (a list of {role, content} dicts, with
// tool_calls, tool_call_id and name when set), add_generation_prompt,
// bos_token, eos_token, raise_exception(msg), which makes Render fail with
// msg, and, through [Render], tools and further variables. tojson writes
// JSON as transformers' does (Python's json.dumps with ensure_ascii off:
// keys in order, ", " and ": " separators, or "," and ": " with indent).
//
// Templates come from downloaded files, so every render runs in a sandbox
// (see [Limits]): range() makes at most MaxRange items, loops run at most
// MaxIterations times, macro calls nest at most MaxDepth deep, the output
// and every value set are at most MaxOutput bytes, and a render stops after
// Timeout; string repetition ("x" * n) and |indent are bounded by
// MaxOutput too. Breaking a limit is an error wrapping [ErrLimit]. The
// template is rewritten to call the sandbox's hooks; its source may be at
// most 1 MiB. Each expression is parsed and written back so that the
// engine's work inside it is bounded too: every operand the engine walks
// is measured first (at most MaxOutput bytes, MaxDepth deep, free of
// cycles), append, insert and update refuse to make a list or dict hold
// itself, slices visit only the indexes inside the sequence, and replace,
// join and format stop at MaxOutput.
//
// Known differences from Python's jinja2: str.strip() and |trim use Go's
// definition of whitespace (Python also strips U+001C..U+001F), indexing
// past the end of a list (messages[0] of an empty conversation) gives an
// undefined value rather than an error, and the filters and methods
// available are those github.com/ardanlabs/jinja v1.8.0 provides.
func FromJinja(source string, special SpecialTokens) (Template, error) {
	return compileJinja("jinja", source, special)
}

func compileJinja(name, source string, special SpecialTokens) (t Template, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("chat: %s: compiling template: %v", name, r)
		}
	}()
	sandboxed, err := sandboxSource(source)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", name, err)
	}
	c, err := jinja.Compile(sandboxed)
	if err != nil {
		return nil, fmt.Errorf("chat: %s: %w", name, err)
	}
	return &jinjaTemplate{name: name, source: source, t: c, special: special}, nil
}

func (j *jinjaTemplate) Name() string { return j.name }

func (j *jinjaTemplate) Render(msgs []Message, gen bool) (string, error) {
	return j.renderOptions(msgs, Options{AddGenerationPrompt: gen})
}

func (j *jinjaTemplate) renderOptions(msgs []Message, o Options) (out string, err error) {
	sb := &sandbox{lim: o.Limits.withDefaults()}
	sb.deadline = time.Now().Add(sb.lim.Timeout)
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("chat: %s: rendering template: %v", j.name, r)
		}
		if err != nil && sb.err != nil {
			out, err = "", fmt.Errorf("chat: %s: %w", j.name, sb.err)
		}
	}()
	data := make(map[string]jinja.Value, len(o.Vars)+16)
	for k, v := range o.Vars {
		val, err := goValue(v)
		if err != nil {
			return "", fmt.Errorf("chat: %s: variable %s: %w", j.name, k, err)
		}
		data[k] = val
	}
	list := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		v, err := messageValue(m)
		if err != nil {
			return "", fmt.Errorf("chat: %s: message %d: %w", j.name, i, err)
		}
		list[i] = v
	}
	data["messages"] = jinja.NewList(list)
	if o.Tools != nil {
		tools := make([]jinja.Value, len(o.Tools))
		for i, raw := range o.Tools {
			v, err := jsonValue(raw)
			if err != nil {
				return "", fmt.Errorf("chat: %s: tool %d: %w", j.name, i, err)
			}
			tools[i] = v
		}
		data["tools"] = jinja.NewList(tools)
	} else {
		delete(data, "tools")
	}
	data["add_generation_prompt"] = jinja.NewBool(o.AddGenerationPrompt)
	data["bos_token"] = jinja.NewString(j.special.BOS)
	data["eos_token"] = jinja.NewString(j.special.EOS)
	for k, v := range sb.globals() {
		data[k] = v
	}
	data[hookToJSON] = jinja.NewCallable("tojson", sb.toJSON)
	out, err = j.t.RenderValues(data)
	if err != nil {
		return "", fmt.Errorf("chat: %s: %w", j.name, err)
	}
	return out, nil
}

// messageValue is a message as a template sees it.
func messageValue(m Message) (jinja.Value, error) {
	v := jinja.NewDict()
	d := v.AsDict()
	d.Set("role", jinja.NewString(m.Role))
	d.Set("content", jinja.NewString(m.Content))
	if len(m.ToolCalls) > 0 {
		calls := make([]jinja.Value, len(m.ToolCalls))
		for i, c := range m.ToolCalls {
			cv := jinja.NewDict()
			cd := cv.AsDict()
			if c.ID != "" {
				cd.Set("id", jinja.NewString(c.ID))
			}
			if c.Type != "" {
				cd.Set("type", jinja.NewString(c.Type))
			}
			fv := jinja.NewDict()
			fd := fv.AsDict()
			fd.Set("name", jinja.NewString(c.Function.Name))
			if len(c.Function.Arguments) > 0 {
				args, err := jsonValue(c.Function.Arguments)
				if err != nil {
					return jinja.Undefined(), fmt.Errorf("tool call %d arguments: %w", i, err)
				}
				fd.Set("arguments", args)
			}
			cd.Set("function", fv)
			calls[i] = cv
		}
		d.Set("tool_calls", jinja.NewList(calls))
	}
	if m.ToolCallID != "" {
		d.Set("tool_call_id", jinja.NewString(m.ToolCallID))
	}
	if m.Name != "" {
		d.Set("name", jinja.NewString(m.Name))
	}
	return v, nil
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
