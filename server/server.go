// Package server serves a model over HTTP with OpenAI's API, on top of the continuous
// batching engine, plus a chat page.
//
// Routes:
//
//	POST /v1/chat/completions   chat, streamed as server-sent events or not
//	POST /v1/completions        raw completion (echo and prompt logprobs included)
//	GET  /v1/models             the served model and its LoRA adapters (lora.go)
//	GET  /health                200 once the model is loaded, 503 before
//	GET  /metrics               Prometheus text format (decilm's names and vLLM's gauges)
//	POST /v1/embeddings         mean of the final hidden states (after the last norm), L2-normalised
//	POST /tokenize              llama-server's: {"content", "add_special", "with_pieces"}
//	POST /detokenize            llama-server's: {"tokens"} → {"content"}
//	POST /apply-template        llama-server's: {"messages"} → {"prompt"}
//	POST /v1/load_lora_adapter  vLLM's: {"lora_name", "lora_path"} (with LoRAOptions.Runtime)
//	POST /v1/unload_lora_adapter vLLM's: {"lora_name"} (with LoRAOptions.Runtime)
//	GET  /                      the chat page (embedded static files)
//
// Any other route is a JSON 404. POST bodies must be application/json (415 otherwise, so a
// cross-site form post starts nothing), arrive within Options.ReadTimeout (408) and fit the
// body limit (413). CORS headers and preflights follow Options.CORSOrigins.
//
// With Options.APIKey set every API route but /health needs "Authorization: Bearer KEY"
// (the static chat page itself is public and asks for the key). Errors use OpenAI's shape,
// {"error": {"message", "type", "param", "code"}}, with the matching status code: 400 for a
// bad request (context overflow, a failing chat template and a request needing more
// sequences than the queue holds included), 401 for a wrong key, 404 for an unknown model
// or route, 413 for a body over the limit, 429 (with Retry-After) when the engine's queue
// is full and 503 while the model loads or the server shuts down.
//
// Sampling follows OpenAI's parameters (temperature defaults to 1; max_tokens defaults to
// the rest of the context for chat and to 16 for completions, as OpenAI does) plus
// llama.cpp's top_k, min_p, repeat_penalty and ignore_eos, vLLM's min_tokens and
// stop_token_ids, and structured output: response_format (json_object, json_schema) or
// llama.cpp's grammar (GBNF) and json_schema, by package grammar's token masks. tools,
// tool_choice, functions and function_call are refused with 400 (not supported yet).
// Non-streamed responses, and the usage chunk of a stream, carry llama-server's timings
// object. Completions' text_offset counts characters of the returned text. Choice i of a request with a
// seed uses seed+i. Log-probabilities (chat logprobs/top_logprobs, completions logprobs,
// and echo's prompt logprobs) are those of the model's own distribution: the softmax of
// the raw logits, before temperature, penalties or top-p. In echo's legacy logprobs the
// first prompt token has a null token_logprob and an empty top_logprobs object (OpenAI
// sends null there; an object keeps typed clients such as openai-go decoding the list).
package server

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/decilm/decilm/engine"
)

//go:embed web
var webFS embed.FS

// Options configure a Server.
type Options struct {
	// APIKey, when set, is the bearer token every route but /health requires.
	APIKey string
	// ModelName is the model id clients name (default: the engine's model name). Requests
	// naming another model get 404; an empty model field is accepted.
	ModelName string
	// MaxBodyBytes bounds request bodies (default 4 MiB).
	MaxBodyBytes int64
	// MaxTokens bounds max_tokens (default: the model's context length).
	MaxTokens int
	// MaxN bounds n, the choices per prompt (default 8); MaxPrompts bounds the prompts of
	// one completions request (default 32).
	MaxN, MaxPrompts int
	// CORSOrigins are the origins browsers may call the API from: "*" allows any (as
	// llama-server does by default). Empty: no CORS headers, so browsers allow only the
	// server's own page.
	CORSOrigins []string
	// ReadTimeout bounds the reading of one request body (default 60 s); a client that
	// sends its body slower gets 408 and its connection is closed.
	ReadTimeout time.Duration
}

// Server is an http.Handler serving the API. Create it with New, then call SetEngine
// when the model is loaded; until then /health answers 503 and the API routes 503.
type Server struct {
	opt     Options
	eng     atomic.Pointer[engine.Engine]
	mux     *http.ServeMux
	metrics *metrics
	created int64
	// maxPiece caches the engine's longest token in bytes (0: not yet computed).
	maxPiece atomic.Int64
	lora     loraSet // adapters served by name (lora.go)
}

// New returns a server with no model yet.
func New(o Options) *Server {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.MaxN <= 0 {
		o.MaxN = 8
	}
	if o.MaxPrompts <= 0 {
		o.MaxPrompts = 32
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	s := &Server{opt: o, mux: http.NewServeMux(), metrics: newMetrics(), created: time.Now().Unix()}
	s.mux.HandleFunc("POST /v1/chat/completions", s.api("chat", s.handleChat))
	s.mux.HandleFunc("POST /v1/completions", s.api("completions", s.handleCompletions))
	s.mux.HandleFunc("GET /v1/models", s.api("models", s.handleModels))
	s.mux.HandleFunc("GET /v1/models/{id}", s.api("models", s.handleModel))
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /metrics", s.authed(s.handleMetrics))
	s.routes()
	s.loraRoutes()
	sub, _ := fs.Sub(webFS, "web")
	static := http.FileServerFS(sub)
	s.mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && !strings.HasPrefix(r.URL.Path, "/static/") {
			notFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
	// Any other method and path: a JSON 404 rather than the mux's text/plain 405.
	s.mux.HandleFunc("/", notFound)
	return s
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "invalid_request_error", "not_found", "no route "+r.Method+" "+r.URL.Path)
}

// SetEngine makes the server ready, serving e's model.
func (s *Server) SetEngine(e *engine.Engine) {
	s.maxPiece.Store(0)
	s.eng.Store(e)
}

// ServeHTTP routes a request. CORS preflights (OPTIONS) are answered here, before
// authentication, as browsers send them without credentials.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// cors adds the CORS headers for an allowed Origin and answers preflight requests; it
// reports whether the request was answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := ""
	for _, o := range s.opt.CORSOrigins {
		if o == "*" || (origin != "" && strings.EqualFold(o, origin)) {
			allowed = o
			break
		}
	}
	h := w.Header()
	if allowed == "*" {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if allowed != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if allowed == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		notFound(w, r)
		return true
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		h.Set("Access-Control-Allow-Headers", rh)
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	}
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// modelName is the id clients use.
func (s *Server) modelName(e *engine.Engine) string {
	if s.opt.ModelName != "" {
		return s.opt.ModelName
	}
	return e.Model().Name
}

// apiError is an error with its HTTP status and OpenAI type and code.
type apiError struct {
	status     int
	typ, code  string
	msg, param string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	writeAPIError(w, &apiError{status: status, typ: typ, code: code, msg: msg})
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"error": map[string]any{
		"message": e.msg, "type": e.typ, "param": nullable(e.param), "code": nullable(e.code),
	}}
	w.Header().Set("Content-Type", "application/json")
	if e.status == http.StatusTooManyRequests || e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// authed checks the API key.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.opt.APIKey != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || !constantTimeEqual(strings.TrimSpace(got), s.opt.APIKey) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="decilm"`)
				writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "incorrect or missing API key: send it as \"Authorization: Bearer KEY\"")
				return
			}
		}
		h(w, r)
	}
}

func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

// statusWriter records the status code for the request counter.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// api wraps an API handler: authentication, readiness, content type, body limit and read
// deadline, request counting and error rendering. A POST's body is read whole, within
// Options.ReadTimeout, before the handler runs; r.Body then reads from memory.
func (s *Server) api(endpoint string, h func(w http.ResponseWriter, r *http.Request, e *engine.Engine) error) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() { s.metrics.request(endpoint, sw.status) }()
		e := s.eng.Load()
		if e == nil {
			writeError(sw, http.StatusServiceUnavailable, "server_error", "model_loading", "the model is still loading")
			return
		}
		if r.Method == http.MethodPost {
			if err := s.readBody(sw, r, e); err != nil {
				writeAPIError(sw, toAPIError(err))
				return
			}
		}
		if err := h(sw, r, e); err != nil {
			if sw.status != 0 {
				return // already streaming: the handler reported the error in the stream
			}
			writeAPIError(sw, toAPIError(err))
		}
	})
}

// toAPIError maps an error to its HTTP form.
func toAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
			msg: fmt.Sprintf("request body exceeds %d bytes (what this model's context can hold, or --max-body)", mbe.Limit)}
	case errors.Is(err, engine.ErrQueueFull):
		return &apiError{status: http.StatusTooManyRequests, typ: "rate_limit_error", code: "queue_full",
			msg: "the server is busy: its request queue is full; retry later"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "request_timeout",
			msg: "the request body did not arrive in time"}
	case errors.Is(err, engine.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "shutting_down", msg: "the server is shutting down"}
	case errors.Is(err, engine.ErrContextLength):
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "context_length_exceeded", param: "messages", msg: err.Error()}
	case errors.Is(err, engine.ErrTooLarge):
		return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "kv_budget_exceeded", msg: err.Error()}
	}
	return &apiError{status: http.StatusInternalServerError, typ: "server_error", msg: err.Error()}
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.eng.Load() == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"loading"}`)
		return
	}
	fmt.Fprintln(w, `{"status":"ok"}`)
}

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Extensions: what the model can hold.
	ContextLength int `json:"context_length"`
}

func (s *Server) model(e *engine.Engine) modelObject {
	return modelObject{ID: s.modelName(e), Object: "model", Created: s.created, OwnedBy: "decilm", ContextLength: e.ContextLength()}
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	writeJSON(w, map[string]any{"object": "list", "data": append([]any{s.model(e)}, s.loraModels(e)...)})
	return nil
}

func (s *Server) handleModel(w http.ResponseWriter, r *http.Request, e *engine.Engine) error {
	if id := r.PathValue("id"); id != s.modelName(e) {
		if s.handleLoRAModel(w, id, e) {
			return nil
		}
		return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "model_not_found", param: "model",
			msg: fmt.Sprintf("the model %q does not exist; this server serves %q", id, s.modelName(e))}
	}
	writeJSON(w, s.model(e))
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
