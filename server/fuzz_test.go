package server

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
)

// fuzzServer is a server on the embedded model; nothing is submitted to its engine.
func fuzzServer(f *testing.F) (*Server, *engine.Engine) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { m.Close() })
	e, err := engine.New(m, engine.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	s := New(Options{})
	s.SetEngine(e)
	return s, e
}

// checkRun checks the invariants of a validated request: every choice fits the context.
func checkRun(t *testing.T, rs *run, e *engine.Engine) {
	for _, j := range rs.jobs {
		if len(j.req.Prompt) == 0 || len(j.req.Prompt)+j.req.MaxTokens > e.ContextLength() || j.req.MaxTokens < 0 {
			t.Fatalf("job with %d prompt tokens and max %d passed validation (context %d)", len(j.req.Prompt), j.req.MaxTokens, e.ContextLength())
		}
		if err := j.req.Sampling.Validate(); err != nil {
			t.Fatalf("invalid sampling passed validation: %v", err)
		}
	}
}

func FuzzChatRequest(f *testing.F) {
	s, e := fuzzServer(f)
	for _, seed := range []string{
		`{"model":"stories260K","messages":[{"role":"user","content":"hi"}]}`,
		`{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":5,"n":2,"stop":["x"],"logprobs":true,"top_logprobs":3}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":2,"top_p":0.5,"seed":-1,"logit_bias":{"5":-100},"stop":"a"}`,
		`{"messages":[{"role":"developer","content":null}],"max_completion_tokens":0}`,
		`{"messages":[{"role":"user","content":{"a":1}}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"enum":[1,2]}}}}},"min_tokens":2}`,
		`{"messages":[{"role":"user","content":"x"}],"grammar":"root ::= [a-z]{1,3}","stop_token_ids":[2]}`,
		`{"messages":[{"role":"user","content":"x"}],"tools":[],"response_format":{"type":"json_object"}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req chatRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if rs, err := s.chatRun(&req, e); err == nil {
			checkRun(t, rs, e)
		} else if toAPIError(err).status >= 500 {
			t.Fatalf("server error for a bad request: %v", err)
		}
	})
}

func FuzzCompletionRequest(f *testing.F) {
	s, e := fuzzServer(f)
	for _, seed := range []string{
		`{"prompt":"Once upon a time","max_tokens":5}`,
		`{"prompt":["a","b"],"n":2,"echo":true,"logprobs":2,"max_tokens":0}`,
		`{"prompt":[1,2,3],"echo":true,"logprobs":1,"max_tokens":0}`,
		`{"prompt":[[1,2],[3]],"stop":["x","y"],"temperature":0}`,
		`{"prompt":[],"max_tokens":-1}`,
		`{"prompt":[1,99999]}`,
		`{"prompt":"","suffix":"x"}`,
		`{"prompt":"a","json_schema":{"type":"array","items":{"type":"integer"},"maxItems":2},"min_tokens":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req completionRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if rs, err := s.completionsRun(&req, e); err == nil {
			checkRun(t, rs, e)
		} else if toAPIError(err).status >= 500 {
			t.Fatalf("server error for a bad request: %v", err)
		}
	})
}
