package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/openai/openai-go/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// weatherTools are the tools of the tests: a function with a parameters schema and one
// without parameters.
const weatherTools = `[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}}},
{"type":"function","function":{"name":"now","description":"The time"}}]`

// weatherParams is get_weather's parameters schema, to validate arguments.
const weatherParams = `{"type":"object","properties":{"city":{"type":"string","maxLength":12},"unit":{"enum":["c","f"]}},"required":["city","unit"]}`

// toolFixture is a server on the synth tiny model (2048 positions: the tool prompts are
// long in the stories260K vocabulary) with a chat template from chat/testdata.
func toolFixture(t testing.TB, template string, special chat.SpecialTokens) *fixture {
	t.Helper()
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	src, err := os.ReadFile(filepath.Join("..", "chat", "testdata", template))
	if err != nil {
		t.Fatal(err)
	}
	if m.Template, err = chat.FromJinja(string(src), special); err != nil {
		t.Fatal(err)
	}
	return newFixtureOn(t, m, engine.Options{QueueSize: 64}, Options{})
}

var llama31Special = chat.SpecialTokens{BOS: "<|begin_of_text|>", EOS: "<|eot_id|>"}

func compileSchema(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("s.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkCall checks a returned tool call: an id call_..., a known function, arguments a
// JSON object valid for the function's parameters.
func checkCall(t testing.TB, c openai.ChatCompletionMessageToolCallUnion, params *jsonschema.Schema) {
	t.Helper()
	if !strings.HasPrefix(c.ID, "call_") || c.Type != "function" {
		t.Errorf("tool call id %q type %q", c.ID, c.Type)
	}
	switch c.Function.Name {
	case "get_weather":
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.Function.Arguments))
		if err != nil {
			t.Errorf("arguments %q: %v", c.Function.Arguments, err)
			return
		}
		if err := params.Validate(inst); err != nil {
			t.Errorf("arguments %q fail the parameters schema: %v", c.Function.Arguments, err)
		}
	case "now":
		if c.Function.Arguments != "{}" {
			t.Errorf("now's arguments are %q, want {}", c.Function.Arguments)
		}
	default:
		t.Errorf("call of an unknown function %q", c.Function.Name)
	}
}

func chatCompletion(t testing.TB, f *fixture, body string) openai.ChatCompletion {
	t.Helper()
	r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", body)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var out openai.ChatCompletion
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestToolChoiceForced: tool_choice required (Llama-3.1 and Hermes syntax) and a named
// function always yield a parsed call, at temperature 1, whose arguments validate.
func TestToolChoiceForced(t *testing.T) {
	params := compileSchema(t, weatherParams)
	for _, c := range []struct {
		template string
		special  chat.SpecialTokens
		choice   string
		want     string // the function named, or "" for any
	}{
		{"llama-3.1-instruct.jinja", llama31Special, `"required"`, ""},
		{"llama-3.1-instruct.jinja", llama31Special, `{"type":"function","function":{"name":"get_weather"}}`, "get_weather"},
		{"qwen2.5-instruct.jinja", chat.SpecialTokens{EOS: "<|im_end|>"}, `"required"`, ""},
		{"qwen2.5-instruct.jinja", chat.SpecialTokens{EOS: "<|im_end|>"}, `{"type":"function","function":{"name":"now"}}`, "now"},
	} {
		t.Run(c.template+" "+c.choice, func(t *testing.T) {
			f := toolFixture(t, c.template, c.special)
			names := map[string]int{}
			for seed := 0; seed < 3; seed++ {
				out := chatCompletion(t, f, fmt.Sprintf(`{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":%s,"tool_choice":%s,"temperature":1,"n":4,"seed":%d,"max_tokens":200}`,
					weatherTools, c.choice, seed*10))
				for _, ch := range out.Choices {
					if ch.FinishReason != "tool_calls" || len(ch.Message.ToolCalls) != 1 {
						t.Fatalf("finish %q, %d calls, content %q", ch.FinishReason, len(ch.Message.ToolCalls), ch.Message.Content)
					}
					call := ch.Message.ToolCalls[0]
					checkCall(t, call, params)
					if c.want != "" && call.Function.Name != c.want {
						t.Errorf("called %q, tool_choice names %q", call.Function.Name, c.want)
					}
					names[call.Function.Name]++
				}
			}
			t.Logf("calls by name: %v", names)
		})
	}
}

// TestToolRoundTrip: a forced call, its result as a tool message, and the answer: the
// second prompt is the template's rendering of the call (arguments as an object) and the
// result, and the answer is text.
func TestToolRoundTrip(t *testing.T) {
	f := toolFixture(t, "llama-3.1-instruct.jinja", llama31Special)
	out := chatCompletion(t, f, `{"messages":[{"role":"user","content":"Weather in Paris?"}],"tools":`+weatherTools+`,"tool_choice":{"type":"function","function":{"name":"get_weather"}},"temperature":0,"max_tokens":200}`)
	call := out.Choices[0].Message.ToolCalls[0]
	msgs := []any{
		map[string]any{"role": "user", "content": "Weather in Paris?"},
		map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": call.ID, "type": "function",
			"function": map[string]any{"name": call.Function.Name, "arguments": call.Function.Arguments}}}},
		map[string]any{"role": "tool", "tool_call_id": call.ID, "content": `{"temperature": 18}`},
	}
	mj, _ := json.Marshal(msgs)
	ans := chatCompletion(t, f, `{"messages":`+string(mj)+`,"tools":`+weatherTools+`,"tool_choice":"none","temperature":0,"max_tokens":8}`)
	if ans.Choices[0].Message.Content == "" || len(ans.Choices[0].Message.ToolCalls) != 0 {
		t.Errorf("answer %+v", ans.Choices[0].Message)
	}
	// The prompt the server built is the template's rendering of the same conversation.
	var tools []json.RawMessage
	json.Unmarshal([]byte(weatherTools), &tools)
	want, err := f.m.EncodeChatOptions([]chat.Message{
		{Role: "user", Content: "Weather in Paris?"},
		{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: call.ID, Type: "function", Function: chat.FunctionCall{Name: call.Function.Name, Arguments: json.RawMessage(call.Function.Arguments)}}}},
		{Role: "tool", ToolCallID: call.ID, Content: `{"temperature": 18}`},
	}, chat.Options{AddGenerationPrompt: true, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if int(ans.Usage.PromptTokens) != len(want) {
		t.Errorf("the answer's prompt has %d tokens; the conversation renders to %d", ans.Usage.PromptTokens, len(want))
	}
	text, err := chat.Render(f.m.Template, []chat.Message{
		{Role: "assistant", ToolCalls: []chat.ToolCall{{Function: chat.FunctionCall{Name: call.Function.Name, Arguments: json.RawMessage(call.Function.Arguments)}}}},
		{Role: "tool", Content: `{"temperature": 18}`},
	}, chat.Options{})
	if err != nil || !strings.Contains(text, `"name": "get_weather", "parameters": {`) || !strings.Contains(text, `ipython<|end_header_id|>`+"\n\n"+`"{\"temperature\": 18}"`) {
		t.Errorf("rendered %q, %v", text, err)
	}
}

// TestToolStream: a streamed forced call, accumulated by openai-go's accumulator, equals
// the same request's call unstreamed (greedy), and ends with finish_reason tool_calls.
func TestToolStream(t *testing.T) {
	for _, template := range []string{"llama-3.1-instruct.jinja", "qwen2.5-instruct.jinja"} {
		f := toolFixture(t, template, llama31Special)
		// Greedy decoding of a random model never ends an unbounded string: the named
		// function's strings are bounded.
		body := `{"messages":[{"role":"user","content":"Weather?"}],"tools":` + weatherTools + `,"tool_choice":{"type":"function","function":{"name":"get_weather"}},"temperature":0,"max_tokens":200`
		plain := chatCompletion(t, f, body+`}`)
		r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", body+`,"stream":true}`)
		if r.status != 200 || !strings.HasSuffix(r.body, "data: [DONE]\n\n") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		var acc openai.ChatCompletionAccumulator
		deltas := 0
		for _, line := range strings.Split(r.body, "\n") {
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var chunk openai.ChatCompletionChunk
			if err := json.Unmarshal([]byte(data), &chunk); err != nil {
				t.Fatal(err)
			}
			if len(chunk.Choices) > 0 && len(chunk.Choices[0].Delta.ToolCalls) > 0 {
				deltas++
			}
			if !acc.AddChunk(chunk) {
				t.Fatalf("the accumulator refused %s", data)
			}
		}
		got, want := acc.Choices[0], plain.Choices[0]
		if got.FinishReason != "tool_calls" || len(got.Message.ToolCalls) != 1 || deltas < 2 {
			t.Fatalf("%s: streamed finish %q, calls %+v, %d tool-call deltas", template, got.FinishReason, got.Message.ToolCalls, deltas)
		}
		g, w := got.Message.ToolCalls[0].Function, want.Message.ToolCalls[0].Function
		if g.Name != w.Name || g.Arguments != w.Arguments {
			t.Errorf("%s: streamed call %s(%s), unstreamed %s(%s)", template, g.Name, g.Arguments, w.Name, w.Arguments)
		}
		if got.Message.Content != "" {
			t.Errorf("%s: streamed content %q beside the call", template, got.Message.Content)
		}
	}
}

// TestToolErrors: malformed tool requests are 400s naming the field.
func TestToolErrors(t *testing.T) {
	f := toolFixture(t, "llama-3.1-instruct.jinja", llama31Special)
	plain := newFixture(t, engine.Options{}, Options{})
	user := `"messages":[{"role":"user","content":"hi"}]`
	for _, c := range []struct {
		f     *fixture
		body  string
		param string
	}{
		{f, `{` + user + `,"functions":[{"name":"x"}]}`, "functions"},
		{f, `{` + user + `,"tool_choice":"required"}`, "tool_choice"},
		{f, `{` + user + `,"tools":[]}`, "tools"},
		{f, `{` + user + `,"tools":{"a":1}}`, "tools"},
		{f, `{` + user + `,"tools":[{"type":"retrieval"}]}`, "tools[0].type"},
		{f, `{` + user + `,"tools":[{"type":"function","function":{"name":"a b"}}]}`, "tools[0].function.name"},
		{f, `{` + user + `,"tools":[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"a"}}]}`, "tools[1].function.name"},
		{f, `{` + user + `,"tools":[{"type":"function","function":{"name":"a","parameters":[1]}}]}`, "tools[0].function.parameters"},
		{f, `{` + user + `,"tools":` + weatherTools + `,"tool_choice":"sometimes"}`, "tool_choice"},
		{f, `{` + user + `,"tools":` + weatherTools + `,"tool_choice":{"type":"function","function":{"name":"nope"}}}`, "tool_choice"},
		{f, `{` + user + `,"tools":[{"type":"function","function":{"name":"a","parameters":{"type":"object","properties":{"x":{"type":"string","pattern":"a+"}}}}}],"tool_choice":"required"}`, "tools"},
		{f, `{` + user + `,"tools":` + weatherTools + `,"tool_choice":"required","response_format":{"type":"json_object"}}`, "tool_choice"},
		{f, `{"messages":[{"role":"user","content":"hi","tool_calls":[{"function":{"name":"a"}}]}]}`, "messages[0].tool_calls"},
		{f, `{"messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":"{}"}}]}]}`, "messages[0].tool_calls[0].function.name"},
		{plain, `{` + user + `,"tools":` + weatherTools + `}`, "tools"},
		{f, `{"prompt":"hi","tools":` + weatherTools + `}`, "tools"},
		{f, `{"prompt":"hi","tool_choice":"none"}`, "tool_choice"},
	} {
		url := f.ts.URL + "/v1/chat/completions"
		if strings.Contains(c.body, `"prompt"`) {
			url = f.ts.URL + "/v1/completions"
		}
		if c.f == plain {
			url = plain.ts.URL + "/v1/chat/completions"
		}
		r := postJSON(t, url, "", c.body)
		var e struct {
			Error struct {
				Message string
				Param   *string
			}
		}
		json.Unmarshal([]byte(r.body), &e)
		if r.status != 400 || e.Error.Param == nil || *e.Error.Param != c.param {
			t.Errorf("%s: %d %s; want 400 with param %s", c.body, r.status, r.body, c.param)
		}
	}
}

// TestToolParse reads calls out of replies in both syntaxes; anything else is content.
func TestToolParse(t *testing.T) {
	var tools struct{ params }
	tools.Tools = json.RawMessage(weatherTools)
	llama := &toolSetup{choice: "auto", format: formatLlama31, defs: []toolDef{{name: "get_weather"}, {name: "now"}}}
	hermes := &toolSetup{choice: "auto", format: formatHermes, defs: llama.defs}
	none := &toolSetup{choice: "none", format: formatLlama31, defs: llama.defs}
	for _, c := range []struct {
		ts      *toolSetup
		text    string
		content string
		calls   []toolCall
	}{
		{llama, `{"name": "get_weather", "parameters": {"city": "Paris", "unit": "c"}}`, "", []toolCall{{"get_weather", `{"city":"Paris","unit":"c"}`}}},
		{llama, " <|python_tag|>{\"name\": \"now\", \"arguments\": {}}\n", "", []toolCall{{"now", `{}`}}},
		{llama, `{"name": "now", "parameters": {}}; {"name": "get_weather", "parameters": {"city": "Oslo"}}`, "", []toolCall{{"now", "{}"}, {"get_weather", `{"city":"Oslo"}`}}},
		{llama, `{"name": "other", "parameters": {}}`, `{"name": "other", "parameters": {}}`, nil},
		{llama, `{"name": "now", "parameters": "x"}`, `{"name": "now", "parameters": "x"}`, nil},
		{llama, `{"name": "now", "parameters": {}`, `{"name": "now", "parameters": {}`, nil},
		{llama, `It is {"name": "now"}`, `It is {"name": "now"}`, nil},
		{none, `{"name": "now", "parameters": {}}`, `{"name": "now", "parameters": {}}`, nil},
		{hermes, "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>\n<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>", "Let me look.",
			[]toolCall{{"get_weather", `{"city":"Rome"}`}, {"now", "{}"}}},
		{hermes, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n", "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n", nil},
		{hermes, "<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call> and more", "<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call> and more", nil},
		{hermes, "plain text", "plain text", nil},
	} {
		content, calls, ok := c.ts.parse(c.text)
		if content != c.content || !slices.Equal(calls, c.calls) || ok != (c.calls != nil) {
			t.Errorf("%q: content %q calls %v ok %v; want %q %v", c.text, content, calls, ok, c.content, c.calls)
		}
	}
}

// TestToolStreamFilter: streamed content passes until the text may start a call; what was
// held comes back as content when it is no call.
func TestToolStreamFilter(t *testing.T) {
	defs := []toolDef{{name: "now"}}
	for _, c := range []struct {
		format  toolFormat
		pieces  []string
		sent    string // content sent while streaming, finish's content included
		calls   int
		allSent bool
	}{
		{formatLlama31, []string{"Hel", "lo ", "{x}"}, "Hello {x}", 0, true},
		{formatLlama31, []string{" ", "{\"name\": \"now\",", " \"parameters\": {}}"}, "", 1, false},
		{formatLlama31, []string{" ", "{\"name\": \"no", "w\"}"}, " {\"name\": \"now\"}", 0, true},
		{formatHermes, []string{"Sure.", " <tool", "_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>"}, "Sure. ", 1, false},
		{formatHermes, []string{"a <to", "y> b"}, "a <toy> b", 0, true},
		{formatHermes, []string{"x<tool_call>broken"}, "x<tool_call>broken", 0, true},
	} {
		st := newToolStream(&toolSetup{choice: "auto", format: c.format, defs: defs})
		var sent strings.Builder
		calls := 0
		for _, p := range c.pieces {
			text, deltas := st.push(p)
			sent.WriteString(text)
			calls += len(deltas)
		}
		rest, deltas, _ := st.finish()
		sent.WriteString(rest)
		for _, d := range deltas {
			if d.header {
				calls++
			}
		}
		if sent.String() != c.sent || calls != c.calls {
			t.Errorf("%q: sent %q and %d calls; want %q and %d", c.pieces, sent.String(), calls, c.sent, c.calls)
		}
		if c.allSent && sent.String() != strings.Join(c.pieces, "") {
			t.Errorf("%q: a reply with no call lost text: %q", c.pieces, sent.String())
		}
	}
}

// FuzzToolParse: parsing any reply in either syntax never panics, and streaming it in two
// pieces either sends it all as content (no call) or yields the calls parse finds.
func FuzzToolParse(f *testing.F) {
	for _, s := range []string{
		`{"name": "now", "parameters": {}}`,
		"<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"é\"}}",
		"Sure <tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>",
		"<tool_call>{\"name\":", "{", "plain text",
	} {
		f.Add(s, uint8(3), false)
	}
	defs := []toolDef{{name: "now"}, {name: "get_weather"}}
	f.Fuzz(func(t *testing.T, text string, cut uint8, hermes bool) {
		format := formatLlama31
		if hermes {
			format = formatHermes
		}
		ts := &toolSetup{choice: "auto", format: format, defs: defs}
		_, calls, ok := ts.parse(text)
		st := newToolStream(ts)
		k := min(int(cut), len(text))
		a, d1 := st.push(text[:k])
		b, d2 := st.push(text[k:])
		rest, d3, isCall := st.finish()
		sent := a + b + rest
		streamed := 0
		for _, d := range slices.Concat(d1, d2, d3) {
			if d.header {
				streamed++
			}
		}
		switch {
		case isCall != ok:
			t.Fatalf("%q: parse says %v, the stream %v", text, ok, isCall)
		case ok && streamed != len(calls):
			t.Fatalf("%q: parse finds %d calls, the stream %d", text, len(calls), streamed)
		case !ok && (streamed > 0 || sent != text):
			t.Fatalf("%q: no call, but the stream sent %q and %d calls", text, sent, streamed)
		}
		// Forced, a call streams as it comes and adds up to the parsed call.
		if ok && len(calls) == 1 {
			ts.choice = "required"
			fs := newToolStream(ts)
			_, d1 := fs.push(text[:k])
			_, d2 := fs.push(text[k:])
			_, d3, _ := fs.finish()
			name, args := streamedCall(slices.Concat(d1, d2, d3))
			if strings.HasPrefix(strings.TrimSpace(text), "{") || strings.HasPrefix(strings.TrimSpace(text), "<") {
				if name != "" && (name != calls[0].name || args != calls[0].arguments) {
					t.Fatalf("%q: forced stream %s(%s), parse %s(%s)", text, name, args, calls[0].name, calls[0].arguments)
				}
			}
		}
	})
}

// streamedCall adds up the deltas of one call.
func streamedCall(deltas []toolDelta) (name, args string) {
	for _, d := range deltas {
		if d.header {
			name = d.name
		}
		args += d.args
	}
	return name, args
}

// TestForcedToolStream: a forced call streams its header once the name is complete and
// then its arguments piece by piece, compacted, adding up to the parsed call, however the
// reply is cut into pieces.
func TestForcedToolStream(t *testing.T) {
	defs := []toolDef{{name: "now"}, {name: "get_weather"}}
	for _, c := range []struct {
		format toolFormat
		text   string
	}{
		{formatLlama31, "{ \"name\": \"get_weather\", \"parameters\": {\n\"city\": \"a \\\"}\" , \"n\": [1, {\"x\": 2}]} }"},
		{formatLlama31, `{"name":"now","parameters":{}}`},
		{formatHermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"é}\"}}\n</tool_call>"},
	} {
		ts := &toolSetup{choice: "required", format: c.format, defs: defs}
		_, calls, ok := ts.parse(c.text)
		if !ok || len(calls) != 1 {
			t.Fatalf("%q does not parse", c.text)
		}
		for cut := 1; cut < len(c.text); cut++ {
			st := newToolStream(ts)
			var deltas []toolDelta
			for _, p := range []string{c.text[:cut], c.text[cut:]} {
				text, d := st.push(p)
				if text != "" {
					t.Fatalf("%q: content %q beside a forced call", c.text, text)
				}
				deltas = append(deltas, d...)
			}
			before := len(deltas)
			_, d, isCall := st.finish()
			deltas = append(deltas, d...)
			name, args := streamedCall(deltas)
			if !isCall || name != calls[0].name || args != calls[0].arguments || before == 0 {
				t.Fatalf("%q cut at %d: streamed %s(%s) (%d deltas before the end), parsed %s(%s)", c.text, cut, name, args, before, calls[0].name, calls[0].arguments)
			}
		}
	}
}
