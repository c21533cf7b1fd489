package chat

import "strings"

// Select chooses the template for a model, in this order:
//
//  1. name, when it is neither "" nor "auto": the built-in of that name
//     (an unknown name is an error; see [Lookup]);
//  2. the chat_template of tokenizerConfig, the contents of the
//     checkpoint's tokenizer_config.json (nil when there is none);
//  3. the built-in that [Guess] finds in hints (the checkpoint's directory
//     name, repository id, GGUF general.name...), which is "plain" when
//     nothing matches.
//
// A malformed tokenizerConfig is an error only when step 2 is reached.
func Select(name string, tokenizerConfig []byte, hints ...string) (Template, error) {
	if n := strings.TrimSpace(name); n != "" && !strings.EqualFold(n, "auto") {
		return Lookup(n)
	}
	if len(tokenizerConfig) > 0 {
		t, ok, err := FromTokenizerConfig(tokenizerConfig)
		if err != nil {
			return nil, err
		}
		if ok {
			return t, nil
		}
	}
	return Lookup(Guess(hints...))
}

// Guess returns the name of the built-in template that suits a model,
// judging by hints such as its directory name or repository id
// ("Deci/DeciLM-6b-instruct"), compared case-insensitively with '_' and ' '
// read as '-':
//
//   - "decilm" and "instruct" with "7b" give "decilm-7b-instruct";
//   - "decilm" and "instruct" otherwise give "decilm-6b-instruct";
//   - "llama-2" or "llama2" with "chat" give "llama-2";
//   - anything else gives "plain" (base models complete raw text).
//
// The first hint that matches decides.
func Guess(hints ...string) string {
	for _, h := range hints {
		h = strings.NewReplacer("_", "-", " ", "-").Replace(strings.ToLower(h))
		switch {
		case strings.Contains(h, "decilm") && strings.Contains(h, "instruct"):
			if strings.Contains(h, "7b") {
				return DeciLM7BInstruct
			}
			return DeciLM6BInstruct
		case (strings.Contains(h, "llama-2") || strings.Contains(h, "llama2")) && strings.Contains(h, "chat"):
			return Llama2
		}
	}
	return Plain
}
