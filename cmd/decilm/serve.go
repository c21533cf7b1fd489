package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/server"
)

func init() {
	register(&command{name: "serve", summary: "serve a model with OpenAI's API, continuous batching and a chat page", run: runServe})
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[-m MODEL] [--host 127.0.0.1] [--port 8080] [--parallel N] [--kv-budget SIZE] [--api-key KEY]\n"+
		"      [--draft-model PATH|self:q4_0] [--draft ngram] [--draft-max N]\n\n"+
		"Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET /metrics,\n"+
		"POST /tokenize, /detokenize and /apply-template (and vLLM's LoRA routes with --lora NAME=PATH)\n"+
		"and a chat page at /. SIGTERM or Ctrl-C stops accepting requests, lets running ones finish\n"+
		"within --shutdown-timeout, cuts the rest and exits 0. With --draft-model or --draft every\n"+
		"request without a grammar speculates (greedy outputs unchanged; counters in /metrics).")
	mf := addModelFlags(fs)
	host := fs.String("host", "127.0.0.1", "address to listen on (0.0.0.0 exposes the server to the network)")
	port := fs.Int("port", 8080, "TCP port (0: any free port)")
	parallel := fs.Int("parallel", 16, "most sequences decoded together in one batch")
	kvBudget := fs.String("kv-budget", "", "KV-cache memory for admitted requests, e.g. 2GiB or 512MB (default: a quarter of available memory, at most 8 GiB); checked against the model before the server listens")
	apiKey := fs.String("api-key", "", "require \"Authorization: Bearer KEY\" on every route but /health (default: $DECILM_API_KEY)")
	queue := fs.Int("queue", 0, "most requests waiting for a slot before 429 (default: 4×parallel, at least 64)")
	maxTokens := fs.Int("max-tokens", 0, "largest max_tokens a request may ask for (default: the context length)")
	maxN := fs.Int("max-n", 8, "largest n (choices per request)")
	maxBody := fs.String("max-body", "4MiB", "largest request body")
	stepRows := fs.Int("step-rows", 256, "most token rows per forward pass (decode rows plus prefill chunk)")
	noPromptCache := fs.Bool("no-prompt-cache", false, "always prefill whole prompts (by default a finished request's keys and values stay in its slot, and a prompt starting with the same tokens reuses them)")
	alias := fs.String("alias", "", "model id clients use (default: the model's name)")
	template := fs.String("template", "", templateHelp())
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	cors := fs.String("cors-origins", "*", "comma-separated origins browsers may call the API from (* any, as llama-server; \"\" none)")
	readTimeout := fs.Duration("read-timeout", 60*time.Second, "longest time to receive one request body (408 after)")
	lf := addServeLoRAFlags(fs)
	cacheType := addCacheTypeFlag(fs)
	df := addDraftFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := df.check(); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	if err := mf.check(); err != nil {
		return err
	}
	budget, err := serveParseBytes(*kvBudget)
	if err != nil {
		return usageError("--kv-budget: %v", err)
	}
	body, err := serveParseBytes(*maxBody)
	if err != nil || body <= 0 {
		return usageError("--max-body %q: want a positive size such as 4MiB", *maxBody)
	}
	for _, c := range []struct {
		bad  bool
		flag string
		v    int
		want string
	}{
		{*port < 0 || *port > 65535, "--port", *port, "in 0..65535 (0: any free port)"},
		{*parallel < 1, "--parallel", *parallel, "at least 1"},
		{*queue < 0, "--queue", *queue, "at least 0 (0: 4×parallel, at least 64)"},
		{*maxTokens < 0, "--max-tokens", *maxTokens, "at least 0 (0: the context length)"},
		{*maxN < 1, "--max-n", *maxN, "at least 1"},
		{*stepRows < 1, "--step-rows", *stepRows, "at least 1"},
	} {
		if c.bad {
			return usageError("%s must be %s, have %d", c.flag, c.want, c.v)
		}
	}
	key := *apiKey
	if key == "" {
		key = os.Getenv("DECILM_API_KEY")
	}
	if *readTimeout <= 0 {
		return usageError("--read-timeout must be positive")
	}
	if *grace < 0 {
		return usageError("--shutdown-timeout must not be negative")
	}
	var origins []string
	for _, o := range strings.Split(*cors, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()

	// Every flag is checked before the server listens. A --kv-budget is checked against the
	// model, so with one the model is loaded first; without, the server listens while it
	// loads (/health answers 503 "loading" until it is ready).
	var m *decilm.Model
	var eng *engine.Engine
	closeDraft := func() {}
	load := func() error {
		var err error
		if m, err = loadLM(ctx, e, mf, *template); err != nil {
			return err
		}
		if err := lf.apply(m); err != nil {
			return err
		}
		ct, err := cacheType.get(m.Net.Config)
		if err != nil {
			return err
		}
		var draft *decilm.Draft
		if draft, closeDraft, err = df.load(ctx, e, mf, m); err != nil {
			return err
		}
		if eng, err = engine.New(m, engine.Options{Parallel: *parallel, KVBudget: budget, QueueSize: *queue, StepRows: *stepRows, NoPromptCache: *noPromptCache, CacheType: ct, Draft: draft}); err != nil {
			return err
		}
		// A budget below one full context would refuse the longest requests the model takes.
		if n, per := m.Net.Config.ContextLength(), eng.KVBytesPerToken(); budget > 0 && budget < int64(n)*per {
			return usageError("--kv-budget %s is less than one full context of %s: %d tokens × %s = %s (or leave it out for the default)",
				*kvBudget, m.Name, n, serveHuman(per), serveHuman(int64(n)*per))
		}
		return nil
	}
	closeAll := func() {
		if eng != nil {
			eng.Close()
		}
		closeDraft()
		if m != nil {
			m.Close()
		}
	}
	defer closeAll()
	if budget > 0 {
		if err := load(); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while loading
			}
			return err
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	srv := server.New(server.Options{APIKey: key, ModelName: *alias, MaxBodyBytes: body, MaxTokens: *maxTokens, MaxN: *maxN,
		CORSOrigins: origins, ReadTimeout: *readTimeout})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if m == nil {
		fmt.Fprintf(e.stderr, "decilm serve: listening on http://%s (loading %s)\n", ln.Addr(), mf.name())
	} else {
		fmt.Fprintf(e.stderr, "decilm serve: listening on http://%s\n", ln.Addr())
	}
	if !isLoopback(*host) && key == "" {
		fmt.Fprintf(e.stderr, "decilm serve: warning: listening on %s without --api-key\n", *host)
	}

	if m == nil {
		if err := load(); err != nil {
			hs.Close()
			if ctx.Err() != nil {
				return nil // stopped while loading
			}
			return err
		}
	}
	if err := lf.serve(m, eng, srv); err != nil {
		hs.Close()
		return err
	}
	srv.SetEngine(eng)
	o := eng.Options()
	cfg := m.Net.Config
	if df.on() {
		fmt.Fprintf(e.stderr, "decilm serve: speculative decoding: %s, up to %d tokens a step (the KV bytes a token below include the draft model's)\n", df.describe(), *df.max)
	}
	fmt.Fprintf(e.stderr, "decilm serve: ready: model %s (template %s), context %d, %d parallel, KV budget %s (%s a token at %s: %d tokens)\n",
		m.Name, m.Template.Name(), cfg.ContextLength(), o.Parallel, serveHuman(o.KVBudget), serveHuman(eng.KVBytesPerToken()), o.CacheType,
		o.KVBudget/max(eng.KVBytesPerToken(), 1))

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(e.stderr, "decilm serve: shutting down: finishing requests in flight (up to %s)\n", *grace)
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		fmt.Fprintf(e.stderr, "decilm serve: cutting the requests still running\n")
		eng.Close() // ends every stream, so the handlers return
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		if err := hs.Shutdown(cctx); err != nil {
			hs.Close()
		}
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(e.stderr, "decilm serve: stopped")
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveParseBytes reads a size such as 512MB, 2GiB, 1.5G or 1048576; "" is 0.
func serveParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) && len(s) > len(u.suffix) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v >= 0 && v*mult <= 1<<62) {
		return 0, fmt.Errorf("%q is not a size (examples: 512MiB, 2GiB, 1073741824)", s)
	}
	return int64(v * mult), nil
}

func serveHuman(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}
