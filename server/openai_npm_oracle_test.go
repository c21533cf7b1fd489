//go:build oracle

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// npmParams is get_weather's parameters schema in the npm test: strings bounded, so that
// greedy decoding of a random model ends.
const npmParams = `{"type":"object","properties":{"city":{"type":"string","minLength":1,"maxLength":16},"unit":{"enum":["celsius","fahrenheit"]}},"required":["city","unit"]}`

type npmChoice struct {
	Text   *string `json:"text"`
	Finish string  `json:"finish"`
}

type npmToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type npmMessage struct {
	Role      string        `json:"role"`
	Content   *string       `json:"content"`
	ToolCalls []npmToolCall `json:"tool_calls"`
}

type npmAPIChoice struct {
	FinishReason string     `json:"finish_reason"`
	Message      npmMessage `json:"message"`
}

// TestOpenAINpmClient drives servers on the tiny fixtures through the official openai npm
// client (testdata/openai/tools.mjs): on tiny-decilm, 100 sampled JSON-mode and 100
// sampled json_schema replies parse and validate; on tiny-nemotron with the Llama-3.1
// chat template,
// tool_choice required always yields a call whose arguments validate; a call made by the
// client's runTools helper runs the tool, its result goes back through the template and
// an answer comes; a streamed call assembled by the client equals the unstreamed one.
// Fails, never skips, when node or the package is missing.
func TestOpenAINpmClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	dir := testutil.NPMDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		t.Fatalf("openai not installed in %s (npm install --prefix %s openai@7.60.0, or set DECILM_HFJS): %v", dir, dir, err)
	}
	// JSON samples on tiny-decilm (Llama-2 vocabulary, 32,000 tokens), tools on
	// tiny-nemotron (Llama-3, 128,256) with the Llama-3.1 template.
	md, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	fd := newFixtureOn(t, md, engine.Options{QueueSize: 256}, Options{})
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-nemotron"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "llama-3.1-instruct.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Template, err = chat.FromJinja(string(src), chat.SpecialTokens{BOS: "<|begin_of_text|>", EOS: "<|eot_id|>"}); err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, m, engine.Options{QueueSize: 256}, Options{})

	script, err := os.ReadFile(filepath.Join("testdata", "openai", "tools.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	scriptPath := filepath.Join(dir, "decilm-openai-tools.mjs") // beside node_modules, for the import
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	outPath := filepath.Join(tmp, "out.json")
	var stderr bytes.Buffer
	cmd := exec.Command(node, scriptPath, fd.ts.URL+"/v1", f.ts.URL+"/v1", outPath, write("schema.json", testSchema), write("params.json", npmParams))
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node tools.mjs: %v\n%s", err, stderr.String())
	}
	t.Logf("node tools.mjs:\n%s", stderr.String())
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		JSONObject []npmChoice `json:"json_object"`
		JSONSchema []npmChoice `json:"json_schema"`
		Required   []struct {
			Finish  string     `json:"finish"`
			Message npmMessage `json:"message"`
		} `json:"required"`
		Roundtrip struct {
			Called   []map[string]any  `json:"called"`
			Messages []json.RawMessage `json:"messages"`
			Answer   npmAPIChoice      `json:"answer"`
			Usage    struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		} `json:"roundtrip"`
		Stream struct {
			Streamed npmAPIChoice `json:"streamed"`
			Plain    npmAPIChoice `json:"plain"`
		} `json:"stream"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}

	// JSON mode: every reply is a whole JSON object: json_object bounds no string, but
	// near max_tokens the mask keeps only the tokens that can still close it.
	var texts, finishes []string
	for i, c := range out.JSONObject {
		if c.Text == nil {
			t.Fatalf("JSON-mode reply %d has no content", i)
		}
		texts, finishes = append(texts, *c.Text), append(finishes, c.Finish)
	}
	checkJSONObjects(t, texts, finishes, 100)
	// json_schema: every reply validates.
	texts, finishes = nil, nil
	for _, c := range out.JSONSchema {
		if c.Text == nil {
			t.Fatal("a json_schema reply has no content")
		}
		texts, finishes = append(texts, *c.Text), append(finishes, c.Finish)
	}
	checkSchemaOutputs(t, texts, finishes, 100)

	params := compileSchema(t, npmParams)
	checkArgs := func(what string, c npmToolCall) {
		t.Helper()
		if !strings.HasPrefix(c.ID, "call_") || c.Type != "function" {
			t.Errorf("%s: id %q type %q", what, c.ID, c.Type)
		}
		switch c.Function.Name {
		case "get_weather":
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(c.Function.Arguments))
			if err == nil {
				err = params.Validate(inst)
			}
			if err != nil {
				t.Errorf("%s: arguments %q: %v", what, c.Function.Arguments, err)
			}
		case "now":
			if c.Function.Arguments != "{}" {
				t.Errorf("%s: now(%s)", what, c.Function.Arguments)
			}
		default:
			t.Errorf("%s: unknown function %q", what, c.Function.Name)
		}
	}
	// tool_choice required always yields a call.
	if len(out.Required) != 20 {
		t.Fatalf("%d required choices, want 20", len(out.Required))
	}
	names := map[string]int{}
	for i, c := range out.Required {
		if c.Finish != "tool_calls" || len(c.Message.ToolCalls) != 1 {
			t.Errorf("required choice %d: finish %q, message %+v", i, c.Finish, c.Message)
			continue
		}
		checkArgs("required", c.Message.ToolCalls[0])
		names[c.Message.ToolCalls[0].Function.Name]++
	}
	t.Logf("tool_choice required: calls by name %v", names)

	// The round trip: runTools ran get_weather with the parsed arguments, the
	// conversation came back with the tool's result, and the answer's prompt is the
	// template's rendering of it.
	rt := out.Roundtrip
	if len(rt.Called) != 1 || len(rt.Messages) != 3 {
		t.Fatalf("runTools: %d calls of the tool, %d messages", len(rt.Called), len(rt.Messages))
	}
	var asst npmMessage
	json.Unmarshal(rt.Messages[1], &asst)
	if asst.Role != "assistant" || len(asst.ToolCalls) != 1 {
		t.Fatalf("runTools' assistant message: %s", rt.Messages[1])
	}
	call := asst.ToolCalls[0]
	checkArgs("runTools", call)
	var tool struct {
		Role       string `json:"role"`
		ToolCallID string `json:"tool_call_id"`
		Content    string `json:"content"`
	}
	json.Unmarshal(rt.Messages[2], &tool)
	if tool.Role != "tool" || tool.ToolCallID != call.ID || tool.Content != `{"temperature":18}` {
		t.Errorf("runTools' tool message: %s", rt.Messages[2])
	}
	if rt.Answer.Message.Role != "assistant" || (rt.Answer.Message.Content == nil && len(rt.Answer.Message.ToolCalls) == 0) {
		t.Errorf("the answer: %+v", rt.Answer)
	}
	var tools []json.RawMessage
	json.Unmarshal([]byte(`[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":`+npmParams+`}},{"type":"function","function":{"name":"now","description":"The time"}}]`), &tools)
	want, err := m.EncodeChatOptions([]chat.Message{
		{Role: "user", Content: "Weather in Paris?"},
		{Role: "assistant", ToolCalls: []chat.ToolCall{{ID: call.ID, Type: "function", Function: chat.FunctionCall{Name: call.Function.Name, Arguments: json.RawMessage(call.Function.Arguments)}}}},
		{Role: "tool", ToolCallID: call.ID, Content: tool.Content},
	}, chat.Options{AddGenerationPrompt: true, Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Usage.PromptTokens != len(want) {
		t.Errorf("the answer's prompt has %d tokens; the conversation with the call and its result renders to %d", rt.Usage.PromptTokens, len(want))
	}
	t.Logf("round trip: get_weather(%s) → %s → %q (%s)", call.Function.Arguments, tool.Content, deref(rt.Answer.Message.Content), rt.Answer.FinishReason)

	// Streamed and unstreamed calls agree.
	s, p := out.Stream.Streamed, out.Stream.Plain
	if s.FinishReason != "tool_calls" || len(s.Message.ToolCalls) != 1 || len(p.Message.ToolCalls) != 1 {
		t.Fatalf("streamed %+v, unstreamed %+v", s, p)
	}
	checkArgs("streamed", s.Message.ToolCalls[0])
	if sf, pf := s.Message.ToolCalls[0].Function, p.Message.ToolCalls[0].Function; sf != pf {
		t.Errorf("streamed call %+v, unstreamed %+v", sf, pf)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}
