package main

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// TestServeDraftFlags: bad --draft and --draft-max values are usage errors before the
// server listens; with --draft ngram and with --draft-model self:q4_0 the server answers
// a greedy completion exactly as without, and /metrics shows the speculative counters
// (under vLLM's names too).
func TestServeDraftFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--draft", "tree"}, `--draft "tree"`},
		{[]string{"--draft", "ngram", "--draft-max", "0"}, "--draft-max 0"},
	} {
		_, stderr, code := run(t, "", append([]string{"serve", "--port", "0"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "listening") {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q before listening", c.args, code, stderr, c.want)
		}
	}
	const body = `{"prompt":"Tom had a red ball. Tom had a red ball. Tom had","max_tokens":24,"temperature":0}`
	complete := func(base string) string {
		t.Helper()
		resp, err := serveRequest(t, "POST", base+"/v1/completions", "", body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("completion: %v %v", err, resp)
		}
		defer resp.Body.Close()
		var v struct {
			Choices []struct{ Text string } `json:"choices"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || len(v.Choices) != 1 {
			t.Fatalf("completion: %v %+v", err, v)
		}
		return v.Choices[0].Text
	}
	base, stop, rc, _ := startServe(t)
	want := complete(base)
	stop()
	<-rc
	for _, args := range [][]string{{"--draft", "ngram"}, {"--draft-model", "self:q4_0", "--draft-max", "3"}} {
		base, stop, rc, out := startServe(t, args...)
		if !strings.Contains(out.String(), "speculative decoding: ") {
			t.Errorf("serve %v: no speculative line in\n%s", args, out.String())
		}
		if got := complete(base); got != want {
			t.Errorf("serve %v: %q, without a draft %q", args, got, want)
		}
		resp, err := serveRequest(t, "GET", base+"/metrics", "", "")
		if err != nil {
			t.Fatal(err)
		}
		m, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, name := range []string{"vllm:spec_decode_num_draft_tokens_total ", "vllm:spec_decode_num_accepted_tokens_per_pos_total{position=\"0\"} ", "decilm_spec_decode_acceptance_rate "} {
			if !strings.Contains(string(m), name) {
				t.Errorf("serve %v: /metrics has no %s", args, name)
			}
		}
		if strings.Contains(string(m), "vllm:spec_decode_num_draft_tokens_total 0\n") {
			t.Errorf("serve %v: nothing drafted", args)
		}
		stop()
		if code := <-rc; code != 0 {
			t.Errorf("serve %v: exit %d\n%s", args, code, out.String())
		}
	}
}

// TestBenchDraftJSON: bench's JSON records of a speculative run carry n_drafted,
// n_accepted and accept_rate, consistent with each other; the plain records carry none.
func TestBenchDraftJSON(t *testing.T) {
	out, errs, code := run(t, "", "bench", "-p", "0", "-n", "24", "-r", "2", "-q", "--draft", "ngram", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var recs []struct {
		Test       string  `json:"test"`
		NDrafted   int     `json:"n_drafted"`
		NAccepted  int     `json:"n_accepted"`
		AcceptRate float64 `json:"accept_rate"`
	}
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	spec := 0
	for _, r := range recs {
		if !strings.Contains(r.Test, "+ngram") {
			if r.NDrafted != 0 || r.AcceptRate != 0 {
				t.Errorf("%s: n_drafted %d, accept_rate %g", r.Test, r.NDrafted, r.AcceptRate)
			}
			continue
		}
		spec++
		if r.NDrafted == 0 || r.NAccepted > r.NDrafted || r.AcceptRate != float64(r.NAccepted)/float64(r.NDrafted) {
			t.Errorf("%s: n_drafted %d, n_accepted %d, accept_rate %g", r.Test, r.NDrafted, r.NAccepted, r.AcceptRate)
		}
	}
	if spec != 1 {
		t.Errorf("%d speculative records in %s", spec, out)
	}
}
