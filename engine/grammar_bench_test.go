package engine

import (
	"context"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
)

// BenchmarkGrammarStep compares the engine's step time with 16 sequences under a
// JSON-schema grammar and without one, alternating, on the model in $DECILM_BENCH_MODEL
// (for the figure: go run ./cmd/decilm synth --preset 1b DIR). It reports the
// median step time of each and the added fraction.
func BenchmarkGrammarStep(b *testing.B) {
	dir := os.Getenv("DECILM_BENCH_MODEL")
	if dir == "" {
		b.Skip("set DECILM_BENCH_MODEL to a model directory (go run ./cmd/decilm synth --preset 1b DIR)")
	}
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	g, err := grammar.FromJSONSchema([]byte(`{"type":"object","properties":{"story":{"type":"string"},"n":{"type":"integer"}},"required":["story","n"]}`))
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(m, Options{Parallel: 16})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	prompt := m.Encode("Once upon a time", nil)
	round := func(gr *grammar.Grammar) time.Duration {
		s0 := e.Stats().Steps
		start := time.Now()
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ {
			ch, err := e.Submit(context.Background(), Request{Prompt: prompt, MaxTokens: 16, IgnoreEOS: true, Grammar: gr,
				Sampling: sample.Options{Temperature: 1, Seed: uint64(i)}})
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ev := range ch {
					if ev.Err != nil {
						b.Error(ev.Err)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start) / time.Duration(max(e.Stats().Steps-s0, 1))
	}
	round(nil) // warm up
	var plain, constrained []float64
	for i := 0; i < b.N; i++ {
		plain = append(plain, round(nil).Seconds()*1000)
		constrained = append(constrained, round(g).Seconds()*1000)
	}
	med := func(x []float64) float64 { sort.Float64s(x); return x[len(x)/2] }
	p, c := med(plain), med(constrained)
	b.ReportMetric(p, "ms/step-plain")
	b.ReportMetric(c, "ms/step-grammar")
	b.ReportMetric((c-p)/p*100, "%added")
}
