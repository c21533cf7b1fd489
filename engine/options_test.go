package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
)

// TestMinTokensStopTokenIDsGrammar checks the per-request options on the embedded model:
// min_tokens keeps EOS and stop tokens out, stop_token_ids end generation without the
// token, and a grammar's output is a sentence of it.
func TestMinTokensStopTokenIDsGrammar(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := newEngine(t, m, Options{})
	prompt := m.Encode("Once upon a time", nil)
	run := func(r Request) ([]int, string, Event) {
		ch, err := e.Submit(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return collect(t, ch)
	}
	// A bias makes EOS certain: without min tokens nothing is generated, with 5 exactly 5.
	eos := map[int]float32{m.EOS[0]: 100}
	if ids, _, last := run(Request{Prompt: prompt, MaxTokens: 50, Sampling: sample.Options{LogitBias: eos}}); len(ids) != 0 || last.FinishReason != "stop" {
		t.Fatalf("EOS biased: %d tokens (%s)", len(ids), last.FinishReason)
	}
	if ids, _, last := run(Request{Prompt: prompt, MaxTokens: 50, MinTokens: 5, Sampling: sample.Options{LogitBias: eos}}); len(ids) != 5 || last.FinishReason != "stop" {
		t.Errorf("min tokens 5: %d tokens (%s)", len(ids), last.FinishReason)
	}
	ids, _, _ := run(Request{Prompt: prompt, MaxTokens: 40})
	// Stop at the third token's id: the output ends before its first occurrence.
	stopID := ids[2]
	first := 0
	for first < len(ids) && ids[first] != stopID {
		first++
	}
	ids3, _, last3 := run(Request{Prompt: prompt, MaxTokens: 300, StopTokenIDs: []int{stopID}})
	if len(ids3) != first || last3.FinishReason != "stop" {
		t.Errorf("stop token %d: %d tokens (%s), want %d", stopID, len(ids3), last3.FinishReason, first)
	}
	// A grammar, sampled.
	g, err := grammar.FromJSONSchema([]byte(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"enum":["x","y"]}},"required":["a","b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for seed := uint64(0); seed < 10; seed++ {
		_, text, last := run(Request{Prompt: prompt, MaxTokens: 200, Grammar: g, Sampling: sample.Options{Temperature: 1, Seed: seed}})
		var v struct {
			A *int    `json:"a"`
			B *string `json:"b"`
		}
		if err := json.Unmarshal([]byte(text), &v); err != nil || v.A == nil || v.B == nil || last.FinishReason != "stop" {
			t.Errorf("seed %d: %q (%s): %v", seed, text, last.FinishReason, err)
		}
	}
	if _, err := e.Submit(context.Background(), Request{Prompt: prompt, MinTokens: -1}); err == nil {
		t.Error("negative min tokens accepted")
	}
}
