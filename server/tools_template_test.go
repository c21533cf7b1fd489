package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/decilm/decilm/engine"
)

// TestApplyTemplateTools: /apply-template renders the request's tools through the chat
// template as /v1/chat/completions does (the tool's name and description are in the
// prompt, and the chat endpoint counts exactly the prompt's tokens), checks tools as the
// chat endpoint does, and a template that shows no tools refuses them.
func TestApplyTemplateTools(t *testing.T) {
	msgs := `"messages":[{"role":"user","content":"Weather in Paris?"}]`
	for _, tc := range []struct {
		template string
	}{{"llama-3.1-instruct.jinja"}, {"qwen2.5-instruct.jinja"}} {
		f := toolFixture(t, tc.template, llama31Special)
		prompt := func(body string) string {
			t.Helper()
			r := postJSON(t, f.ts.URL+"/apply-template", "", body)
			var out struct{ Prompt string }
			if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
				t.Fatalf("%s: apply-template: %d %s", tc.template, r.status, r.body)
			}
			return out.Prompt
		}
		plain := prompt("{" + msgs + "}")
		with := prompt("{" + msgs + `,"tools":` + weatherTools + "}")
		for _, want := range []string{"get_weather", "Weather of a city", `"now"`} {
			if !strings.Contains(with, want) || strings.Contains(plain, want) {
				t.Errorf("%s: %q in the prompt with tools %v, without %v", tc.template, want, strings.Contains(with, want), strings.Contains(plain, want))
			}
		}
		// The chat endpoint's prompt is the same text: its token count is the text's (with
		// the BOS the encoder adds, the template's own not being a token of this vocabulary).
		r := postJSON(t, f.ts.URL+"/tokenize", "", fmt.Sprintf(`{"content":%q,"add_special":true}`, with))
		var tok struct{ Tokens []int }
		if err := json.Unmarshal([]byte(r.body), &tok); err != nil || r.status != 200 {
			t.Fatalf("tokenize: %d %s", r.status, r.body)
		}
		c := chatCompletion(t, f, "{"+msgs+`,"tools":`+weatherTools+`,"max_tokens":1}`)
		if int(c.Usage.PromptTokens) != len(tok.Tokens) {
			t.Errorf("%s: the chat endpoint's prompt has %d tokens, apply-template's %d", tc.template, c.Usage.PromptTokens, len(tok.Tokens))
		}
		// Tools are checked as the chat endpoint checks them.
		r = postJSON(t, f.ts.URL+"/apply-template", "", "{"+msgs+`,"tools":[{"type":"retrieval"}]}`)
		if msg, _ := errorField(t, r); r.status != 400 || !strings.Contains(msg, "tools[0].type") {
			t.Errorf("%s: a bad tool: %d %q", tc.template, r.status, msg)
		}
	}
	f := newFixture(t, engine.Options{}, Options{})
	r := postJSON(t, f.ts.URL+"/apply-template", "", "{"+msgs+`,"tools":`+weatherTools+"}")
	if msg, _ := errorField(t, r); r.status != 400 || !strings.Contains(msg, "does not show tools") {
		t.Errorf("tools with a template without them: %d %q", r.status, msg)
	}
}
