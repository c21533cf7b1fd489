//go:build oracle

package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/sample"
)

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
	testGreedyAloneAndBusy(t, m, ref)
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
