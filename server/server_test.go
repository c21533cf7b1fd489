package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

const testKey = "sekret"

// fixture is a server on the embedded model, its model and an openai-go client.
type fixture struct {
	m      *decilm.Model
	e      *engine.Engine
	srv    *Server
	ts     *httptest.Server
	client openai.Client
}

func newFixture(t testing.TB, eo engine.Options, so Options) *fixture {
	t.Helper()
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return newFixtureOn(t, m, eo, so)
}

func newFixtureOn(t testing.TB, m *decilm.Model, eo engine.Options, so Options) *fixture {
	t.Helper()
	e, err := engine.New(m, eo)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(so)
	srv.SetEngine(e)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { ts.Close(); e.Close() })
	opts := []option.RequestOption{option.WithBaseURL(ts.URL + "/v1/"), option.WithMaxRetries(0)}
	if so.APIKey != "" {
		opts = append(opts, option.WithAPIKey(so.APIKey))
	} else {
		opts = append(opts, option.WithAPIKey("unused"))
	}
	return &fixture{m: m, e: e, srv: srv, ts: ts, client: openai.NewClient(opts...)}
}

func TestChatCompletions(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{APIKey: testKey})
	ctx := context.Background()
	msgs := []chat.Message{{Role: "user", Content: "Once upon a time"}}
	ref, err := f.m.Chat(ctx, msgs, decilm.GenerateOptions{MaxTokens: 40})
	if err != nil {
		t.Fatal(err)
	}
	params := openai.ChatCompletionNewParams{
		Model:       f.m.Name,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time")},
		MaxTokens:   openai.Int(40),
		Temperature: openai.Float(0),
		Logprobs:    openai.Bool(true),
		TopLogprobs: openai.Int(3),
	}
	t.Run("plain", func(t *testing.T) {
		res, err := f.client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Choices) != 1 {
			t.Fatalf("%d choices", len(res.Choices))
		}
		c := res.Choices[0]
		if c.Message.Content != ref.Text || string(c.FinishReason) != ref.FinishReason || c.Message.Role != "assistant" {
			t.Errorf("content %q (%s), Chat gives %q (%s)", c.Message.Content, c.FinishReason, ref.Text, ref.FinishReason)
		}
		if res.Usage.PromptTokens != int64(ref.PromptTokens) || res.Usage.CompletionTokens != int64(len(ref.Tokens)) ||
			res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens {
			t.Errorf("usage %+v, want %d + %d", res.Usage, ref.PromptTokens, len(ref.Tokens))
		}
		if res.Object != "chat.completion" || !strings.HasPrefix(res.ID, "chatcmpl-") || res.Model != f.m.Name {
			t.Errorf("object %q id %q model %q", res.Object, res.ID, res.Model)
		}
		lps := c.Logprobs.Content
		if len(lps) != len(ref.Tokens) {
			t.Fatalf("%d logprobs for %d tokens", len(lps), len(ref.Tokens))
		}
		var joined string
		for i, lp := range lps {
			joined += lp.Token
			if len(lp.TopLogprobs) != 3 || lp.Logprob > 0 {
				t.Fatalf("token %d: %+v", i, lp)
			}
			// Greedy: the chosen token is the most likely one.
			if lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob ||
				lp.TopLogprobs[1].Logprob > lp.TopLogprobs[0].Logprob {
				t.Errorf("token %d %q %v: top %+v", i, lp.Token, lp.Logprob, lp.TopLogprobs)
			}
		}
		if strings.TrimSpace(joined) != strings.TrimSpace(ref.Text) {
			t.Errorf("logprob tokens spell %q, text %q", joined, ref.Text)
		}
	})
	t.Run("stream", func(t *testing.T) {
		p := params
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		st := f.client.Chat.Completions.NewStreaming(ctx, p)
		var text, finish string
		var usage *openai.CompletionUsage
		nlp := 0
		for st.Next() {
			ch := st.Current()
			for _, c := range ch.Choices {
				text += c.Delta.Content
				nlp += len(c.Logprobs.Content)
				if c.FinishReason != "" {
					finish = c.FinishReason
				}
			}
			if ch.JSON.Usage.Valid() && ch.Usage.TotalTokens > 0 {
				u := ch.Usage
				usage = &u
			}
		}
		if err := st.Err(); err != nil {
			t.Fatal(err)
		}
		if text != ref.Text || finish != ref.FinishReason || nlp != len(ref.Tokens) {
			t.Errorf("streamed %q (%s, %d logprobs), Chat gives %q (%s)", text, finish, nlp, ref.Text, ref.FinishReason)
		}
		if usage == nil || usage.CompletionTokens != int64(len(ref.Tokens)) || usage.PromptTokens != int64(ref.PromptTokens) {
			t.Errorf("usage %+v", usage)
		}
	})
	t.Run("n and seed", func(t *testing.T) {
		p := openai.ChatCompletionNewParams{
			Model:       f.m.Name,
			Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Stories."), openai.UserMessage("Tom had a dog")},
			MaxTokens:   openai.Int(30),
			Temperature: openai.Float(1),
			Seed:        openai.Int(42),
			N:           openai.Int(3),
		}
		a, err := f.client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Choices) != 3 || len(b.Choices) != 3 {
			t.Fatalf("%d and %d choices", len(a.Choices), len(b.Choices))
		}
		for i := range a.Choices {
			if a.Choices[i].Index != int64(i) || a.Choices[i].Message.Content != b.Choices[i].Message.Content {
				t.Errorf("choice %d: %q vs %q", i, a.Choices[i].Message.Content, b.Choices[i].Message.Content)
			}
		}
		// Choice i is the seed+i sample, as one request with that seed gives it.
		p.N = openai.Int(1)
		p.Seed = openai.Int(43)
		one, err := f.client.Chat.Completions.New(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if one.Choices[0].Message.Content != a.Choices[1].Message.Content {
			t.Errorf("seed 43 alone %q, as choice 1 %q", one.Choices[0].Message.Content, a.Choices[1].Message.Content)
		}
	})
}

func TestCompletions(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	ctx := context.Background()
	prompt := "Lily and Ben"
	ref, err := f.m.Generate(ctx, prompt, decilm.GenerateOptions{MaxTokens: 25, Stop: []string{"park"}})
	if err != nil {
		t.Fatal(err)
	}
	params := openai.CompletionNewParams{
		Model:       openai.CompletionNewParamsModel(f.m.Name),
		Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String(prompt)},
		MaxTokens:   openai.Int(25),
		Temperature: openai.Float(0),
		Stop:        openai.CompletionNewParamsStopUnion{OfStringArray: []string{"park"}},
	}
	res, err := f.client.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Text != ref.Text || string(res.Choices[0].FinishReason) != ref.FinishReason {
		t.Errorf("text %q (%s), Generate %q (%s)", res.Choices[0].Text, res.Choices[0].FinishReason, ref.Text, ref.FinishReason)
	}
	st := f.client.Completions.NewStreaming(ctx, params)
	var text string
	for st.Next() {
		for _, c := range st.Current().Choices {
			text += c.Text
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if text != ref.Text {
		t.Errorf("streamed %q, Generate %q", text, ref.Text)
	}

	// echo with prompt logprobs and no new tokens, as lm-evaluation-harness asks.
	ids := f.m.Encode(prompt, nil)
	toks := make([]int64, len(ids))
	for i, id := range ids {
		toks[i] = int64(id)
	}
	echo, err := f.client.Completions.New(ctx, openai.CompletionNewParams{
		Model:     openai.CompletionNewParamsModel(f.m.Name),
		Prompt:    openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: toks},
		MaxTokens: openai.Int(0),
		Echo:      openai.Bool(true),
		Logprobs:  openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	lp := echo.Choices[0].Logprobs
	if echo.Choices[0].Text != prompt || len(lp.Tokens) != len(ids) || len(lp.TokenLogprobs) != len(ids) || len(lp.TopLogprobs) != len(ids) {
		t.Fatalf("echo %q, logprobs %+v", echo.Choices[0].Text, lp)
	}
	if echo.Usage.CompletionTokens != 0 || echo.Usage.PromptTokens != int64(len(ids)) {
		t.Errorf("usage %+v", echo.Usage)
	}
	// Reference: log-softmax of the root package's own logits for each prefix.
	for i := 1; i < len(ids); i++ {
		if lp.TokenLogprobs[i] >= 0 || len(lp.TopLogprobs[i]) != 1 {
			t.Errorf("token %d: logprob %v top %v", i, lp.TokenLogprobs[i], lp.TopLogprobs[i])
		}
		for _, v := range lp.TopLogprobs[i] {
			if v < lp.TokenLogprobs[i]-1e-6 {
				t.Errorf("token %d: top %v below the token's %v", i, v, lp.TokenLogprobs[i])
			}
		}
	}
	// The first token has a null logprob.
	raw := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Lily and Ben","max_tokens":0,"echo":true,"logprobs":1}`)
	if raw.status != 200 || !strings.Contains(raw.body, `"token_logprobs":[null,`) || !strings.Contains(raw.body, `"top_logprobs":[{},`) {
		t.Errorf("%d %s", raw.status, raw.body)
	}
}

func TestModelsAndHealth(t *testing.T) {
	srv := New(Options{APIKey: testKey})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	r := get(t, ts.URL+"/health", "")
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("health before the model: %d %s", r.status, r.body)
	}
	if r := postJSON(t, ts.URL+"/v1/completions", testKey, `{"prompt":"x"}`); r.status != http.StatusServiceUnavailable {
		t.Errorf("completion before the model: %d %s", r.status, r.body)
	}
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e, err := engine.New(m, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv.SetEngine(e)
	if r := get(t, ts.URL+"/health", ""); r.status != 200 || !strings.Contains(r.body, "ok") {
		t.Errorf("health: %d %s", r.status, r.body)
	}
	client := openai.NewClient(option.WithBaseURL(ts.URL+"/v1/"), option.WithAPIKey(testKey), option.WithMaxRetries(0))
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != m.Name || page.Data[0].Object != "model" {
		t.Errorf("models %+v", page.Data)
	}
	if md, err := client.Models.Get(context.Background(), m.Name); err != nil || md.ID != m.Name {
		t.Errorf("model get: %v %+v", err, md)
	}
	if r := get(t, ts.URL+"/", ""); r.status != 200 || !strings.Contains(r.body, "<title>decilm chat</title>") {
		t.Errorf("page: %d", r.status)
	}
	met := get(t, ts.URL+"/metrics", testKey)
	for _, name := range []string{"decilm_requests_total{endpoint=\"models\",code=\"200\"} 2", "decilm_queue_depth 0", "decilm_batch_size",
		"decilm_kv_cache_reserved_bytes 0", "decilm_time_to_first_token_seconds_bucket", "decilm_time_per_output_token_seconds_count",
		"decilm_prompt_tokens_total", "decilm_generation_tokens_total"} {
		if !strings.Contains(met.body, name) {
			t.Errorf("metrics lack %q:\n%s", name, met.body)
		}
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{APIKey: testKey, MaxBodyBytes: 1 << 16, MaxN: 4})
	ctx := context.Background()
	L := f.e.ContextLength()
	long := strings.Repeat("Once upon a time ", L/4)
	apiErr := func(err error) *openai.Error {
		var ae *openai.Error
		if !errors.As(err, &ae) {
			t.Fatalf("error %v is not an API error", err)
		}
		return ae
	}
	client := func(key string) *openai.Client {
		c := openai.NewClient(option.WithBaseURL(f.ts.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
		return &c
	}
	cases := []struct {
		name   string
		key    string
		params openai.ChatCompletionNewParams
		status int
		code   string
	}{
		{"unknown model", testKey, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 404, "model_not_found"},
		{"wrong key", "nope", openai.ChatCompletionNewParams{Model: f.m.Name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 401, "invalid_api_key"},
		{"prompt overflow", testKey, openai.ChatCompletionNewParams{Model: f.m.Name, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(long)}}, 400, "context_length_exceeded"},
		{"max_tokens overflow", testKey, openai.ChatCompletionNewParams{Model: f.m.Name, MaxTokens: openai.Int(int64(L - 3)), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Once upon a time")}}, 400, "context_length_exceeded"},
		{"n too large", testKey, openai.ChatCompletionNewParams{Model: f.m.Name, N: openai.Int(5), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 400, ""},
		{"temperature", testKey, openai.ChatCompletionNewParams{Model: f.m.Name, Temperature: openai.Float(3), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := client(c.key).Chat.Completions.New(ctx, c.params)
			ae := apiErr(err)
			if ae.StatusCode != c.status || ae.Code != c.code || ae.Message == "" {
				t.Errorf("status %d code %q message %q, want %d %q", ae.StatusCode, ae.Code, ae.Message, c.status, c.code)
			}
			if c.code == "context_length_exceeded" && !strings.Contains(ae.Message, "maximum context length") {
				t.Errorf("message %q does not say the context overflowed", ae.Message)
			}
		})
	}
	raw := []struct {
		name, path, body string
		status           int
	}{
		{"bad JSON", "/v1/chat/completions", `{"messages": [`, 400},
		{"bad JSON completions", "/v1/completions", `not json`, 400},
		{"no messages", "/v1/chat/completions", `{"messages": []}`, 400},
		{"bad role", "/v1/chat/completions", `{"messages": [{"role":"robot","content":"x"}]}`, 400},
		{"bad prompt", "/v1/completions", `{"prompt": {"a":1}}`, 400},
		{"token out of range", "/v1/completions", `{"prompt": [1, 99999]}`, 400},
		{"too many stops", "/v1/completions", `{"prompt": "a", "stop": ["a","b","c","d","e"]}`, 400},
		{"body too large", "/v1/completions", `{"prompt": "` + strings.Repeat("a", 1<<17) + `"}`, 413},
	}
	for _, c := range raw {
		t.Run(c.name, func(t *testing.T) {
			r := postJSON(t, f.ts.URL+c.path, testKey, c.body)
			var body struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != c.status || body.Error.Message == "" || body.Error.Type == "" {
				t.Errorf("%d %s (%v), want %d with an OpenAI error", r.status, r.body, err, c.status)
			}
		})
	}
	// /health needs no key; /metrics does.
	if r := get(t, f.ts.URL+"/health", ""); r.status != 200 {
		t.Errorf("health without key: %d", r.status)
	}
	if r := get(t, f.ts.URL+"/metrics", ""); r.status != 401 {
		t.Errorf("metrics without key: %d", r.status)
	}
}

// TestQueueFull sends many requests at once to a one-slot engine with a one-request
// queue (on the synth tiny model, slow enough to keep the slot busy): the ones that find
// the queue full get 429, the others complete.
func TestQueueFull(t *testing.T) {
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1234), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{Parallel: 1, QueueSize: 1}, Options{})
	const n = 12
	results := make(chan response, n)
	for i := 0; i < n; i++ {
		go func() {
			results <- postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Once","max_tokens":200,"ignore_eos":true}`)
		}()
	}
	full := 0
	for i := 0; i < n; i++ {
		r := <-results
		switch {
		case r.status == http.StatusTooManyRequests && strings.Contains(r.body, "queue is full"):
			full++
		case r.status != 200:
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	if full == 0 || full == n {
		t.Errorf("%d of %d requests refused with 429; want some refused and some served", full, n)
	}
}

type response struct {
	status int
	body   string
}

func do(t testing.TB, req *http.Request, key string) response {
	t.Helper()
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b)}
}

func postJSON(t testing.TB, url, key, body string) response {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return do(t, req, key)
}

func get(t testing.TB, url, key string) response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req, key)
}

// TestStreamManyChoices streams two prompts × n=2 and checks every choice ends.
func TestStreamManyChoices(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":["Once upon a time","Tom"],"n":2,"max_tokens":8,"seed":3,"stream":true,"stream_options":{"include_usage":true},"logprobs":2}`)
	if r.status != 200 || !strings.HasSuffix(r.body, "data: [DONE]\n\n") {
		t.Fatalf("%d %s", r.status, tail(r.body))
	}
	finished := map[int]string{}
	texts := map[int]string{}
	var usage map[string]int
	for _, line := range strings.Split(r.body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Index        int
				Text         string
				FinishReason *string `json:"finish_reason"`
				Logprobs     *struct{ Tokens []string }
			}
			Usage map[string]int
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			texts[ch.Index] += ch.Text
			if ch.FinishReason != nil {
				finished[ch.Index] = *ch.FinishReason
			}
		}
	}
	if len(finished) != 4 || finished[0] != "length" || finished[3] != "length" {
		t.Errorf("finish reasons %v", finished)
	}
	if usage["completion_tokens"] != 32 || usage["total_tokens"] != usage["prompt_tokens"]+32 {
		t.Errorf("usage %v", usage)
	}
	// Choice 2k+i is prompt k with seed 3+i: prompt 0 and 1 differ, equal seeds per prompt are reproducible.
	again := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Tom","max_tokens":8,"seed":4}`)
	var one struct{ Choices []struct{ Text string } }
	json.Unmarshal([]byte(again.body), &one)
	if len(one.Choices) != 1 || one.Choices[0].Text != texts[3] {
		t.Errorf("seed 4 alone %q, as choice 3 %q", again.body, texts[3])
	}
}

func tail(s string) string {
	if len(s) > 300 {
		return "…" + s[len(s)-300:]
	}
	return s
}

// TestDefaultMaxTokensFitsBudget: without max_tokens a request asks for what the KV
// budget holds rather than failing; an explicit larger one is refused.
func TestDefaultMaxTokensFitsBudget(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	per := model.KVBytesPerToken(m.Net.Config, model.CacheF16)
	f := newFixtureOn(t, m, engine.Options{KVBudget: 100 * per}, Options{})
	r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"Once upon a time"}],"ignore_eos":true}`)
	var out struct {
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		}
	}
	json.Unmarshal([]byte(r.body), &out)
	var u struct {
		Usage struct {
			Prompt     int `json:"prompt_tokens"`
			Completion int `json:"completion_tokens"`
		} `json:"usage"`
	}
	json.Unmarshal([]byte(r.body), &u)
	if r.status != 200 || len(out.Choices) != 1 || u.Usage.Prompt+u.Usage.Completion != 100 || out.Choices[0].FinishReason != "length" {
		t.Errorf("%d %s", r.status, r.body)
	}
	r = postJSON(t, f.ts.URL+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":200}`)
	if r.status != 400 || !strings.Contains(r.body, "kv_budget_exceeded") {
		t.Errorf("%d %s", r.status, r.body)
	}
}

// testEchoLogprobs asks /v1/completions for the echoed prompt 0 of the tiny-decilm fixture
// with logprobs and wants them (and the top token) to match the logits row(p) of every
// position p.
func testEchoLogprobs(t *testing.T, m *decilm.Model, row func(p int) []float32) {
	// A float32 KV cache, as the reference rows are computed with (f16 moves these
	// logprobs by about 1e-3).
	f := newFixtureOn(t, m, engine.Options{CacheType: model.CacheF32}, Options{})
	prompt := []int64{1, 450, 4996, 17354, 1701, 29916} // prompts.json, prompt 0
	res, err := f.client.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:     openai.CompletionNewParamsModel(m.Name),
		Prompt:    openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: prompt},
		MaxTokens: openai.Int(0),
		Echo:      openai.Bool(true),
		Logprobs:  openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	lp := res.Choices[0].Logprobs
	if len(lp.TokenLogprobs) != len(prompt) {
		t.Fatalf("%d logprobs for %d tokens", len(lp.TokenLogprobs), len(prompt))
	}
	for p := 1; p < len(prompt); p++ {
		r := row(p - 1)
		want := float64(r[prompt[p]]) - sample.LogSumExp(r)
		if math.Abs(lp.TokenLogprobs[p]-want) > 2e-4 {
			t.Errorf("token %d: logprob %v, reference %v", p, lp.TokenLogprobs[p], want)
		}
		best := sample.TopLogprobs(r, 1)[0]
		for tok, v := range lp.TopLogprobs[p] {
			if math.Abs(v-float64(best.Logprob)) > 2e-4 || tok != tokenText(m.Tokenizer, best.Token) {
				t.Errorf("token %d: top %q %v, reference %q %v", p, tok, v, tokenText(m.Tokenizer, best.Token), best.Logprob)
			}
		}
	}
}

// TestEchoLogprobsMatchForward: on the synth tiny model, echoed prompt log-probabilities are
// the log-softmax of model.Forward's logits (TestEchoLogprobsMatchLlamaCpp compares with
// llama.cpp's under the oracle tag).
func TestEchoLogprobsMatchForward(t *testing.T) {
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1234), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompt := []int{1, 450, 4996, 17354, 1701, 29916}
	var b model.Batch
	for p, tok := range prompt {
		b.Add(0, p, tok, true)
	}
	logits, err := m.Net.Forward(&b, model.NewCache(m.Net.Config, len(prompt)))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	logits = append([]float32(nil), logits...)
	testEchoLogprobs(t, m, func(p int) []float32 { return logits[p*V : (p+1)*V] })
}
