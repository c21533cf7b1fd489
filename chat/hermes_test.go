package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkHermes renders testdata/hermes-cases.json with the Qwen2.5 template (Hermes-style
// tool calls: tools in <tools></tools>, calls in <tool_call></tool_call>, results in
// <tool_response></tool_response>) and compares with want, in order.
func checkHermes(t *testing.T, want []renderResult, reference string) {
	t.Helper()
	var cases []llama31Case
	if err := json.Unmarshal([]byte(readTestdata(t, "hermes-cases.json")), &cases); err != nil {
		t.Fatal(err)
	}
	tmpl, err := FromJinja(readTestdata(t, "qwen2.5-instruct.jinja"), SpecialTokens{EOS: "<|im_end|>"})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(cases) {
		t.Fatalf("%s has %d results for %d cases", reference, len(want), len(cases))
	}
	for i, c := range cases {
		got, err := Render(tmpl, c.Messages, Options{AddGenerationPrompt: c.AddGenerationPrompt, Tools: c.Tools})
		switch w := want[i]; {
		case w.Name != c.Name:
			t.Fatalf("%s result %d is %q, want %q", reference, i, w.Name, c.Name)
		case w.Output == nil:
			if err == nil || !strings.Contains(err.Error(), w.Error) {
				t.Errorf("%s: error %v, %s fails with %q", c.Name, err, reference, w.Error)
			}
		case err != nil:
			t.Errorf("%s: %v", c.Name, err)
		case got != *w.Output:
			t.Errorf("%s: got\n%q\n%s renders\n%q", c.Name, got, reference, *w.Output)
		}
	}
}

// TestHermesTemplate: Qwen2.5's chat template (a Hermes-style tool-calling template)
// renders tools, parallel tool calls with object and string arguments, and consecutive
// tool results byte for byte as Python's jinja2 does in transformers' apply_chat_template
// environment (testdata/hermes-expected.json, made by reference_llama31.py).
func TestHermesTemplate(t *testing.T) {
	var want []renderResult
	if err := json.Unmarshal([]byte(readTestdata(t, "hermes-expected.json")), &want); err != nil {
		t.Fatal(err)
	}
	checkHermes(t, want, "jinja2")
}
