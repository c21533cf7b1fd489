package gen

import (
	"strings"
	"testing"

	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestStateGrammarBudget: under JSON mode and a JSON schema with unbounded strings,
// sequences sampling at temperature 1 from flat logits (every allowed token equally
// likely, the worst case for closing) over stories260K's 512-token vocabulary end with
// "stop" and text that parses and validates (an independent JSON Schema validator), for
// budgets from the grammar's closing bound up: the mask leaves out what could not close in
// the tokens left.
func TestStateGrammarBudget(t *testing.T) {
	m := stories(t)
	const schema = `{"type":"object","properties":{"story":{"type":"string"},"n":{"type":"integer"},
		"tags":{"type":"array","items":{"type":"string"}}},"required":["story","n","tags"]}`
	sg, err := grammar.FromJSONSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	any, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"type":"object"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("object.json", any); err != nil {
		t.Fatal(err)
	}
	obj, err := c.Compile("object.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    *grammar.Grammar
		sch  *jsonschema.Schema
	}{{"json_object", grammar.JSONObject(), obj}, {"json_schema", sg, sch}} {
		m0, err := grammar.NewMatcher(tc.g, m.Vocab())
		if err != nil {
			t.Fatal(err)
		}
		bound := m0.CloseBound()
		if bound <= 0 {
			t.Fatalf("%s: CloseBound %d at the start", tc.name, bound)
		}
		for seed := uint64(0); seed < 100; seed++ {
			maxTokens := min(bound+int(seed%4)*int(seed%13), 63) // the context holds 64
			s, err := New(m, []int{1}, Options{MaxTokens: maxTokens, Grammar: tc.g,
				Sampling: sample.Options{Temperature: 1, Seed: seed}})
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			var last Step
			for n := 0; n <= maxTokens; n++ {
				if last, err = s.Next(make([]float32, 512)); err != nil {
					t.Fatalf("%s seed %d: %v", tc.name, seed, err)
				}
				text.WriteString(last.Text)
				if last.Done {
					break
				}
			}
			v, err := jsonschema.UnmarshalJSON(strings.NewReader(text.String()))
			if err == nil {
				err = tc.sch.Validate(v)
			}
			if err != nil || last.Reason != "stop" || s.Generated() > maxTokens {
				t.Errorf("%s seed %d, max_tokens %d: %d tokens, finish %q, %q: %v", tc.name, seed, maxTokens, s.Generated(), last.Reason, text.String(), err)
			}
		}
	}
}
