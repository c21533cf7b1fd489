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
// Rendered prompts contain special tokens as text (Llama-2's starts with
// "<s>"): tokenize them with special-token parsing on, and do not add a
// second BOS when the text already begins with one.
package chat

import (
	"fmt"
	"strings"
	"unicode"
)

// Message is one turn of a conversation. Role is "system", "user" or
// "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Roles of a Message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

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
// or assistant.
func checkRoles(msgs []Message) error {
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant:
		default:
			return fmt.Errorf("chat: message %d has role %q; want system, user or assistant", i, m.Role)
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
