//go:build oracle

package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/sample"
)

// greedyRef is llama.cpp's greedy continuation of the tiny-decilm fixture prompt.
type greedyRef struct {
	Prompt []int `json:"prompt_tokens"`
	Tokens []int `json:"generated_tokens"`
}

func loadTiny(t testing.TB) (*decilm.Model, greedyRef) {
	t.Helper()
	dir := testutil.Fixture(t, "tiny-decilm")
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref greedyRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return m, ref
}

// TestGreedyMatchesLlamaCpp checks the engine's greedy tokens against llama.cpp's for the
// tiny-decilm fixture, alone and inside a busy batch with chunked prefill.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	m, ref := loadTiny(t)
	ctx := context.Background()
	req := Request{Prompt: ref.Prompt, MaxTokens: len(ref.Tokens), IgnoreEOS: true}
	cases := []struct {
		name  string
		opt   Options
		noise int // other requests running at the same time
	}{
		{"alone", Options{Parallel: 1}, 0},
		{"busy batch, chunked prefill", Options{Parallel: 8, StepRows: 20}, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEngine(t, m, c.opt)
			var noise []<-chan Event
			for i := 0; i < c.noise; i++ {
				p := make([]int, 5+7*i)
				for j := range p {
					p[j] = 100 + 37*i + 11*j
				}
				ch, err := e.Submit(ctx, Request{Prompt: p, MaxTokens: 40, IgnoreEOS: true,
					Sampling: sample.Options{Temperature: 0.9, Seed: uint64(i)}})
				if err != nil {
					t.Fatal(err)
				}
				noise = append(noise, ch)
			}
			ch, err := e.Submit(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			ids, _, last := collect(t, ch)
			if !equalInts(ids, ref.Tokens) {
				t.Errorf("tokens %v\nllama.cpp %v", ids, ref.Tokens)
			}
			if last.FinishReason != "length" || last.CompletionTokens != len(ref.Tokens) || last.PromptTokens != len(ref.Prompt) {
				t.Errorf("last event %+v", last)
			}
			for _, n := range noise {
				if _, _, l := collect(t, n); l.Err != nil {
					t.Error(l.Err)
				}
			}
		})
	}
}

// TestPromptLogprobs compares the prompt log-probabilities with llama.cpp's logits.
func TestPromptLogprobs(t *testing.T) {
	m, ref := loadTiny(t)
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	if len(b) != 4*V*len(ref.Prompt) {
		t.Fatalf("logits_0.f32 has %d bytes", len(b))
	}
	row := func(p int) []float32 {
		r := make([]float32, V)
		for i := range r {
			r[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*(p*V+i):]))
		}
		return r
	}
	e := newEngine(t, m, Options{StepRows: 4})
	ch, err := e.Submit(context.Background(), Request{Prompt: ref.Prompt, MaxTokens: 0, PromptLogprobs: true, TopLogprobs: 3})
	if err != nil {
		t.Fatal(err)
	}
	var lps []Token
	n := 0
	for ev := range ch {
		n++
		if ev.PromptLogprobs != nil {
			lps = ev.PromptLogprobs
		}
		if ev.Token != nil {
			t.Errorf("max tokens 0 generated %d", ev.Token.ID)
		}
		if ev.Done && (ev.FinishReason != "length" || ev.Err != nil) {
			t.Errorf("last event %+v", ev)
		}
	}
	if len(lps) != len(ref.Prompt) {
		t.Fatalf("%d prompt logprobs for %d tokens", len(lps), len(ref.Prompt))
	}
	for p := 1; p < len(ref.Prompt); p++ {
		r := row(p - 1)
		want := float64(r[ref.Prompt[p]]) - sample.LogSumExp(r)
		if lps[p].ID != ref.Prompt[p] || math.Abs(float64(lps[p].Logprob)-want) > 2e-4 {
			t.Errorf("token %d: %+v, llama.cpp logprob %v", p, lps[p], want)
		}
		top := sample.TopLogprobs(r, 3)
		if len(lps[p].Top) != 3 || lps[p].Top[0].Token != top[0].Token {
			t.Errorf("token %d: top %v, llama.cpp %v", p, lps[p].Top, top)
		}
	}
}

func benchDecode(b *testing.B, clients int) {
	m, ref := loadTiny(b)
	e := newEngine(b, m, Options{Parallel: clients})
	ctx := context.Background()
	const perReq = 32
	b.ResetTimer()
	start := time.Now()
	tokens := 0
	for i := 0; i < b.N; i++ {
		var chans []<-chan Event
		for c := 0; c < clients; c++ {
			ch, err := e.Submit(ctx, Request{Prompt: ref.Prompt, MaxTokens: perReq, IgnoreEOS: true})
			if err != nil {
				b.Fatal(err)
			}
			chans = append(chans, ch)
		}
		for _, ch := range chans {
			ids, _, _ := collect(b, ch)
			tokens += len(ids)
		}
	}
	b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tokens/s")
}

// TestPromptCache: a request whose prompt starts like a finished one's reuses that slot's
// keys and values for the shared tokens, with outputs identical to a fresh prefill (the
// llama.cpp greedy reference for the fixture prompt); prompt log-probabilities and
// NoPromptCache always prefill; cached slots are dropped when the budget needs them.
func TestPromptCache(t *testing.T) {
	m, ref := loadTiny(t)
	ctx := context.Background()
	run := func(e *Engine, r Request) []int {
		t.Helper()
		ch, err := e.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ids, _, last := collect(t, ch)
		if last.Err != nil {
			t.Fatal(last.Err)
		}
		return ids
	}
	greedy := Request{Prompt: ref.Prompt, MaxTokens: len(ref.Tokens), IgnoreEOS: true}
	e := newEngine(t, m, Options{Parallel: 2})
	for i := 0; i < 2; i++ {
		if got := run(e, greedy); !equalInts(got, ref.Tokens) {
			t.Fatalf("run %d: %v, llama.cpp %v", i, got, ref.Tokens)
		}
	}
	if got, want := e.Stats().PromptCacheTokens, int64(len(ref.Prompt)-1); got != want {
		t.Errorf("after a repeated prompt: %d prompt tokens reused, want %d", got, want)
	}
	if st := e.Stats(); st.KVBytes != 0 || st.KVCachedBytes == 0 {
		t.Errorf("idle engine: %d bytes held by running sequences (want 0), %d cached (want > 0)", st.KVBytes, st.KVCachedBytes)
	}

	// A prompt that shares only a prefix, and one that continues the finished sequence
	// (prompt + generated tokens): outputs as computed from scratch.
	fresh := newEngine(t, m, Options{Parallel: 2, NoPromptCache: true})
	branch := append(append([]int(nil), ref.Prompt[:3]...), 500, 600, 700)
	cont := append(append([]int(nil), ref.Prompt...), ref.Tokens[:5]...)
	for _, p := range [][]int{branch, cont} {
		r := Request{Prompt: p, MaxTokens: 6, IgnoreEOS: true}
		before := e.Stats().PromptCacheTokens
		got, want := run(e, r), run(fresh, r)
		if !equalInts(got, want) {
			t.Errorf("prompt %v: %v with the prompt cache, %v without", p, got, want)
		}
		if e.Stats().PromptCacheTokens == before {
			t.Errorf("prompt %v: no prompt tokens reused", p)
		}
	}
	if n := fresh.Stats().PromptCacheTokens; n != 0 {
		t.Errorf("NoPromptCache: %d prompt tokens reused", n)
	}

	// Prompt log-probabilities need every prompt row's logits: no reuse.
	before := e.Stats().PromptCacheTokens
	run(e, Request{Prompt: ref.Prompt, MaxTokens: 1, PromptLogprobs: true})
	if e.Stats().PromptCacheTokens != before {
		t.Error("a request with prompt log-probabilities reused cached tokens")
	}

	// A budget that holds one request: the cached slot is dropped for the next one.
	one := e.perTk * int64(len(ref.Prompt)+len(ref.Tokens))
	small := newEngine(t, m, Options{Parallel: 2, KVBudget: one})
	run(small, greedy)
	other := Request{Prompt: []int{1, 300, 301, 302}, MaxTokens: len(ref.Prompt) + len(ref.Tokens) - 4, IgnoreEOS: true}
	run(small, other)
	if st := small.Stats(); st.KVCachedBytes > one {
		t.Errorf("budget %d: %d bytes cached after a second request", one, st.KVCachedBytes)
	}
}

// BenchmarkDecode16 measures the engine's aggregate decoding speed with 16 concurrent
// greedy requests on the tiny-decilm fixture (compare with 1 to see what batching gives).
func BenchmarkDecode16(b *testing.B) { benchDecode(b, 16) }

// BenchmarkDecode1 is BenchmarkDecode16 with one request at a time.
func BenchmarkDecode1(b *testing.B) { benchDecode(b, 1) }
