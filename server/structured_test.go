package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/decilm/decilm/engine"
)

// testSchema exercises every keyword the converter supports; its strings and lists are
// bounded so that a random model always finishes.
const testSchema = `{"type":"object","properties":{
	"name":{"type":"string","minLength":1,"maxLength":12},
	"age":{"type":"integer"},
	"happy":{"type":"boolean"},
	"color":{"enum":["red","green","blue"]},
	"tags":{"type":"array","items":{"type":"string","maxLength":6},"minItems":1,"maxItems":3},
	"pet":{"$ref":"#/$defs/pet"},
	"note":{"anyOf":[{"type":"null"},{"type":"string","maxLength":5}]},
	"score":{"type":["number","null"]}
},"required":["name","age","color","tags"],"additionalProperties":false,
"$defs":{"pet":{"type":"object","properties":{"kind":{"const":"cat"},"legs":{"type":"integer"}},"required":["kind"],"additionalProperties":false}}}`

// structuredRuns sends n sampled (temperature 1) chat requests with body's structured
// output field and returns the texts and finish reasons.
func structuredRuns(t *testing.T, f *fixture, field string, total int) (texts, finishes []string) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := 0; k < total/4; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"messages":[{"role":"user","content":"Tell me about a cat."}],"temperature":1,"n":4,"seed":%d,%s}`, 1000+10*k, field)
			r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", body)
			var out struct {
				Choices []struct {
					Message      struct{ Content string }
					FinishReason string `json:"finish_reason"`
				}
			}
			if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
				t.Errorf("%d %s", r.status, r.body)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, c := range out.Choices {
				texts = append(texts, c.Message.Content)
				finishes = append(finishes, c.FinishReason)
			}
		}()
	}
	wg.Wait()
	return texts, finishes
}

// checkSchemaOutputs validates every text against the schema with an independent JSON
// Schema validator.
func checkSchemaOutputs(t *testing.T, texts, finishes []string, want int) {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != want {
		t.Fatalf("%d outputs, want %d", len(texts), want)
	}
	bad := 0
	for i, text := range texts {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
		if err == nil {
			err = sch.Validate(v)
		}
		if err != nil || finishes[i] != "stop" {
			bad++
			if bad <= 3 {
				t.Errorf("output %d (finish %s) %q: %v", i, finishes[i], text, err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d outputs fail the schema", bad, len(texts))
	}
	t.Logf("%d outputs valid; e.g. %s", len(texts)-bad, texts[0])
}

// checkJSONObjects checks that every text is a JSON object (an independent JSON Schema
// validator, schema {"type":"object"}) that ended with "stop".
func checkJSONObjects(t *testing.T, texts, finishes []string, want int) {
	t.Helper()
	c := jsonschema.NewCompiler()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"type":"object"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("object.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("object.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(texts) != want {
		t.Fatalf("%d outputs, want %d", len(texts), want)
	}
	bad := 0
	for i, text := range texts {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
		if err == nil {
			err = sch.Validate(v)
		}
		if err != nil || finishes[i] != "stop" {
			if bad++; bad <= 3 {
				t.Errorf("json_object output %d (finish %s) %q: %v", i, finishes[i], text, err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d json_object outputs are not whole objects", bad, len(texts))
	}
}

// TestStructuredOutput: 100 sampled chat completions with response_format json_schema on
// the embedded stories260K model all parse and validate, and so do 100 json_object ones
// with a short max_tokens;
// llama.cpp's grammar field holds.
func TestStructuredOutput(t *testing.T) {
	f := newFixture(t, engine.Options{QueueSize: 128}, Options{})
	rf := fmt.Sprintf(`"response_format":{"type":"json_schema","json_schema":{"name":"cat","strict":true,"schema":%s}}`, testSchema)
	texts, finishes := structuredRuns(t, f, rf, 100)
	checkSchemaOutputs(t, texts, finishes, 100)

	// llama.cpp's json_schema field.
	texts, finishes = structuredRuns(t, f, `"json_schema":`+testSchema, 8)
	checkSchemaOutputs(t, texts, finishes, 8)

	// json_object bounds no string, yet near max_tokens the mask keeps only what can
	// still close, so every output is a whole object.
	texts, finishes = structuredRuns(t, f, `"response_format":{"type":"json_object"},"max_tokens":40`, 100)
	checkJSONObjects(t, texts, finishes, 100)

	texts, finishes = structuredRuns(t, f, `"grammar":"root ::= (\"yes\" | \"no\") \", \" [a-z]{1,5} \"!\""`, 20)
	for i, text := range texts {
		if finishes[i] != "stop" || !grammarLike(text) {
			t.Errorf("grammar output %q (finish %s)", text, finishes[i])
		}
	}
}

func grammarLike(s string) bool {
	head, rest, ok := strings.Cut(s, ", ")
	if !ok || (head != "yes" && head != "no") || !strings.HasSuffix(rest, "!") {
		return false
	}
	w := strings.TrimSuffix(rest, "!")
	if len(w) < 1 || len(w) > 5 {
		return false
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// TestStructuredOutputErrors: bad grammars and schemas are 400s naming the problem.
func TestStructuredOutputErrors(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	for _, c := range []struct{ field, want string }{
		{`"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"string","pattern":"a"}}}`, "pattern"},
		{`"response_format":{"type":"xml"}`, "xml"},
		{`"response_format":{"type":"json_schema"}`, "json_schema.schema"},
		{`"grammar":"root ::= root"`, "left-recursive"},
		{`"grammar":"root ::= \"a\"","json_schema":{"type":"string"}`, "only one"},
	} {
		r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],`+c.field+`}`)
		msg, _ := errorField(t, r)
		if r.status != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 400 saying %q", c.field, r.status, msg, c.want)
		}
	}
}

// TestStructuredOutputTinyBudget: a max_tokens below the shortest output the schema allows
// is not refused (the closing bound counts bytes; longer tokens might still fit): the reply
// is a 200 that ends with "length", the start of a JSON object.
func TestStructuredOutputTinyBudget(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	body := fmt.Sprintf(`{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"temperature":1,"seed":1,"response_format":{"type":"json_schema","json_schema":{"name":"cat","schema":%s}}}`, testSchema)
	r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", body)
	var out struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 || len(out.Choices) != 1 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if c := out.Choices[0]; c.FinishReason != "length" || !strings.HasPrefix(c.Message.Content, "{") {
		t.Errorf("finish %q, content %q; want length and the start of an object", c.FinishReason, c.Message.Content)
	}
}
