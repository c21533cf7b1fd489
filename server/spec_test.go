package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil/testmodel"
)

// specPrompts are 16 completion requests (temperature 0) whose prompts share prefixes and
// repeat themselves, half streamed, some with log-probabilities or a stop string.
func specPrompts() []string {
	texts := []string{
		"Tom had a red ball. Tom had a red ball. Tom had",
		"Tom had a red ball. Tom had a big dog. Tom had",
		"Lily saw a cat. The cat was happy. Lily saw a cat. The",
		"Once upon a time, there was a little girl. Once upon a time,",
	}
	var bodies []string
	for i := range 16 {
		p := texts[i%4]
		if i >= 8 {
			p += " and the sun was"
		}
		extra := ""
		switch i % 8 {
		case 1, 6:
			extra = `,"logprobs":2`
		case 2:
			extra = `,"stop":["ball."]`
		}
		bodies = append(bodies, fmt.Sprintf(`{"prompt":%q,"max_tokens":%d,"temperature":0,"stream":%t%s}`, p, 10+6*(i%4), i%2 == 1, extra))
	}
	return bodies
}

// complete posts body to /v1/completions and returns the choices of the answer (of every
// chunk, for a stream) as JSON.
func complete(url, body string) (string, error) {
	resp, err := http.Post(url+"/v1/completions", "application/json", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	var out []json.RawMessage
	keep := func(data []byte) error {
		var v struct {
			Choices json.RawMessage `json:"choices"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("%w: %s", err, data)
		}
		out = append(out, v.Choices)
		return nil
	}
	if !strings.Contains(body, `"stream":true`) {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if err := keep(b); err != nil {
			return "", err
		}
	} else {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			if err := keep([]byte(data)); err != nil {
				return "", err
			}
		}
		if err := sc.Err(); err != nil {
			return "", err
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// completeAll sends every body at once and returns the answers in order.
func completeAll(t *testing.T, url string, bodies []string) []string {
	t.Helper()
	out := make([]string, len(bodies))
	errs := make([]error, len(bodies))
	var wg sync.WaitGroup
	for i, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = complete(url, b)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return out
}

var metricLine = regexp.MustCompile(`(?m)^([a-z_:]+)(\{position="(\d+)"\})? (\S+)$`)

// specCounters reads the speculative counters of a /metrics page: name to value, and
// the per-position counts under name+"[i]".
func specCounters(t *testing.T, url string) map[string]float64 {
	t.Helper()
	r := get(t, url+"/metrics", "")
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: status %d", r.status)
	}
	m := map[string]float64{}
	for _, g := range metricLine.FindAllStringSubmatch(r.body, -1) {
		if !strings.Contains(g[1], "spec_decode") {
			continue
		}
		v, err := strconv.ParseFloat(g[4], 64)
		if err != nil {
			t.Fatalf("/metrics: %s: %v", g[0], err)
		}
		key := g[1]
		if g[3] != "" {
			key += "[" + g[3] + "]"
		}
		m[key] = v
	}
	return m
}

// testServeSpec wants the server's greedy answers to 16 concurrent requests, sent twice
// (the second time from cached prompts), to be the same with each drafter as without,
// and the /metrics counters to move (for prompt lookup only where lookupHits says the
// model's output repeats its prompt) and agree with each other.
func testServeSpec(t *testing.T, m *decilm.Model, lookupHits bool, drafts map[string]*decilm.Draft) {
	bodies := specPrompts()
	plain := newFixtureOn(t, m, engine.Options{Parallel: 16}, Options{})
	want := completeAll(t, plain.ts.URL, bodies)
	if c := specCounters(t, plain.ts.URL); len(c) != 0 {
		t.Errorf("a server without a draft reports speculative counters: %v", c)
	}
	for name, d := range drafts {
		t.Run(name, func(t *testing.T) {
			f := newFixtureOn(t, m, engine.Options{Parallel: 16, Draft: d}, Options{})
			for wave := range 2 {
				got := completeAll(t, f.ts.URL, bodies)
				for i := range bodies {
					if got[i] != want[i] {
						t.Errorf("wave %d, request %s:\n got %s\nwant %s", wave, bodies[i], got[i], want[i])
					}
				}
			}
			if f.e.Stats().PromptCacheTokens == 0 {
				t.Error("no prompt tokens reused")
			}
			c := specCounters(t, f.ts.URL)
			for _, p := range []string{"vllm:spec_decode", "decilm_spec_decode"} {
				drafts, drafted, accepted := c[p+"_num_drafts_total"], c[p+"_num_draft_tokens_total"], c[p+"_num_accepted_tokens_total"]
				if (drafts == 0 && (d.Model != nil || lookupHits)) || drafted < drafts || accepted > drafted {
					t.Errorf("%s: %v rounds, %v drafted, %v accepted", p, drafts, drafted, accepted)
				}
				sum := 0.0
				for i := 0; i < d.Max || (d.Max == 0 && i < decilm.DefaultDraftMax); i++ {
					v, ok := c[fmt.Sprintf("%s_num_accepted_tokens_per_pos_total[%d]", p, i)]
					if !ok {
						t.Errorf("%s: no accepted count at position %d", p, i)
					}
					sum += v
				}
				if sum != accepted {
					t.Errorf("%s: per-position counts sum to %v, accepted %v", p, sum, accepted)
				}
			}
			if r, ok := c["decilm_spec_decode_acceptance_rate"]; !ok || r < 0 || r > 1 {
				t.Errorf("acceptance rate %v", r)
			}
			t.Logf("%v", c)
		})
	}
}

// TestServeSpecStories: stories260K with prompt lookup and its own Q4_0 copy.
func TestServeSpecStories(t *testing.T) {
	m, err := decilm.Load(context.Background(), testmodel.Stories(t), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	q4, err := decilm.LoadDraft(context.Background(), m, "self:q4_0", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q4.Close() })
	testServeSpec(t, m, true, map[string]*decilm.Draft{
		"ngram":     {NGram: true},
		"self:q4_0": {Model: q4, Max: 4},
	})
}
