package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/grammar"
)

// Tool calling: a chat request's tools reach the model through its own chat template
// (chat.Render's tools), and the reply is parsed back into OpenAI's tool_calls. Two
// syntaxes are known, chosen by the template: Hermes-style templates (Qwen2.5,
// Hermes-2-Pro) ask for <tool_call>{"name": ..., "arguments": {...}}</tool_call>, and
// Llama-3.1's for a bare JSON object {"name": ..., "parameters": {...}} (after
// <|python_tag|> or not). tool_choice "required" or a named function constrains decoding
// with a grammar of that syntax, the function names and each function's parameters
// schema, so a call always comes out; "auto" leaves the text free and parses it; "none"
// still shows the tools to the template but parses nothing.

// toolFormat is the syntax of a template's tool calls.
type toolFormat int

const (
	formatLlama31 toolFormat = iota // {"name": ..., "parameters": {...}}
	formatHermes                    // <tool_call>{"name": ..., "arguments": {...}}</tool_call>
)

const (
	hermesOpen  = "<tool_call>"
	hermesClose = "</tool_call>"
	pythonTag   = "<|python_tag|>"
)

// formatOf is the tool-call syntax t's source asks for.
func formatOf(t chat.Template) toolFormat {
	if src, ok := chat.JinjaSource(t); ok && strings.Contains(src, hermesOpen) {
		return formatHermes
	}
	return formatLlama31
}

// toolDef is one function of a request's tools.
type toolDef struct {
	name   string
	params json.RawMessage // its parameters' JSON schema (no properties if none)
}

// toolSetup is a chat request's tool calling: the tools for the template, the choice,
// and the syntax to parse.
type toolSetup struct {
	raw    []json.RawMessage
	defs   []toolDef
	choice string // auto, none, required or function (named)
	named  string
	format toolFormat
}

// parses reports whether replies are parsed for tool calls.
func (ts *toolSetup) parses() bool { return ts != nil && ts.choice != "none" }

// toolsOf validates tools and tool_choice. It returns nil when the request has no tools;
// functions and function_call (OpenAI's deprecated fields) are refused.
func toolsOf(p *params, t chat.Template) (*toolSetup, error) {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"functions", p.Functions}, {"function_call", p.FunctionCall}} {
		if given(f.raw) {
			return nil, badRequest(f.name, "%s is OpenAI's deprecated form of tool calling and is not supported: send tools and tool_choice", f.name)
		}
	}
	if !given(p.Tools) {
		if given(p.ToolChoice) {
			var c string
			if json.Unmarshal(p.ToolChoice, &c) == nil && c == "none" {
				return nil, nil
			}
			return nil, badRequest("tool_choice", "tool_choice needs tools")
		}
		return nil, nil
	}
	var tools []json.RawMessage
	if err := json.Unmarshal(p.Tools, &tools); err != nil {
		return nil, badRequest("tools", "tools must be a list of tool objects: %v", err)
	}
	if len(tools) == 0 {
		return nil, badRequest("tools", "tools is an empty list; leave it out instead")
	}
	if len(tools) > 128 {
		return nil, badRequest("tools", "tools holds %d tools; at most 128", len(tools))
	}
	ts := &toolSetup{raw: tools, choice: "auto", format: formatOf(t)}
	seen := map[string]bool{}
	for i, raw := range tools {
		var tool struct {
			Type     string `json:"type"`
			Function *struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		}
		field := fmt.Sprintf("tools[%d]", i)
		if err := json.Unmarshal(raw, &tool); err != nil {
			return nil, badRequest(field, "%s must be an object {\"type\": \"function\", \"function\": {...}}: %v", field, err)
		}
		if tool.Type != "function" {
			return nil, badRequest(field+".type", "%s.type is %q; only \"function\" is supported", field, tool.Type)
		}
		if tool.Function == nil || tool.Function.Name == "" {
			return nil, badRequest(field+".function.name", "%s.function.name is missing", field)
		}
		name := tool.Function.Name
		if !validToolName(name) {
			return nil, badRequest(field+".function.name", "%s.function.name %q must be 1 to 64 letters, digits, underscores or dashes", field, name)
		}
		if seen[name] {
			return nil, badRequest(field+".function.name", "%s.function.name %q is given twice", field, name)
		}
		seen[name] = true
		params := tool.Function.Parameters
		if !given(params) {
			// OpenAI: omitting parameters defines a function with an empty parameter list.
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		} else if err := isObject(params); err != nil {
			return nil, badRequest(field+".function.parameters", "%s.function.parameters must be a JSON schema object", field)
		}
		ts.defs = append(ts.defs, toolDef{name: name, params: params})
	}
	if given(p.ToolChoice) {
		var c string
		if err := json.Unmarshal(p.ToolChoice, &c); err == nil {
			switch c {
			case "auto", "none", "required":
				ts.choice = c
			default:
				return nil, badRequest("tool_choice", "tool_choice %q is not auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", c)
			}
		} else {
			var named struct {
				Type     string `json:"type"`
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			}
			if err := json.Unmarshal(p.ToolChoice, &named); err != nil || named.Type != "function" {
				return nil, badRequest("tool_choice", "tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}")
			}
			if !seen[named.Function.Name] {
				return nil, badRequest("tool_choice", "tool_choice names the function %q, which is not among tools", named.Function.Name)
			}
			ts.choice, ts.named = "function", named.Function.Name
		}
	}
	return ts, nil
}

func validToolName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isObject(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m)
}

// grammar returns the grammar that forces a call for tool_choice required or a named
// function (nil otherwise): the call's syntax around a JSON object whose name is one of
// the allowed functions and whose arguments follow that function's parameters schema.
func (ts *toolSetup) grammar() (*grammar.Grammar, error) {
	if ts == nil || (ts.choice != "required" && ts.choice != "function") {
		return nil, nil
	}
	argsKey := "parameters"
	if ts.format == formatHermes {
		argsKey = "arguments"
	}
	var alts []string
	for _, d := range ts.defs {
		if ts.choice == "function" && d.name != ts.named {
			continue
		}
		name, _ := json.Marshal(d.name)
		alts = append(alts, fmt.Sprintf(`{"type":"object","properties":{"name":{"const":%s},%q:%s},"required":["name",%q]}`, name, argsKey, d.params, argsKey))
	}
	schema := alts[0]
	if len(alts) > 1 {
		schema = `{"anyOf":[` + strings.Join(alts, ",") + `]}`
	}
	g, err := grammar.FromJSONSchema([]byte(schema))
	if err != nil {
		return nil, badRequest("tools", "tool_choice %s needs each function's parameters as a JSON schema the grammar supports: %v", ts.choice, err)
	}
	if ts.format == formatHermes {
		g = grammar.Wrap(hermesOpen+"\n", g, "\n"+hermesClose)
	}
	return g, nil
}

// toolCall is a parsed call.
type toolCall struct {
	name, arguments string // arguments: compact JSON text
}

// parse splits a reply into its text content and tool calls; ok is false when the reply
// holds no well-formed call of a known function (it is then all content).
func (ts *toolSetup) parse(text string) (content string, calls []toolCall, ok bool) {
	if !ts.parses() {
		return text, nil, false
	}
	if ts.format == formatHermes {
		return ts.parseHermes(text)
	}
	calls, ok = ts.parseJSONCalls(strings.TrimPrefix(strings.TrimSpace(text), pythonTag), "parameters", ";")
	if !ok {
		return text, nil, false
	}
	return "", calls, true
}

// parseHermes reads <tool_call>...</tool_call> blocks; the text before the first is the
// content.
func (ts *toolSetup) parseHermes(text string) (string, []toolCall, bool) {
	i := strings.Index(text, hermesOpen)
	if i < 0 {
		return text, nil, false
	}
	content := strings.TrimSpace(text[:i])
	rest := text[i:]
	var calls []toolCall
	for {
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if !strings.HasPrefix(rest, hermesOpen) {
			return text, nil, false
		}
		end := strings.Index(rest, hermesClose)
		if end < 0 {
			return text, nil, false
		}
		c, ok := ts.parseJSONCalls(rest[len(hermesOpen):end], "arguments", "")
		if !ok || len(c) != 1 {
			return text, nil, false
		}
		calls = append(calls, c...)
		rest = rest[end+len(hermesClose):]
	}
	return content, calls, true
}

// parseJSONCalls reads one or more JSON objects {"name": ..., argsKey: {...}} (also
// accepting "arguments" or "parameters" for the other), separated by white space or sep.
func (ts *toolSetup) parseJSONCalls(s, argsKey, sep string) ([]toolCall, bool) {
	var calls []toolCall
	for {
		s = strings.TrimSpace(s)
		if sep != "" {
			s = strings.TrimSpace(strings.TrimPrefix(s, sep))
		}
		if s == "" {
			break
		}
		if s[0] != '{' {
			return nil, false
		}
		d := json.NewDecoder(strings.NewReader(s))
		var obj map[string]json.RawMessage
		if err := d.Decode(&obj); err != nil {
			return nil, false
		}
		s = s[d.InputOffset():]
		var name string
		if err := json.Unmarshal(obj["name"], &name); err != nil || !ts.known(name) {
			return nil, false
		}
		args, ok := obj[argsKey]
		if !ok {
			other := map[string]string{"parameters": "arguments", "arguments": "parameters"}[argsKey]
			args, ok = obj[other]
		}
		if !ok || isObject(args) != nil {
			return nil, false
		}
		var b bytes.Buffer
		if err := json.Compact(&b, args); err != nil {
			return nil, false
		}
		calls = append(calls, toolCall{name: name, arguments: b.String()})
	}
	return calls, len(calls) > 0
}

func (ts *toolSetup) known(name string) bool {
	for _, d := range ts.defs {
		if d.name == name {
			return true
		}
	}
	return false
}

// toolCallsJSON is the tool_calls list of a message, with fresh ids.
func toolCallsJSON(calls []toolCall) []map[string]any {
	out := make([]map[string]any, len(calls))
	for i, c := range calls {
		out[i] = map[string]any{"id": newID("call_"), "type": "function",
			"function": map[string]any{"name": c.name, "arguments": c.arguments}}
	}
	return out
}

// toolStream filters one streamed choice's text: content streams as it comes until the
// text may be a tool call, from where it is held back; finish parses what was held. When
// the call is forced (tool_choice required or named, so the grammar fixes its syntax),
// the call streams as it is generated instead: its header (id and name) once the name is
// complete, then the arguments, compacted, piece by piece.
type toolStream struct {
	ts     *toolSetup
	held   strings.Builder // text from the possible start of a call
	all    strings.Builder // the whole reply
	hold   bool
	forced bool
	header bool   // forced: the call's header was sent
	args   string // forced: the arguments sent so far
	sc     argScanner
}

// toolDelta is one streamed piece of a call: its header (id, type and name) or a piece of
// its arguments.
type toolDelta struct {
	index    int
	header   bool
	id, name string
	args     string
}

func newToolStream(ts *toolSetup) *toolStream {
	return &toolStream{ts: ts, forced: ts.choice == "required" || ts.choice == "function"}
}

// callHeader matches the start of a forced call up to its arguments, by syntax.
var callHeader = map[toolFormat]*regexp.Regexp{
	formatLlama31: regexp.MustCompile(`^\s*(?:<\|python_tag\|>)?\s*\{\s*"name"\s*:\s*"([A-Za-z0-9_-]+)"\s*,\s*"(?:parameters|arguments)"\s*:\s*`),
	formatHermes:  regexp.MustCompile(`^\s*<tool_call>\s*\{\s*"name"\s*:\s*"([A-Za-z0-9_-]+)"\s*,\s*"arguments"\s*:\s*`),
}

// push takes the next piece of the reply and returns the content and call pieces to send
// now.
func (st *toolStream) push(text string) (string, []toolDelta) {
	st.all.WriteString(text)
	if st.forced {
		var out []toolDelta
		if !st.header {
			all := st.all.String()
			m := callHeader[st.ts.format].FindStringSubmatchIndex(all)
			if m == nil {
				return "", nil
			}
			st.header = true
			out = append(out, toolDelta{header: true, id: newID("call_"), name: all[m[2]:m[3]]})
			text = all[m[1]:]
		}
		if a := st.sc.feed(text); a != "" {
			st.args += a
			out = append(out, toolDelta{args: a})
		}
		return "", out
	}
	if st.hold {
		st.held.WriteString(text)
		return "", nil
	}
	st.held.WriteString(text)
	h := st.held.String()
	var start int
	if st.ts.format == formatHermes {
		// Content before <tool_call> streams; hold from where the tag may begin.
		start = strings.Index(h, hermesOpen)
		if start < 0 {
			start = partialSuffix(h, hermesOpen)
		} else {
			st.hold = true
		}
	} else {
		// A Llama-3.1 call is the whole reply: hold while the reply so far (without
		// leading space) may start one.
		t := strings.TrimLeft(h, " \t\r\n")
		if t == "" || strings.HasPrefix(t, "{") || strings.HasPrefix(t, pythonTag) || strings.HasPrefix(pythonTag, t) {
			st.hold = t != "" && (strings.HasPrefix(t, "{") || strings.HasPrefix(t, pythonTag))
			return "", nil
		}
		st.held.Reset()
		st.ts = &toolSetup{choice: "none"} // the reply is not a call: stream the rest
		return h, nil
	}
	out := h[:start]
	rest := h[start:]
	st.held.Reset()
	st.held.WriteString(rest)
	return out, nil
}

// finish ends the reply: it returns the held text as content when the reply holds no call,
// or the pieces of the calls not yet sent, and whether the reply is a call.
func (st *toolStream) finish() (content string, deltas []toolDelta, isCall bool) {
	if !st.ts.parses() {
		return st.held.String(), nil, false
	}
	_, calls, ok := st.ts.parse(st.all.String())
	switch {
	case !ok && st.forced:
		return "", nil, false // cut short (max_tokens): what was sent stays
	case !ok:
		return st.held.String(), nil, false
	case st.forced && st.header:
		// The call streamed already; send any arguments the scanner did not.
		if a := calls[0].arguments; len(calls) == 1 && strings.HasPrefix(a, st.args) && len(a) > len(st.args) {
			deltas = append(deltas, toolDelta{args: a[len(st.args):]})
		}
		return "", deltas, true
	}
	for i, c := range calls {
		deltas = append(deltas, toolDelta{index: i, header: true, id: newID("call_"), name: c.name})
		for _, piece := range argumentPieces(c.arguments, 16) {
			deltas = append(deltas, toolDelta{index: i, args: piece})
		}
	}
	return "", deltas, true // content before the calls has been streamed already
}

// argScanner passes a JSON object through with the white space between its tokens taken
// out (as json.Compact writes it), up to the brace that closes it.
type argScanner struct {
	depth               int
	inStr, esc, started bool
	done                bool
}

func (a *argScanner) feed(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && !a.done; i++ {
		c := s[i]
		switch {
		case a.inStr:
			b.WriteByte(c)
			switch {
			case a.esc:
				a.esc = false
			case c == '\\':
				a.esc = true
			case c == '"':
				a.inStr = false
			}
		case c == ' ' || c == '\n' || c == '\t' || c == '\r':
		case !a.started && c != '{':
			a.done = true // not an object: finish sends the rest, if it is a call at all
		default:
			a.started = true
			b.WriteByte(c)
			switch c {
			case '"':
				a.inStr = true
			case '{', '[':
				a.depth++
			case '}', ']':
				a.depth--
				a.done = a.depth == 0
			}
		}
	}
	return b.String()
}

// partialSuffix is the start of the longest suffix of s that is a proper prefix of tag
// (len(s) when none).
func partialSuffix(s, tag string) int {
	for k := min(len(tag)-1, len(s)); k > 0; k-- {
		if strings.HasSuffix(s, tag[:k]) {
			return len(s) - k
		}
	}
	return len(s)
}

// chatToolCalls converts a request message's tool calls for the template: arguments
// that OpenAI sends as a string holding a JSON object become that object, so templates
// that write arguments | tojson show the object, as transformers' users pass it.
func chatToolCalls(i int, raw []requestToolCall) ([]chat.ToolCall, error) {
	var out []chat.ToolCall
	for j, c := range raw {
		field := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
		if c.Function.Name == "" {
			return nil, badRequest(field+".function.name", "%s.function.name is missing", field)
		}
		args := c.Function.Arguments
		var s string
		if json.Unmarshal(args, &s) == nil {
			if isObject(json.RawMessage(s)) == nil {
				args = json.RawMessage(s)
			}
		} else if !given(args) {
			args = json.RawMessage(`{}`)
		}
		typ := c.Type
		if typ == "" {
			typ = "function"
		}
		out = append(out, chat.ToolCall{ID: c.ID, Type: typ, Function: chat.FunctionCall{Name: c.Function.Name, Arguments: args}})
	}
	return out, nil
}

// requestToolCall is a tool call of a request's assistant message.
type requestToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

// chatTools reads a chat request's tools and tool_choice for the engine's model: the
// template must show tools, and a forced call's grammar goes into x (where a grammar
// from response_format, grammar or json_schema would conflict).
func (s *Server) chatTools(p *params, e *engine.Engine, x *extra) (*toolSetup, error) {
	ts, err := templateTools(p, e)
	if err != nil || ts == nil {
		return nil, err
	}
	g, err := ts.grammar()
	if err != nil {
		return nil, err
	}
	if g != nil {
		if x.grammar != nil {
			return nil, badRequest("tool_choice", "tool_choice %s constrains the reply to a tool call; it cannot be combined with response_format, grammar or json_schema", ts.choice)
		}
		x.grammar = g
	}
	return ts, nil
}

// templateTools reads a request's tools and tool_choice (toolsOf) for the engine's
// model, whose template must show tools.
func templateTools(p *params, e *engine.Engine) (*toolSetup, error) {
	t := e.Model().Template
	ts, err := toolsOf(p, t)
	if err != nil || ts == nil {
		return nil, err
	}
	if src, ok := chat.JinjaSource(t); !ok || !strings.Contains(src, "tools") {
		return nil, badRequest("tools", "the model's chat template (%s) does not show tools to the model; serve it with a template that does (a Jinja file with tool calling, such as Llama-3.1's or a Hermes-style one)", t.Name())
	}
	return ts, nil
}

// sendToolDeltas streams pieces of calls as OpenAI does: per call a delta with its index,
// id, type and name (arguments empty), then deltas with pieces of the arguments.
func (rs *run) sendToolDeltas(send func(any) bool, chunk func(map[string]any) map[string]any, index int, deltas []toolDelta) bool {
	for _, d := range deltas {
		call := map[string]any{"index": d.index, "function": map[string]any{"arguments": d.args}}
		if d.header {
			call = map[string]any{"index": d.index, "id": d.id, "type": "function", "function": map[string]any{"name": d.name, "arguments": ""}}
		}
		if !send(chunk(map[string]any{"index": index, "delta": map[string]any{"tool_calls": []any{call}}, "logprobs": nil, "finish_reason": nil})) {
			return false
		}
	}
	return true
}

// argumentPieces splits s into pieces of about n bytes, on character boundaries.
func argumentPieces(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		k := min(n, len(s))
		for k < len(s) && !utf8.RuneStart(s[k]) {
			k++
		}
		out = append(out, s[:k])
		s = s[k:]
	}
	return out
}

// noTools refuses the tool-calling fields on /v1/completions, which has no messages to
// carry calls and results.
func noTools(p *params) error {
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"tools", p.Tools}, {"tool_choice", p.ToolChoice}, {"functions", p.Functions}, {"function_call", p.FunctionCall}} {
		if given(f.raw) {
			return badRequest(f.name, "%s is a chat field: send it to /v1/chat/completions", f.name)
		}
	}
	return nil
}
