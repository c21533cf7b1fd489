package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/engine"
)

// errorField decodes an OpenAI error body.
func errorField(t *testing.T, r response) (msg, code string) {
	t.Helper()
	var b struct {
		Error struct {
			Message string  `json:"message"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error.Message == "" {
		t.Fatalf("%d %q is not an OpenAI error", r.status, r.body)
	}
	if b.Error.Code != nil {
		code = *b.Error.Code
	}
	return b.Error.Message, code
}

// TestUnsupportedFieldsRefused: tools and friends used to be ignored with a 200.
func TestUnsupportedFieldsRefused(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	for _, c := range []struct{ field, value string }{
		{"tools", `[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`},
		{"tool_choice", `"auto"`},
		{"functions", `[{"name":"f"}]`},
		{"function_call", `"auto"`},
	} {
		r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":4,"`+c.field+`":`+c.value+`}`)
		msg, _ := errorField(t, r)
		if r.status != 400 || !strings.Contains(msg, c.field) {
			t.Errorf("%s: %d %q, want 400 naming the field", c.field, r.status, msg)
		}
	}
}

// TestTextOffset checks completions' text_offset against the text returned: each token
// starts at its offset, counted in characters, streamed and not alike.
func TestTextOffset(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	for _, prompt := range []string{"Once upon a time,", "Über café, naïve"} {
		body := fmt.Sprintf(`{"prompt":%q,"echo":true,"logprobs":1,"max_tokens":12,"temperature":0`, prompt)
		r := postJSON(t, f.ts.URL+"/v1/completions", "", body+"}")
		var out struct {
			Choices []struct {
				Text     string
				Logprobs struct {
					Tokens     []string
					TextOffset []int `json:"text_offset"`
				}
			}
		}
		if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		c := out.Choices[0]
		text := []rune(c.Text)
		if !strings.HasPrefix(c.Text, prompt) {
			t.Fatalf("echoed text %q does not start with the prompt", c.Text)
		}
		lp := c.Logprobs
		for i, tok := range lp.Tokens {
			off := lp.TextOffset[i]
			if i > 0 && off < lp.TextOffset[i-1] || off > len(text) {
				t.Fatalf("%q: offsets %v are not increasing within the text", prompt, lp.TextOffset)
			}
			if !utf8.ValidString(tok) || strings.ContainsRune(tok, utf8.RuneError) || tok == "" || tok == f.m.Tokenizer.Piece(f.m.Tokenizer.BOS()) {
				continue // a byte piece, or a control token
			}
			want := tok
			if off == 0 {
				want = strings.TrimPrefix(tok, " ") // the dummy prefix is not in the text
			}
			if !strings.HasPrefix(string(text[off:]), want) {
				t.Errorf("%q: token %d %q at offset %d, but the text there is %q", prompt, i, tok, off, string(text[off:min(off+8, len(text))]))
			}
		}
		// The prompt's last token ends where the prompt does (the issue: "," of "Once
		// upon a time," was given offset 17, the prompt's length).
		pl := utf8.RuneCountInString(prompt)
		found := false
		for i, off := range lp.TextOffset {
			if off+utf8.RuneCountInString(lp.Tokens[i]) == pl && strings.HasSuffix(prompt, lp.Tokens[i]) {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no token ends at offset %d (the prompt's end): %v %q", prompt, pl, lp.TextOffset, lp.Tokens)
		}
		// Streamed: the same offsets.
		sr := postJSON(t, f.ts.URL+"/v1/completions", "", body+`,"stream":true}`)
		var got []int
		sc := bufio.NewScanner(strings.NewReader(sr.body))
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var ch struct {
				Choices []struct {
					Logprobs *struct {
						TextOffset []int `json:"text_offset"`
					}
				}
			}
			if err := json.Unmarshal([]byte(data), &ch); err != nil {
				t.Fatal(err)
			}
			for _, c := range ch.Choices {
				if c.Logprobs != nil {
					got = append(got, c.Logprobs.TextOffset...)
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(lp.TextOffset) {
			t.Errorf("%q: streamed offsets %v, not streamed %v", prompt, got, lp.TextOffset)
		}
	}
}

// TestQueueLimit: a request that alone needs more sequences than the queue holds is a
// 400 naming the limit, not an endless 429; a 429 carries Retry-After.
func TestQueueLimit(t *testing.T) {
	f := newFixture(t, engine.Options{Parallel: 1, QueueSize: 2}, Options{})
	r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":["a","b"],"n":2,"max_tokens":2}`)
	msg, _ := errorField(t, r)
	if r.status != 400 || !strings.Contains(msg, "at most 2") {
		t.Errorf("4 sequences against a queue of 2: %d %q, want 400 naming the limit", r.status, msg)
	}
	if r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":["a","b"],"max_tokens":2}`); r.status != 200 {
		t.Errorf("2 sequences: %d %s", r.status, r.body)
	}
	w := httptest.NewRecorder()
	writeAPIError(w, toAPIError(engine.ErrQueueFull))
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("queue full: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

// TestRoutesCORSAndContentType: unknown routes are JSON 404s, preflights are answered
// for allowed origins, and a body that is not application/json starts nothing.
func TestRoutesCORSAndContentType(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{CORSOrigins: []string{"*"}})
	for _, c := range []struct{ method, path string }{{"POST", "/v1/nope"}, {"POST", "/"}, {"DELETE", "/v1/models"}, {"GET", "/nope"}} {
		req, _ := http.NewRequest(c.method, f.ts.URL+c.path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		r := do(t, req, "")
		if r.status != 404 {
			t.Errorf("%s %s: %d, want 404", c.method, c.path, r.status)
			continue
		}
		errorField(t, r)
	}
	pre := func(srvURL string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", srvURL+"/v1/chat/completions", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := pre(f.ts.URL)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "authorization") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest("GET", f.ts.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://app.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET with Origin: %v %v", err, resp.Header)
	} else {
		resp.Body.Close()
	}
	// A server with one allowed origin answers it, and not another.
	g := newFixtureOn(t, f.m, engine.Options{}, Options{CORSOrigins: []string{"https://app.example"}})
	if resp := pre(g.ts.URL); resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("allowed origin: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ = http.NewRequest("OPTIONS", g.ts.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if r := do(t, req, ""); r.status == 204 {
		t.Errorf("preflight from another origin answered 204")
	}
	// A cross-origin "simple" POST (text/plain needs no preflight) must not generate.
	before := f.e.Stats().Requests
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req, _ := http.NewRequest("POST", f.ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"Once","max_tokens":4}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if r := do(t, req, ""); r.status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d %s, want 415", ct, r.status, r.body)
		}
	}
	if n := f.e.Stats().Requests; n != before {
		t.Errorf("%d generations started by bodies that are not application/json", n-before)
	}
	req, _ = http.NewRequest("POST", f.ts.URL+"/v1/completions", strings.NewReader(`{"prompt":"Once","max_tokens":4}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if r := do(t, req, ""); r.status != 200 {
		t.Errorf("application/json; charset=utf-8: %d %s", r.status, r.body)
	}
}

// TestSlowBody: a client that sends its body slower than ReadTimeout is cut with 408.
func TestSlowBody(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{ReadTimeout: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"prompt\":")
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body after %v: %v", time.Since(start), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || time.Since(start) > 5*time.Second {
		t.Errorf("stalled body: %d after %v, want 408 after about 300ms", resp.StatusCode, time.Since(start))
	}
}

// TestBodyCap: a body far larger than the model's context could take is refused before
// it is read or tokenized, so 8 such bodies at once cost little memory.
func TestBodyCap(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	big := `{"prompt":"` + strings.Repeat("a", 4_000_000) + `","max_tokens":1}`
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", f.ts.URL+"/v1/completions", strings.NewReader(big))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return // the server may close the connection while the client still writes
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	runtime.ReadMemStats(&ms1)
	for _, st := range statuses {
		if st != 0 && st != http.StatusRequestEntityTooLarge {
			t.Errorf("4 MB body: status %d, want 413", st)
		}
	}
	// Server and client share this process: the client's 8 bodies are 32 MB.
	if alloc := ms1.TotalAlloc - ms0.TotalAlloc; alloc > 100<<20 {
		t.Errorf("8 bodies of 4 MB allocated %d MB", alloc>>20)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	if d := int64(ms1.HeapInuse) - int64(ms0.HeapInuse); d > 16<<20 {
		t.Errorf("after 8 bodies of 4 MB, %d MB stay resident", d>>20)
	}
	// A prompt text too long for the context is refused without tokenizing it.
	long := `{"prompt":"` + strings.Repeat("a", 100_000) + `","max_tokens":1}`
	g := newFixtureOn(t, f.m, engine.Options{}, Options{})
	r := postJSON(t, g.ts.URL+"/v1/completions", "", long)
	if _, code := errorField(t, r); r.status != 400 && r.status != 413 || r.status == 400 && code != "context_length_exceeded" {
		t.Errorf("a 100 kB prompt: %d %s", r.status, r.body)
	}
}

type failingTemplate struct{ panics bool }

func (failingTemplate) Name() string { return "failing" }
func (f failingTemplate) Render([]chat.Message, bool) (string, error) {
	if f.panics {
		panic("template blew up")
	}
	return "", errors.New("chat: template sandbox: output limit of 1024 bytes exceeded")
}

// TestTemplateErrors: a template that fails or panics gives a 400 with its message, and
// the server goes on serving.
func TestTemplateErrors(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	orig := f.m.Template
	defer func() { f.m.Template = orig }()
	for _, ft := range []failingTemplate{{false}, {true}} {
		f.m.Template = ft
		for _, path := range []string{"/v1/chat/completions", "/apply-template"} {
			r := postJSON(t, f.ts.URL+path, "", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`)
			msg, _ := errorField(t, r)
			want := "limit"
			if ft.panics {
				want = "blew up"
			}
			if r.status != 400 || !strings.Contains(msg, want) {
				t.Errorf("%s with %+v: %d %q", path, ft, r.status, msg)
			}
		}
	}
	f.m.Template = orig
	if r := postJSON(t, f.ts.URL+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`); r.status != 200 {
		t.Errorf("after template errors: %d %s", r.status, r.body)
	}
}

// TestVLLMMetrics scrapes /metrics for the gauges the Gateway API Inference Extension's
// endpoint picker reads under vLLM's names.
func TestVLLMMetrics(t *testing.T) {
	f := newFixture(t, engine.Options{}, Options{})
	if r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Once","max_tokens":4}`); r.status != 200 {
		t.Fatal(r.status, r.body)
	}
	r := get(t, f.ts.URL+"/metrics", "")
	vals := map[string]string{}
	types := map[string]string{}
	for _, line := range strings.Split(r.body, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			types[f[0]] = f[1]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		vals[line[:i]] = line[i+1:]
	}
	for _, name := range []string{"vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc", "decilm_queue_depth"} {
		v, ok := vals[name]
		if !ok || types[name] != "gauge" {
			t.Errorf("%s: missing or not a gauge (%q, type %q)", name, v, types[name])
			continue
		}
		var x float64
		if _, err := fmt.Sscan(v, &x); err != nil || x < 0 || (name == "vllm:kv_cache_usage_perc" && x > 1) {
			t.Errorf("%s = %q", name, v)
		}
	}
	found := false
	for k, v := range vals {
		if strings.HasPrefix(k, "vllm:cache_config_info{") && strings.Contains(k, `block_size="`) && v == "1" {
			found = true
		}
	}
	if !found {
		t.Errorf("no vllm:cache_config_info with a block_size label:\n%s", r.body)
	}
}

// TestTimings: responses carry llama-server's timings object, whose counts agree with
// the usage.
func TestTimings(t *testing.T) {
	f := newFixture(t, engine.Options{NoPromptCache: true}, Options{})
	r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Once upon a time","max_tokens":8,"ignore_eos":true}`)
	var out struct {
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
		Timings map[string]float64
	}
	if err := json.Unmarshal([]byte(r.body), &out); err != nil || r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	tm := out.Timings
	for _, k := range []string{"prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_n", "predicted_ms", "predicted_per_token_ms", "predicted_per_second"} {
		if _, ok := tm[k]; !ok {
			t.Errorf("timings lack %s: %v", k, tm)
		}
	}
	if int(tm["prompt_n"]) != out.Usage.PromptTokens || int(tm["predicted_n"]) != out.Usage.CompletionTokens || tm["predicted_ms"] <= 0 {
		t.Errorf("timings %v, usage %+v", tm, out.Usage)
	}
}
