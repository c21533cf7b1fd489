package main

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

// TestServeChecksFlagsBeforeListening: a bad flag, including a --kv-budget too small for the
// model, is reported before the server listens (no "listening" line, no port held), with
// the flag named and the usage exit status.
func TestServeChecksFlagsBeforeListening(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kv-budget", "1KiB"}, "--kv-budget 1KiB is less than one full context"},
		{[]string{"--kv-budget", "lots"}, "--kv-budget"},
		{[]string{"--read-timeout", "0s"}, "--read-timeout must be positive"},
		{[]string{"--shutdown-timeout", "-1s"}, "--shutdown-timeout must not be negative"},
		{[]string{"--parallel", "0"}, "--parallel must be at least 1"},
	} {
		_, stderr, code := run(t, "", append([]string{"serve", "--port", "0"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "listening") {
			t.Errorf("serve %v: listened before reporting the bad flag:\n%s", c.args, stderr)
		}
	}
}

// TestServeKVBudgetLoadsFirst: with a --kv-budget the model is loaded (and the budget
// checked) before the server listens; it then serves as usual.
func TestServeKVBudgetLoadsFirst(t *testing.T) {
	base, stop, rc, out := startServe(t, "--kv-budget", "64MiB")
	log := out.String()
	if i, j := strings.Index(log, "listening"), strings.Index(log, "ready:"); i < 0 || j < i || strings.Contains(log, "(loading") {
		t.Errorf("log:\n%s", log)
	}
	resp, err := serveRequest(t, "GET", base+"/health", "", "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: %v %v", err, resp)
	}
	resp.Body.Close()
	stop()
	if code := <-rc; code != 0 {
		t.Errorf("exit status %d:\n%s", code, out.String())
	}
}

// TestServeHealthWhileDraining: once SIGTERM has come, /health no longer answers (the
// listener is closed, so a readiness probe fails and the replica leaves its Service and
// InferencePool) while the request in flight still finishes.
func TestServeHealthWhileDraining(t *testing.T) {
	base, stop, rc, out := startServe(t, "--parallel", "2")
	resp, err := serveRequest(t, "POST", base+"/v1/completions", "", `{"prompt":"Once upon a time","max_tokens":400,"ignore_eos":true,"stream":true,"temperature":0}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("completion: %v %v", err, resp)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if _, err := br.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	stop()
	refused := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r, err := serveRequest(t, "GET", base+"/health", "", "")
		if err != nil {
			refused = true
			break
		}
		r.Body.Close()
	}
	if !refused {
		t.Error("/health still answers 5 s after the signal")
	}
	rest, err := io.ReadAll(br)
	if err != nil || !strings.HasSuffix(string(rest), "data: [DONE]\n\n") {
		t.Errorf("stream after the signal: %v, ends %q", err, tail(string(rest)))
	}
	if code := <-rc; code != 0 {
		t.Errorf("exit status %d:\n%s", code, out.String())
	}
}
