package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// params are the request fields chat and completions share. Fields beyond OpenAI's
// (top_k, min_p, repeat_penalty, ignore_eos) follow llama.cpp's server.
type params struct {
	Model            string             `json:"model"`
	MaxTokens        *int               `json:"max_tokens"`
	Temperature      *float64           `json:"temperature"`
	TopP             *float64           `json:"top_p"`
	TopK             *int               `json:"top_k"`
	MinP             *float64           `json:"min_p"`
	RepeatPenalty    *float64           `json:"repeat_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	Seed             *int64             `json:"seed"`
	N                *int               `json:"n"`
	Stop             json.RawMessage    `json:"stop"`
	Stream           bool               `json:"stream"`
	StreamOptions    *streamOptions     `json:"stream_options"`
	LogitBias        map[string]float64 `json:"logit_bias"`
	IgnoreEOS        bool               `json:"ignore_eos"`
	// vLLM's extensions.
	MinTokens    *int  `json:"min_tokens"`
	StopTokenIDs []int `json:"stop_token_ids"`
	// Structured output: OpenAI's response_format, llama.cpp's grammar and json_schema.
	ResponseFormat json.RawMessage `json:"response_format"`
	Grammar        *string         `json:"grammar"`
	JSONSchema     json.RawMessage `json:"json_schema"`
	// Tool calling (chat only; see tools.go). functions and function_call, OpenAI's
	// deprecated form, are refused with 400 rather than ignored. parallel_tool_calls is
	// accepted; a forced call (tool_choice required or named) is one call.
	Tools             json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage `json:"tool_choice"`
	ParallelToolCalls *bool           `json:"parallel_tool_calls"`
	Functions         json.RawMessage `json:"functions"`
	FunctionCall      json.RawMessage `json:"function_call"`
}

// given reports whether an optional JSON field was sent with a value.
func given(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatRequest struct {
	params
	Messages            []chatMessage `json:"messages"`
	MaxCompletionTokens *int          `json:"max_completion_tokens"`
	Logprobs            bool          `json:"logprobs"`
	TopLogprobs         *int          `json:"top_logprobs"`
}

type chatMessage struct {
	Role       string            `json:"role"`
	Content    json.RawMessage   `json:"content"`
	ToolCalls  []requestToolCall `json:"tool_calls"`
	ToolCallID string            `json:"tool_call_id"`
	Name       string            `json:"name"`
}

type completionRequest struct {
	params
	Prompt   json.RawMessage `json:"prompt"`
	Echo     bool            `json:"echo"`
	Logprobs *int            `json:"logprobs"`
	Suffix   *string         `json:"suffix"`
}

const maxTopLogprobs = 20

// decodeBody reads a JSON request body.
func decodeBody(r *http.Request, v any) error {
	err := json.NewDecoder(r.Body).Decode(v)
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return badRequest("", "the request body is empty; send a JSON object")
	}
	return badRequest("", "invalid JSON body: %v", err)
}

// job is one choice to generate.
type job struct {
	index      int
	prompt     []int
	promptText string
	req        engine.Request
}

// common validates the shared parameters and returns the sampling settings (without the
// seed), the stop strings and n.
func (s *Server) common(p *params, e *engine.Engine) (sample.Options, []string, int, error) {
	var o sample.Options
	if _, err := s.lookupModel(p.Model, e); err != nil {
		return o, nil, 0, err
	}
	o.Temperature = 1
	if p.Temperature != nil {
		if *p.Temperature < 0 || *p.Temperature > 2 || math.IsNaN(*p.Temperature) {
			return o, nil, 0, badRequest("temperature", "temperature %v is outside [0, 2]", *p.Temperature)
		}
		o.Temperature = float32(*p.Temperature)
	}
	if p.TopP != nil {
		if !(*p.TopP > 0 && *p.TopP <= 1) {
			return o, nil, 0, badRequest("top_p", "top_p %v is outside (0, 1]", *p.TopP)
		}
		o.TopP = float32(*p.TopP)
	}
	if p.TopK != nil {
		o.TopK = *p.TopK
	}
	if p.MinP != nil {
		o.MinP = float32(*p.MinP)
	}
	if p.RepeatPenalty != nil {
		o.RepeatPenalty = float32(*p.RepeatPenalty)
	}
	if p.FrequencyPenalty != nil {
		o.FrequencyPenalty = float32(*p.FrequencyPenalty)
		o.RepeatLastN = -1
	}
	if p.PresencePenalty != nil {
		o.PresencePenalty = float32(*p.PresencePenalty)
		o.RepeatLastN = -1
	}
	if len(p.LogitBias) > 0 {
		o.LogitBias = map[int]float32{}
		for k, v := range p.LogitBias {
			id, err := strconv.Atoi(k)
			if err != nil || id < 0 {
				return o, nil, 0, badRequest("logit_bias", "logit_bias key %q is not a token id", k)
			}
			if v < -100 || v > 100 || math.IsNaN(v) {
				return o, nil, 0, badRequest("logit_bias", "logit_bias of token %d is %v, outside [-100, 100]", id, v)
			}
			o.LogitBias[id] = float32(v)
		}
	}
	if err := o.Validate(); err != nil {
		return o, nil, 0, badRequest("", "%v", err)
	}
	var stop []string
	if len(p.Stop) > 0 && string(p.Stop) != "null" {
		var one string
		if err := json.Unmarshal(p.Stop, &one); err == nil {
			stop = []string{one}
		} else if err := json.Unmarshal(p.Stop, &stop); err != nil {
			return o, nil, 0, badRequest("stop", "stop must be a string or a list of strings")
		}
		if len(stop) > 4 {
			return o, nil, 0, badRequest("stop", "at most 4 stop strings, got %d", len(stop))
		}
	}
	n := 1
	if p.N != nil {
		n = *p.N
		if n < 1 || n > s.opt.MaxN {
			return o, nil, 0, badRequest("n", "n is %d; it must be between 1 and %d", n, s.opt.MaxN)
		}
	}
	return o, stop, n, nil
}

// maxTokens resolves max_tokens for a prompt of promptLen tokens.
func (s *Server) maxTokens(e *engine.Engine, given *int, def, promptLen int, allowZero bool) (int, error) {
	ctxL := e.ContextLength()
	limit := s.opt.MaxTokens
	if limit <= 0 {
		limit = ctxL
	}
	if given == nil {
		if promptLen >= ctxL {
			return 0, s.overflow(ctxL, promptLen, 1)
		}
		if def <= 0 {
			def = limit
		}
		// Without an explicit max_tokens, ask for no more than the KV budget can hold.
		fit := int(e.Options().KVBudget/max(e.KVBytesPerToken(), 1)) - promptLen
		return max(min(def, limit, ctxL-promptLen, fit), 1), nil
	}
	mt := *given
	switch {
	case mt < 0 || (mt == 0 && !allowZero):
		return 0, badRequest("max_tokens", "max_tokens is %d; it must be at least 1", mt)
	case mt > limit:
		return 0, badRequest("max_tokens", "max_tokens is %d; this server allows at most %d", mt, limit)
	case promptLen+mt > ctxL && !(mt == 0 && promptLen == ctxL):
		return 0, s.overflow(ctxL, promptLen, mt)
	}
	return mt, nil
}

func (s *Server) overflow(ctxL, prompt, completion int) error {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "context_length_exceeded", param: "messages",
		msg: fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the prompt, %d for the completion). Please reduce the length of the prompt or max_tokens.",
			ctxL, prompt+completion, prompt, completion)}
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func seedFor(p *params, i int) uint64 {
	if p.Seed != nil {
		return uint64(*p.Seed) + uint64(i)
	}
	return randomSeed()
}

// messageText reads a message's content: a string, or a list of parts of which the text
// ones are joined.
func messageText(i int, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(fmt.Sprintf("messages[%d].content", i), "messages[%d].content must be a string or a list of content parts", i)
	}
	var b strings.Builder
	for j, p := range parts {
		if p.Type != "text" {
			return "", badRequest(fmt.Sprintf("messages[%d].content[%d].type", i, j), "content part type %q is not supported (only text)", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// chatMessages checks a request's messages and converts them.
func (s *Server) chatMessages(e *engine.Engine, raw []chatMessage) ([]chat.Message, error) {
	if len(raw) == 0 {
		return nil, badRequest("messages", "messages must hold at least one message")
	}
	msgs := make([]chat.Message, len(raw))
	size := 0
	for i, m := range raw {
		text, err := messageText(i, m.Content)
		if err != nil {
			return nil, err
		}
		role := m.Role
		if role == "developer" {
			role = chat.RoleSystem
		}
		if role != chat.RoleSystem && role != chat.RoleUser && role != chat.RoleAssistant && role != chat.RoleTool {
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d].role %q is not system, user, assistant or tool", i, m.Role)
		}
		if len(m.ToolCalls) > 0 && role != chat.RoleAssistant {
			return nil, badRequest(fmt.Sprintf("messages[%d].tool_calls", i), "messages[%d] has tool_calls but its role is %q, not assistant", i, m.Role)
		}
		calls, err := chatToolCalls(i, m.ToolCalls)
		if err != nil {
			return nil, err
		}
		msgs[i] = chat.Message{Role: role, Content: text, ToolCalls: calls, ToolCallID: m.ToolCallID, Name: m.Name}
		for _, c := range calls {
			size += len(c.Function.Arguments)
		}
		size += len(text)
	}
	if err := s.textFits(e, size); err != nil {
		return nil, err
	}
	return msgs, nil
}

// templateError is the 400 for a chat template that fails to render msgs (a template
// error, a sandbox limit, or a panic inside the template engine).
func templateError(err error) error {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "template_error", param: "messages",
		msg: "rendering the chat template: " + err.Error()}
}

// promptOptions are the template options of a chat prompt: the assistant's cue at the
// end, and the request's tools.
func promptOptions(tools []json.RawMessage) chat.Options {
	return chat.Options{AddGenerationPrompt: true, Tools: tools}
}

// render returns the prompt text the model's chat template makes of msgs and tools, as
// encodeChat tokenizes it.
func (s *Server) render(e *engine.Engine, msgs []chat.Message, tools []json.RawMessage) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, err = "", templateError(fmt.Errorf("%v", r))
		}
	}()
	text, err = chat.Render(e.Model().Template, msgs, promptOptions(tools))
	if err != nil {
		return "", templateError(err)
	}
	return text, nil
}

// encodeChat renders msgs (and tools) with the model's template and tokenizes the prompt.
func (s *Server) encodeChat(e *engine.Engine, msgs []chat.Message, tools []json.RawMessage) (ids []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			ids, err = nil, templateError(fmt.Errorf("%v", r))
		}
	}()
	ids, err = e.Model().EncodeChatOptions(msgs, promptOptions(tools))
	if err != nil {
		return nil, templateError(err)
	}
	return ids, nil
}

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	start := time.Now()
	var req chatRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	rs, err := s.chatRun(&req, e)
	if err != nil {
		return err
	}
	rs.start = start
	return rs.do(w, r)
}

// chatRun validates a chat request and prepares its choices.
func (s *Server) chatRun(req *chatRequest, e *engine.Engine) (*run, error) {
	so, stop, n, err := s.common(&req.params, e)
	if err != nil {
		return nil, err
	}
	x, err := s.extras(&req.params, e)
	if err != nil {
		return nil, err
	}
	msgs, err := s.chatMessages(e, req.Messages)
	if err != nil {
		return nil, err
	}
	ad, err := s.lookupModel(req.Model, e)
	if err != nil {
		return nil, err
	}
	ts, err := s.chatTools(&req.params, e, &x)
	if err != nil {
		return nil, err
	}
	var tools []json.RawMessage
	if ts != nil {
		tools = ts.raw
	}
	prompt, err := s.encodeChat(e, msgs, tools)
	if err != nil {
		return nil, err
	}
	mtp := req.MaxCompletionTokens
	if mtp == nil {
		mtp = req.MaxTokens
	}
	mt, err := s.maxTokens(e, mtp, 0, len(prompt), false)
	if err != nil {
		return nil, err
	}
	top := 0
	if req.TopLogprobs != nil {
		top = *req.TopLogprobs
		if top < 0 || top > maxTopLogprobs {
			return nil, badRequest("top_logprobs", "top_logprobs is %d; it must be between 0 and %d", top, maxTopLogprobs)
		}
		if top > 0 && !req.Logprobs {
			return nil, badRequest("top_logprobs", "top_logprobs needs logprobs set to true")
		}
	}
	jobs := make([]job, n)
	for i := range jobs {
		o := so
		o.Seed = seedFor(&req.params, i)
		jobs[i] = job{index: i, prompt: prompt, req: engine.Request{
			Prompt: prompt, MaxTokens: mt, Sampling: o, Stop: stop, IgnoreEOS: req.IgnoreEOS,
			MinTokens: x.minTokens, StopTokenIDs: req.StopTokenIDs, Grammar: x.grammar,
			Logprobs: req.Logprobs, TopLogprobs: top, Adapter: ad,
		}}
	}
	return &run{s: s, e: e, id: newID("chatcmpl-"), model: s.responseModel(req.Model, e), created: time.Now().Unix(), chat: true, tools: ts,
		stream: req.Stream, usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, jobs: jobs, promptTokens: len(prompt)}, nil
}

func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	start := time.Now()
	var req completionRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	rs, err := s.completionsRun(&req, e)
	if err != nil {
		return err
	}
	rs.start = start
	return rs.do(w, r)
}

// completionsRun validates a completions request and prepares its choices.
func (s *Server) completionsRun(req *completionRequest, e *engine.Engine) (*run, error) {
	so, stop, n, err := s.common(&req.params, e)
	if err != nil {
		return nil, err
	}
	x, err := s.extras(&req.params, e)
	if err != nil {
		return nil, err
	}
	if err := noTools(&req.params); err != nil {
		return nil, err
	}
	if req.Suffix != nil && *req.Suffix != "" {
		return nil, badRequest("suffix", "suffix is not supported")
	}
	prompts, texts, err := s.parsePrompt(e, req.Prompt)
	if err != nil {
		return nil, err
	}
	ad, err := s.lookupModel(req.Model, e)
	if err != nil {
		return nil, err
	}
	top, lp := 0, false
	if req.Logprobs != nil {
		top = *req.Logprobs
		if top < 0 || top > maxTopLogprobs {
			return nil, badRequest("logprobs", "logprobs is %d; it must be between 0 and %d", top, maxTopLogprobs)
		}
		lp = true
	}
	var jobs []job
	total := 0
	for pi, p := range prompts {
		mt, err := s.maxTokens(e, req.MaxTokens, 16, len(p), req.Echo)
		if err != nil {
			return nil, err
		}
		total += len(p)
		for i := 0; i < n; i++ {
			o := so
			o.Seed = seedFor(&req.params, i)
			jobs = append(jobs, job{index: pi*n + i, prompt: p, promptText: texts[pi], req: engine.Request{
				Prompt: p, MaxTokens: mt, Sampling: o, Stop: stop, IgnoreEOS: req.IgnoreEOS,
				MinTokens: x.minTokens, StopTokenIDs: req.StopTokenIDs, Grammar: x.grammar,
				Logprobs: lp, TopLogprobs: top, PromptLogprobs: req.Echo && lp, Adapter: ad,
			}})
		}
	}
	return &run{s: s, e: e, id: newID("cmpl-"), model: s.responseModel(req.Model, e), created: time.Now().Unix(),
		stream: req.Stream, usage: req.StreamOptions != nil && req.StreamOptions.IncludeUsage, jobs: jobs,
		echo: req.Echo, promptTokens: total}, nil
}

// parsePrompt reads a completions prompt: a string, a list of strings, a list of token
// ids or a list of lists of token ids. It returns the ids and texts of each prompt.
func (s *Server) parsePrompt(e *engine.Engine, raw json.RawMessage) ([][]int, []string, error) {
	lm := e.Model()
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, badRequest("prompt", "prompt is missing")
	}
	fromText := func(t string) ([]int, error) {
		if err := s.textFits(e, len(t)); err != nil {
			return nil, err
		}
		ids := lm.Encode(t, nil)
		if len(ids) == 0 {
			ids = []int{max(lm.Net.Config.BOS, 0)}
		}
		return ids, nil
	}
	fromIDs := func(ids []int) ([]int, string, error) {
		if len(ids) == 0 {
			return nil, "", badRequest("prompt", "a token-id prompt is empty")
		}
		for _, id := range ids {
			if id < 0 || id >= lm.Net.Config.Vocab {
				return nil, "", badRequest("prompt", "prompt token %d is outside the vocabulary [0,%d)", id, lm.Net.Config.Vocab)
			}
		}
		text, err := lm.Tokenizer.Decode(ids)
		if err != nil {
			text = ""
		}
		return ids, text, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		ids, err := fromText(one)
		if err != nil {
			return nil, nil, err
		}
		return [][]int{ids}, []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		if len(many) == 0 || len(many) > s.opt.MaxPrompts {
			return nil, nil, badRequest("prompt", "prompt holds %d strings; send 1 to %d", len(many), s.opt.MaxPrompts)
		}
		var ids [][]int
		for _, t := range many {
			x, err := fromText(t)
			if err != nil {
				return nil, nil, err
			}
			ids = append(ids, x)
		}
		return ids, many, nil
	}
	var toks []int
	if err := json.Unmarshal(raw, &toks); err == nil {
		ids, text, err := fromIDs(toks)
		if err != nil {
			return nil, nil, err
		}
		return [][]int{ids}, []string{text}, nil
	}
	var lists [][]int
	if err := json.Unmarshal(raw, &lists); err == nil {
		if len(lists) == 0 || len(lists) > s.opt.MaxPrompts {
			return nil, nil, badRequest("prompt", "prompt holds %d token lists; send 1 to %d", len(lists), s.opt.MaxPrompts)
		}
		var ids [][]int
		var texts []string
		for _, l := range lists {
			x, t, err := fromIDs(l)
			if err != nil {
				return nil, nil, err
			}
			ids = append(ids, x)
			texts = append(texts, t)
		}
		return ids, texts, nil
	}
	return nil, nil, badRequest("prompt", "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids")
}

// tokenText is how a token shows in logprobs: its piece with spaces for "▁", and the
// byte itself for a byte-fallback piece.
func tokenText(t *tokenizer.Tokenizer, id int) string {
	p := t.Piece(id)
	if t.Type(id) == tokenizer.Byte && len(p) == 6 && strings.HasPrefix(p, "<0x") {
		if v, err := strconv.ParseUint(p[3:5], 16, 8); err == nil {
			return string([]byte{byte(v)})
		}
	}
	return strings.ReplaceAll(p, "▁", " ")
}

func tokenBytes(s string) []int {
	b := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		b[i] = int(s[i])
	}
	return b
}

// run is one API call in progress: its choices, and how to answer.
type run struct {
	s            *Server
	e            *engine.Engine
	start        time.Time
	id, model    string
	created      int64
	chat, echo   bool
	stream       bool
	usage        bool
	jobs         []job
	promptTokens int
	tools        *toolSetup // a chat's tool calling, or nil
	// For timings: prompt tokens computed (not cached), and when the last prefill ended.
	computed    int
	prefillDone time.Time
}

// timing records a finished choice for the timings object.
func (rs *run) timing(ev engine.Event) {
	rs.computed += ev.PromptTokens - ev.CachedTokens
	if ev.PrefillDone.After(rs.prefillDone) {
		rs.prefillDone = ev.PrefillDone
	}
}

// timings is llama-server's timings object for the request: prompt_n prompt tokens
// computed (those the prompt cache held are not counted) in prompt_ms from receiving the
// request to the end of the last prefill, predicted_n tokens generated in predicted_ms
// after it.
func (rs *run) timings(predicted int) map[string]float64 {
	end := time.Now()
	pd := rs.prefillDone
	if pd.IsZero() {
		pd = end
	}
	pms := float64(pd.Sub(rs.start).Microseconds()) / 1000
	gms := float64(end.Sub(pd).Microseconds()) / 1000
	per := func(ms float64, n int) (perTok, perSec float64) {
		if n > 0 && ms > 0 {
			return ms / float64(n), 1000 * float64(n) / ms
		}
		return 0, 0
	}
	ppt, pps := per(pms, rs.computed)
	gpt, gps := per(gms, predicted)
	return map[string]float64{
		"prompt_n": float64(rs.computed), "prompt_ms": pms, "prompt_per_token_ms": ppt, "prompt_per_second": pps,
		"predicted_n": float64(predicted), "predicted_ms": gms, "predicted_per_token_ms": gpt, "predicted_per_second": gps,
	}
}

type indexedEvent struct {
	job *job
	ev  engine.Event
}

// do submits the jobs and answers, streamed or not.
func (rs *run) do(w http.ResponseWriter, r *http.Request) error {
	if q := rs.e.Options().QueueSize; len(rs.jobs) > q {
		return badRequest("n", "this request makes %d sequences (prompts × n); the server queues at most %d at a time (its --queue): send fewer prompts or a smaller n", len(rs.jobs), q)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	merged := make(chan indexedEvent, 64)
	var wg sync.WaitGroup
	for i := range rs.jobs {
		j := &rs.jobs[i]
		ch, err := rs.e.Submit(ctx, j.req)
		if err != nil {
			return err // cancel() ends the jobs already submitted
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				select {
				case merged <- indexedEvent{j, ev}:
				case <-done:
				}
			}
		}()
	}
	go func() { wg.Wait(); close(merged) }()
	if rs.stream {
		return rs.streamOut(w, ctx, merged)
	}
	return rs.collectOut(w, ctx, merged)
}

// choiceState accumulates one choice.
type choiceState struct {
	text       strings.Builder
	tokens     []engine.Token
	promptLP   []engine.Token
	finish     string
	completion int
	last       time.Time
	started    bool
	echoed     bool
	tools      *toolStream // a streamed chat's tool-call filter
}

// observe records metrics for an event.
func (rs *run) observe(st *choiceState, ev engine.Event) {
	m := rs.s.metrics
	now := time.Now()
	if ev.Token != nil {
		if !st.started {
			m.ttft.observe(now.Sub(rs.start).Seconds())
		} else {
			m.tpot.observe(now.Sub(st.last).Seconds())
		}
		st.started = true
		st.last = now
	}
	if ev.Done {
		m.addTokens(ev.PromptTokens, ev.CompletionTokens)
		m.e2e.observe(now.Sub(rs.start).Seconds())
	}
}

func (rs *run) collectOut(w http.ResponseWriter, ctx context.Context, merged <-chan indexedEvent) error {
	states := make([]choiceState, len(rs.jobs))
	byIndex := map[int]int{}
	for i, j := range rs.jobs {
		byIndex[j.index] = i
	}
	for ie := range merged {
		st := &states[byIndex[ie.job.index]]
		ev := ie.ev
		rs.observe(st, ev)
		if ev.Err != nil {
			if ctx.Err() != nil {
				return nil // the client left
			}
			return ev.Err
		}
		st.text.WriteString(ev.Text)
		if ev.Token != nil {
			st.tokens = append(st.tokens, *ev.Token)
		}
		if ev.PromptLogprobs != nil {
			st.promptLP = ev.PromptLogprobs
		}
		if ev.Done {
			st.finish = ev.FinishReason
			st.completion = ev.CompletionTokens
			rs.timing(ev)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	completion := 0
	choices := make([]map[string]any, len(rs.jobs))
	for i, j := range rs.jobs {
		st := &states[i]
		completion += st.completion
		if rs.chat {
			msg := map[string]any{"role": "assistant", "content": st.text.String()}
			finish := st.finish
			if content, calls, ok := rs.tools.parse(st.text.String()); ok {
				msg["content"] = nullable(content)
				msg["tool_calls"] = toolCallsJSON(calls)
				if finish == "stop" {
					finish = "tool_calls"
				}
			}
			c := map[string]any{"index": j.index, "message": msg, "finish_reason": finish, "logprobs": nil}
			if j.req.Logprobs {
				c["logprobs"] = map[string]any{"content": rs.chatLogprobs(st.tokens, j.req.TopLogprobs)}
			}
			choices[i] = c
			continue
		}
		text := st.text.String()
		if rs.echo {
			text = j.promptText + text
		}
		c := map[string]any{"index": j.index, "text": text, "finish_reason": st.finish, "logprobs": nil}
		if j.req.Logprobs {
			c["logprobs"] = rs.completionLogprobs(st.promptLP, st.tokens, j.req.TopLogprobs, rs.promptOffsets(), rs.genOffsets(&rs.jobs[i]))
		}
		choices[i] = c
	}
	obj := "text_completion"
	if rs.chat {
		obj = "chat.completion"
	}
	writeJSON(w, map[string]any{
		"id": rs.id, "object": obj, "created": rs.created, "model": rs.model, "choices": choices,
		"usage": usageOf(rs.promptTokens, completion), "timings": rs.timings(completion),
	})
	return nil
}

func usageOf(prompt, completion int) map[string]int {
	return map[string]int{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
}

type chatTopLogprob struct {
	Token   string  `json:"token"`
	Logprob float32 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type chatLogprob struct {
	chatTopLogprob
	TopLogprobs []chatTopLogprob `json:"top_logprobs"`
}

func (rs *run) chatLogprobs(toks []engine.Token, top int) []chatLogprob {
	t := rs.e.Model().Tokenizer
	out := make([]chatLogprob, 0, len(toks))
	for _, tk := range toks {
		s := tokenText(t, tk.ID)
		c := chatLogprob{chatTopLogprob: chatTopLogprob{Token: s, Logprob: tk.Logprob, Bytes: tokenBytes(s)}, TopLogprobs: []chatTopLogprob{}}
		for _, a := range tk.Top[:min(top, len(tk.Top))] {
			as := tokenText(t, a.Token)
			c.TopLogprobs = append(c.TopLogprobs, chatTopLogprob{Token: as, Logprob: a.Logprob, Bytes: tokenBytes(as)})
		}
		out = append(out, c)
	}
	return out
}

// completionLogprobs renders the legacy logprobs object: the prompt's tokens first (when
// echoing; the first has null), then the generated ones. Offsets are characters into the
// text the choice returns: the prompt's from promptOff, the generated ones' from genOff.
func (rs *run) completionLogprobs(prompt, gen []engine.Token, top int, promptOff, genOff *offsets) map[string]any {
	t := rs.e.Model().Tokenizer
	var tokens []string
	var lps []any
	var tops []any
	var offs []int
	add := func(tk engine.Token, first bool, off *offsets) {
		s := tokenText(t, tk.ID)
		tokens = append(tokens, s)
		offs = append(offs, off.next(tk.ID))
		if first {
			// OpenAI sends null for both; an empty object keeps typed clients (openai-go's
			// []map[string]float64) decoding the list.
			lps = append(lps, nil)
			tops = append(tops, map[string]float32{})
			return
		}
		lps = append(lps, tk.Logprob)
		m := map[string]float32{}
		for _, a := range tk.Top[:min(top, len(tk.Top))] {
			k := tokenText(t, a.Token)
			if _, dup := m[k]; !dup {
				m[k] = a.Logprob
			}
		}
		tops = append(tops, m)
	}
	for i, tk := range prompt {
		add(tk, i == 0, promptOff)
	}
	for _, tk := range gen {
		add(tk, false, genOff)
	}
	if tokens == nil {
		tokens, lps, tops, offs = []string{}, []any{}, []any{}, []int{}
	}
	return map[string]any{"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offs}
}

// promptOffsets starts the text offsets of an echoed prompt, whose text starts with it.
func (rs *run) promptOffsets() *offsets {
	t := rs.e.Model().Tokenizer
	return &offsets{t: t, strip: t.DummyPrefix()}
}

// genOffsets starts the text offsets of job j's generated tokens: after the echoed prompt,
// or at 0 (as vLLM does) without echo.
func (rs *run) genOffsets(j *job) *offsets {
	o := &offsets{t: rs.e.Model().Tokenizer}
	if rs.echo {
		o.chars = utf8.RuneCountInString(j.promptText)
	}
	return o
}

// streamOut writes server-sent events: one chunk per event, then [DONE].
func (rs *run) streamOut(w http.ResponseWriter, ctx context.Context, merged <-chan indexedEvent) error {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	obj := "text_completion"
	if rs.chat {
		obj = "chat.completion.chunk"
	}
	chunk := func(choice map[string]any) map[string]any {
		c := map[string]any{"id": rs.id, "object": obj, "created": rs.created, "model": rs.model, "choices": []any{choice}}
		if rs.usage {
			c["usage"] = nil
		}
		return c
	}
	states := map[int]*choiceState{}
	if rs.chat {
		for _, j := range rs.jobs {
			send(chunk(map[string]any{"index": j.index, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}))
		}
	}
	completion := 0
	genOff := map[int]*offsets{}
	for ie := range merged {
		j, ev := ie.job, ie.ev
		st := states[j.index]
		if st == nil {
			st = &choiceState{}
			states[j.index] = st
		}
		rs.observe(st, ev)
		if ev.Err != nil {
			if ctx.Err() != nil {
				return nil
			}
			ae := toAPIError(ev.Err)
			send(map[string]any{"error": map[string]any{"message": ae.msg, "type": ae.typ, "param": nil, "code": nullable(ae.code)}})
			fmt.Fprint(w, "data: [DONE]\n\n")
			return nil
		}
		var toks []engine.Token
		if ev.Token != nil && j.req.Logprobs {
			toks = []engine.Token{*ev.Token}
		}
		var c map[string]any
		if rs.chat {
			text := ev.Text
			var deltas []toolDelta
			if rs.tools.parses() {
				if st.tools == nil {
					st.tools = newToolStream(rs.tools)
				}
				text, deltas = st.tools.push(text)
				if ev.Done {
					rest, more, isCall := st.tools.finish()
					text += rest
					deltas = append(deltas, more...)
					if isCall && ev.FinishReason == "stop" {
						ev.FinishReason = "tool_calls"
					}
				}
			}
			if text == "" && toks == nil && len(deltas) == 0 && !ev.Done {
				continue
			}
			if len(deltas) > 0 {
				if text != "" && !send(chunk(map[string]any{"index": j.index, "delta": map[string]any{"content": text}, "logprobs": nil, "finish_reason": nil})) {
					return nil
				}
				text = ""
				if !rs.sendToolDeltas(send, chunk, j.index, deltas) {
					return nil
				}
				if !ev.Done && toks == nil {
					continue
				}
			}
			delta := map[string]any{}
			if text != "" || !ev.Done {
				delta["content"] = text
			}
			c = map[string]any{"index": j.index, "delta": delta, "logprobs": nil, "finish_reason": nil}
			if toks != nil {
				c["logprobs"] = map[string]any{"content": rs.chatLogprobs(toks, j.req.TopLogprobs)}
			}
		} else {
			text := ev.Text
			if rs.echo && !st.echoed {
				text = j.promptText + text
				st.echoed = true
			}
			if text == "" && toks == nil && ev.PromptLogprobs == nil && !ev.Done {
				continue
			}
			c = map[string]any{"index": j.index, "text": text, "logprobs": nil, "finish_reason": nil}
			if j.req.Logprobs && (toks != nil || ev.PromptLogprobs != nil) {
				if genOff[j.index] == nil {
					genOff[j.index] = rs.genOffsets(j)
				}
				c["logprobs"] = rs.completionLogprobs(ev.PromptLogprobs, toks, j.req.TopLogprobs, rs.promptOffsets(), genOff[j.index])
			}
		}
		if ev.Done {
			c["finish_reason"] = ev.FinishReason
			completion += ev.CompletionTokens
			rs.timing(ev)
		}
		if !send(chunk(c)) {
			return nil // the client left; cancel() frees the sequences
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if rs.usage {
		send(map[string]any{"id": rs.id, "object": obj, "created": rs.created, "model": rs.model, "choices": []any{},
			"usage": usageOf(rs.promptTokens, completion), "timings": rs.timings(completion)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if flusher != nil {
		flusher.Flush()
	}
	return nil
}
