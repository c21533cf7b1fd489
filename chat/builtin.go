package chat

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Names of the built-in templates.
const (
	// DeciLM6BInstruct is DeciLM-6b-instruct's prompt (from its demo):
	//
	//	Below is an instruction that describes a task. Write a response that appropriately completes the request.
	//
	//	### Instruction:
	//
	//	{user}
	//
	//	### Response:
	//	{assistant}
	//
	// A leading system message replaces the first paragraph (an empty one
	// removes it, with its blank line); a system message anywhere else is
	// an error. Every user turn becomes "### Instruction:\n\n{user}\n\n",
	// every assistant turn "### Response:\n{assistant}\n\n", and the
	// generation prompt is "### Response:\n". A single user message with
	// the generation prompt thus gives exactly the demo's prompt.
	DeciLM6BInstruct = "decilm-6b-instruct"
	// DeciLM7BInstruct is DeciLM-7B-instruct's format, the same string its
	// tokenizer_config.json chat_template renders: "### System:\n{system}\n",
	// "### User:\n{user}\n" and "### Assistant:\n{assistant}\n" in message
	// order, then "### Assistant:\n" as the generation prompt (only when
	// there is at least one message).
	DeciLM7BInstruct = "decilm-7b-instruct"
	// Llama2 is Llama-2 chat, the same string as the chat_template of
	// meta-llama/Llama-2-7b-chat-hf: "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]",
	// contents stripped of surrounding whitespace, roles alternating user /
	// assistant after an optional system message. It has no generation
	// prompt: a prompt ending in [/INST] already asks for the reply.
	Llama2 = "llama-2"
	// Plain is the messages' contents joined by "\n", with no markup: for
	// base models and raw completion.
	Plain = "plain"
)

// DeciLM6BPreamble is the first paragraph of DeciLM-6b-instruct's prompt.
const DeciLM6BPreamble = "Below is an instruction that describes a task. Write a response that appropriately completes the request."

type builtin struct {
	name   string
	render func(msgs []Message, gen bool) (string, error)
}

func (b builtin) Name() string { return b.name }

func (b builtin) Render(msgs []Message, gen bool) (string, error) {
	if err := checkRoles(msgs); err != nil {
		return "", fmt.Errorf("%w (template %s)", err, b.name)
	}
	return b.render(msgs, gen)
}

var builtins = map[string]builtin{
	DeciLM6BInstruct: {DeciLM6BInstruct, renderDeciLM6B},
	DeciLM7BInstruct: {DeciLM7BInstruct, renderDeciLM7B},
	Llama2:           {Llama2, renderLlama2},
	Plain:            {Plain, renderPlain},
}

// aliases are other spellings Lookup accepts.
var aliases = map[string]string{
	"decilm-6b":       DeciLM6BInstruct,
	"decilm-instruct": DeciLM6BInstruct,
	"decilm-7b":       DeciLM7BInstruct,
	"llama2":          Llama2,
	"llama-2-chat":    Llama2,
	"llama2-chat":     Llama2,
	"none":            Plain,
	"raw":             Plain,
}

// Names returns the names of the built-in templates, sorted.
func Names() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns the built-in template with the given name (case-insensitive;
// "llama2", "llama-2-chat", "decilm-7b", "raw"... are accepted as aliases).
func Lookup(name string) (Template, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases[key]; ok {
		key = a
	}
	if b, ok := builtins[key]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("chat: unknown template %q; built-in templates are %s", name, strings.Join(Names(), ", "))
}

func renderDeciLM6B(msgs []Message, gen bool) (string, error) {
	var b strings.Builder
	preamble := DeciLM6BPreamble
	if len(msgs) > 0 && msgs[0].Role == RoleSystem {
		preamble = msgs[0].Content
		msgs = msgs[1:]
	}
	if preamble != "" {
		b.WriteString(preamble)
		b.WriteString("\n\n")
	}
	for i, m := range msgs {
		switch m.Role {
		case RoleUser:
			b.WriteString("### Instruction:\n\n")
			b.WriteString(m.Content)
			b.WriteString("\n\n")
		case RoleAssistant:
			b.WriteString("### Response:\n")
			b.WriteString(m.Content)
			b.WriteString("\n\n")
		default:
			return "", fmt.Errorf("chat: %s: a system message must come first, found one at message %d", DeciLM6BInstruct, i+1)
		}
	}
	if gen {
		b.WriteString("### Response:\n")
	}
	return b.String(), nil
}

func renderDeciLM7B(msgs []Message, gen bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		switch m.Role {
		case RoleUser:
			b.WriteString("### User:\n")
		case RoleSystem:
			b.WriteString("### System:\n")
		case RoleAssistant:
			b.WriteString("### Assistant:\n")
		}
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	if gen && len(msgs) > 0 {
		b.WriteString("### Assistant:\n")
	}
	return b.String(), nil
}

// errAlternate is the message of the Llama-2 template's raise_exception.
var errAlternate = errors.New("chat: llama-2: Conversation roles must alternate user/assistant/user/assistant/...")

func renderLlama2(msgs []Message, _ bool) (string, error) {
	if len(msgs) == 0 {
		return "", errors.New("chat: llama-2: no messages")
	}
	bos, eos := Llama2Tokens.BOS, Llama2Tokens.EOS
	system, hasSystem := "", false
	if msgs[0].Role == RoleSystem {
		system, hasSystem = msgs[0].Content, true
		msgs = msgs[1:]
	}
	var b strings.Builder
	for i, m := range msgs {
		if (m.Role == RoleUser) != (i%2 == 0) {
			return "", errAlternate
		}
		content := m.Content
		if i == 0 && hasSystem {
			content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
		}
		switch m.Role {
		case RoleUser:
			b.WriteString(bos + "[INST] " + pyStrip(content) + " [/INST]")
		case RoleAssistant:
			b.WriteString(" " + pyStrip(content) + " " + eos)
		}
		// A system message at an odd position passes the alternation test
		// and, as in the Jinja template, renders nothing.
	}
	return b.String(), nil
}

func renderPlain(msgs []Message, _ bool) (string, error) {
	parts := make([]string, len(msgs))
	for i, m := range msgs {
		parts[i] = m.Content
	}
	return strings.Join(parts, "\n"), nil
}
