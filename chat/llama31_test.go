package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

// llama31Case is a conversation of testdata/llama-3.1-cases.json.
type llama31Case struct {
	Name                string            `json:"name"`
	Messages            []Message         `json:"messages"`
	AddGenerationPrompt bool              `json:"add_generation_prompt"`
	Tools               []json.RawMessage `json:"tools"`
	Vars                map[string]any    `json:"vars"`
}

type renderResult struct {
	Name   string  `json:"name"`
	Output *string `json:"output"`
	Error  string  `json:"error"`
}

func llama31Cases(t testing.TB) []llama31Case {
	t.Helper()
	var cases []llama31Case
	if err := json.Unmarshal([]byte(readTestdata(t, "llama-3.1-cases.json")), &cases); err != nil {
		t.Fatal(err)
	}
	// Variables keep their JSON form, so that objects keep their key order.
	var raw []struct {
		Vars map[string]json.RawMessage `json:"vars"`
	}
	if err := json.Unmarshal([]byte(readTestdata(t, "llama-3.1-cases.json")), &raw); err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		cases[i].Vars = nil
		for k, v := range raw[i].Vars {
			if cases[i].Vars == nil {
				cases[i].Vars = map[string]any{}
			}
			cases[i].Vars[k] = v
		}
	}
	return cases
}

// checkRenders renders every case with the Llama-3.1 template and compares with want (same
// order): the same text, or an error when want has one.
func checkRenders(t *testing.T, cases []llama31Case, want []renderResult, reference string) {
	t.Helper()
	tmpl, err := FromJinja(readTestdata(t, "llama-3.1-instruct.jinja"), SpecialTokens{BOS: "<|begin_of_text|>", EOS: "<|eot_id|>"})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != len(cases) {
		t.Fatalf("%s has %d results for %d cases", reference, len(want), len(cases))
	}
	for i, c := range cases {
		got, err := Render(tmpl, c.Messages, Options{AddGenerationPrompt: c.AddGenerationPrompt, Tools: c.Tools, Vars: c.Vars})
		w := want[i]
		switch {
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

// TestLlama31Template: the Llama-3.1 chat template (system prompt, tools in the user or the
// system message, tool calls, tool and ipython results, builtin tools, date_string) renders
// byte for byte as Python's jinja2 renders it in transformers' apply_chat_template
// environment (testdata/reference_llama31.py).
func TestLlama31Template(t *testing.T) {
	var want []renderResult
	if err := json.Unmarshal([]byte(readTestdata(t, "llama-3.1-expected.json")), &want); err != nil {
		t.Fatal(err)
	}
	checkRenders(t, llama31Cases(t), want, "jinja2")
}
