// Package chat turns a conversation into the prompt text a model was
// trained on.
//
// A [Template] renders a list of [Message]s, optionally followed by the cue
// for the assistant's reply (add_generation_prompt in Hugging Face terms).
// Templates come from three places:
//
//   - built-ins, by name ([Lookup], [Names]): "decilm-6b-instruct",
//     "decilm-7b-instruct", "llama-2" and "plain";
//   - a Jinja chat_template ([FromJinja]), rendered like transformers'
//     apply_chat_template (trim_blocks and lstrip_blocks on, bos_token,
//     eos_token, add_generation_prompt and raise_exception available);
//   - a checkpoint's tokenizer_config.json ([FromTokenizerConfig]).
//
// [Select] picks one: an explicit name wins, then the checkpoint's own
// chat_template, then a built-in guessed from hints about the model
// ([Guess]), and finally "plain".
//
// [Render] passes tools, further variables (Llama-3.1's date_string,
// builtin_tools, ...) and sandbox [Limits] to Jinja templates; messages may
// carry tool calls and tool results. Templates come from downloaded files,
// so every Jinja render runs in a sandbox: breaking a limit is an error
// wrapping [ErrLimit].
//
// Rendered prompts contain special tokens as text (Llama-2's starts with
// "<s>"): tokenize them with special-token parsing on, and do not add a
// second BOS when the text already begins with one.
package chat

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// Message is one turn of a conversation. Role is "system", "user" or
// "assistant", or for templates with tool calling (Llama-3.1's) "tool" or
// "ipython" (a tool's result). An assistant message that calls tools has
// ToolCalls. A Jinja template sees the message as a dict with role and
// content and, when set, tool_calls, tool_call_id and name.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is the id of the call a tool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Name is the tool's name in a tool message.
	Name string `json:"name,omitempty"`
}

// ToolCall is one function call of an assistant message, as OpenAI's API and
// transformers' apply_chat_template spell it.
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function and arguments of a ToolCall.
type FunctionCall struct {
	Name string `json:"name"`
	// Arguments is a JSON value: an object, which templates see as a dict
	// (as transformers expects), or a string, which they see as a string.
	// OpenAI's API sends the arguments as a string holding JSON: decode it
	// into an object first for templates that iterate over the arguments.
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"    // a tool's result (tool-calling templates)
	RoleIPython   = "ipython" // Llama-3.1's name for a tool's result
)

// Options are the inputs of [Render] beyond the messages.
type Options struct {
	// AddGenerationPrompt ends the prompt with the cue for the assistant's
	// reply.
	AddGenerationPrompt bool
	// Tools are the tool (function) definitions the model may call, each a
	// JSON object as in OpenAI's API ({"type": "function", "function":
	// {...}}); a Jinja template sees them, in order and with their keys in
	// order, as tools. Nil leaves tools undefined.
	Tools []json.RawMessage
	// Vars are further variables for a Jinja template, such as Llama-3.1's
	// date_string, builtin_tools or tools_in_user_message. A value may be a
	// string, bool, number, nil, a slice or map of these, or a
	// json.RawMessage (decoded with its keys in order). They cannot replace
	// messages, tools, add_generation_prompt, bos_token or eos_token.
	Vars map[string]any
	// Limits bound the render of a Jinja template; zero fields take
	// DefaultLimits.
	Limits Limits
}

// optionsRenderer is a Template that takes Options: the Jinja templates.
type optionsRenderer interface {
	renderOptions(msgs []Message, o Options) (string, error)
}

// Render renders msgs with t as [Template.Render] does, with tools, further
// variables and sandbox limits for Jinja templates. A built-in template
// takes no tools or variables: passing some is an error.
func Render(t Template, msgs []Message, o Options) (string, error) {
	if r, ok := t.(optionsRenderer); ok {
		return r.renderOptions(msgs, o)
	}
	if len(o.Tools) > 0 || len(o.Vars) > 0 {
		return "", fmt.Errorf("chat: template %s takes no tools or variables", t.Name())
	}
	return t.Render(msgs, o.AddGenerationPrompt)
}

// Template renders conversations into prompt text. Implementations are
// safe for concurrent use.
type Template interface {
	// Name identifies the template: a built-in's name, or where a Jinja
	// template came from.
	Name() string
	// Render returns the prompt for msgs. With addGenerationPrompt the
	// prompt ends with the cue for the assistant's next reply (for
	// templates that have one).
	Render(msgs []Message, addGenerationPrompt bool) (string, error)
}

// SpecialTokens are the texts of special tokens a Jinja template may use as
// bos_token and eos_token.
type SpecialTokens struct {
	BOS, EOS string
}

// Llama2Tokens are the special tokens of the Llama-2 SentencePiece
// vocabulary, which DeciLM-6B and DeciLM-7B share.
var Llama2Tokens = SpecialTokens{BOS: "<s>", EOS: "</s>"}

// checkRoles returns an error for a message whose role is not system, user
// or assistant, or that has tool calls.
func checkRoles(msgs []Message) error {
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return fmt.Errorf("chat: message %d has role %q; want system, user or assistant", i, m.Role)
		}
		if len(m.ToolCalls) > 0 {
			return fmt.Errorf("chat: message %d has tool calls, which this template cannot show", i)
		}
	}
	return nil
}

// pyStrip removes leading and trailing whitespace as Python's str.strip()
// does: Go's unicode.IsSpace plus the separators U+001C..U+001F.
func pyStrip(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
	})
}
