//go:build oracle

package server

import (
	"context"
	"encoding/binary"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/sample"
	"github.com/openai/openai-go/v3"
)

// TestQueueFull sends many requests at once to a one-slot engine with a one-request
// queue: the ones that find the queue full get 429, the others complete.
func TestQueueFull(t *testing.T) {
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{Parallel: 1, QueueSize: 1}, Options{})
	const n = 12
	results := make(chan response, n)
	for i := 0; i < n; i++ {
		go func() {
			results <- postJSON(t, f.ts.URL+"/v1/completions", "", `{"prompt":"Once","max_tokens":200,"ignore_eos":true}`)
		}()
	}
	full := 0
	for i := 0; i < n; i++ {
		r := <-results
		switch {
		case r.status == http.StatusTooManyRequests && strings.Contains(r.body, "queue is full"):
			full++
		case r.status != 200:
			t.Errorf("%d %s", r.status, r.body)
		}
	}
	if full == 0 || full == n {
		t.Errorf("%d of %d requests refused with 429; want some refused and some served", full, n)
	}
}

// TestEchoLogprobsMatchLlamaCpp scores the tiny-decilm fixture prompt through openai-go
// (echo, max_tokens 0, logprobs 1, as lm-evaluation-harness asks) and compares with the
// log-softmax of llama.cpp's logits.
func TestEchoLogprobsMatchLlamaCpp(t *testing.T) {
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{}, Options{})
	prompt := []int64{1, 450, 4996, 17354, 1701, 29916} // prompts.json, prompt 0
	raw, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	res, err := f.client.Completions.New(context.Background(), openai.CompletionNewParams{
		Model:     openai.CompletionNewParamsModel(m.Name),
		Prompt:    openai.CompletionNewParamsPromptUnion{OfArrayOfTokens: prompt},
		MaxTokens: openai.Int(0),
		Echo:      openai.Bool(true),
		Logprobs:  openai.Int(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	lp := res.Choices[0].Logprobs
	if len(lp.TokenLogprobs) != len(prompt) {
		t.Fatalf("%d logprobs for %d tokens", len(lp.TokenLogprobs), len(prompt))
	}
	for p := 1; p < len(prompt); p++ {
		row := make([]float32, V)
		for i := range row {
			row[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*((p-1)*V+i):]))
		}
		want := float64(row[prompt[p]]) - sample.LogSumExp(row)
		if math.Abs(lp.TokenLogprobs[p]-want) > 2e-4 {
			t.Errorf("token %d: logprob %v, llama.cpp %v", p, lp.TokenLogprobs[p], want)
		}
		best := sample.TopLogprobs(row, 1)[0]
		for tok, v := range lp.TopLogprobs[p] {
			if math.Abs(v-float64(best.Logprob)) > 2e-4 || tok != tokenText(m.Tokenizer, best.Token) {
				t.Errorf("token %d: top %q %v, llama.cpp %q %v", p, tok, v, tokenText(m.Tokenizer, best.Token), best.Logprob)
			}
		}
	}
}
