//go:build unix

package engine

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/gen"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
)

// BenchmarkGrammarStep compares the engine's decode step time with 16 sequences under a
// JSON-schema grammar and without one, alternating rounds, on the model in
// $DECILM_BENCH_MODEL (for the figure: go run ./cmd/decilm synth --preset 1b DIR,
// then decilm quantize --type q4_0). A round is 16 sequences of up to 24 tokens, admitted
// and prefilled together; the steps timed are the decode steps in which all 16 sequences
// are still running (from the second step until the first sequence ends, which the
// grammar's output may do early: the closing bound binds near max_tokens), so that both
// sides are timed on the same batch. It reports the median wall time of those steps and
// the added fraction, and the same for the process's CPU time (user + system), which a
// machine shared with other work disturbs less than the wall clock.
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
	// The loop calls beforeStep at the start of every step: the marks time the steps.
	var mu sync.Mutex
	var wallMarks []time.Time
	var cpuMarks []time.Duration
	e, err := New(m, Options{Parallel: 16, beforeStep: func() {
		mu.Lock()
		wallMarks, cpuMarks = append(wallMarks, time.Now()), append(cpuMarks, cpuTime())
		mu.Unlock()
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	prompt := m.Encode("Once upon a time", nil)
	const maxTokens = 24
	round := func(gr *grammar.Grammar) (wall, cpu []float64) {
		mu.Lock()
		wallMarks, cpuMarks = nil, nil
		mu.Unlock()
		var wg sync.WaitGroup
		counts := make([]int, 16)
		for i := 0; i < 16; i++ {
			ch, err := e.Submit(context.Background(), Request{Prompt: prompt, MaxTokens: maxTokens, IgnoreEOS: true, Grammar: gr,
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
					if ev.Token != nil {
						counts[i]++
					}
				}
			}()
		}
		wg.Wait()
		// Step k (0: the prefill, which samples the first tokens) runs from mark k to mark
		// k+1; a sequence with n tokens took part in steps 0 to n-1.
		full := slices.Min(counts)
		mu.Lock()
		defer mu.Unlock()
		for k := 1; k < full && k+1 < len(wallMarks); k++ {
			wall = append(wall, wallMarks[k+1].Sub(wallMarks[k]).Seconds()*1000)
			cpu = append(cpu, (cpuMarks[k+1]-cpuMarks[k]).Seconds()*1000)
		}
		return wall, cpu
	}
	// Warm up both: the grammar's first round also builds the vocabulary's trie (once per
	// engine, on first use) and meets the grammar's states for the first time.
	round(nil)
	round(g)
	var plain, constrained, plainCPU, constrainedCPU []float64
	for i := 0; i < b.N; i++ {
		w, c := round(nil)
		plain, plainCPU = append(plain, w...), append(plainCPU, c...)
		w, c = round(g)
		constrained, constrainedCPU = append(constrained, w...), append(constrainedCPU, c...)
	}
	if len(plain) == 0 || len(constrained) == 0 {
		b.Fatalf("no full decode steps timed (%d plain, %d constrained)", len(plain), len(constrained))
	}
	med := func(x []float64) float64 { sort.Float64s(x); return x[len(x)/2] }
	b.ReportMetric(float64(len(constrained)), "steps-grammar")
	p, c := med(plain), med(constrained)
	b.ReportMetric(p, "ms/step-plain")
	b.ReportMetric(c, "ms/step-grammar")
	b.ReportMetric((c-p)/p*100, "%added")
	p, c = med(plainCPU), med(constrainedCPU)
	b.ReportMetric(p, "cpu-ms/step-plain")
	b.ReportMetric(c, "cpu-ms/step-grammar")
	b.ReportMetric((c-p)/p*100, "%added-cpu")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGrammarMaskPhase times, alone, what the grammar adds to a decode step of the
// engine at batch 16: for 16 sequences under the JSON-schema grammar of
// BenchmarkGrammarStep, the masks prepared (Prepare, which the engine runs during the
// forward pass) and applied, and a token sampled from each at temperature 1 (Next), over
// the vocabulary of the model in $DECILM_BENCH_MODEL with fixed random logits; without a
// grammar, Next alone (Constrain then only copies the row). It reports the median wall
// time of the whole phase and of its masks (Prepare and Constrain). A sequence that ends
// starts over. Short repetitions, so that the
// median of many is little disturbed by other work on the machine. budget is max_tokens:
// 16 (the closing bound of the grammar binds on every step) or 256 (it binds only at the
// end).
func BenchmarkGrammarMaskPhase(b *testing.B) {
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
	gm := e.genModel()
	prompt := m.Encode("Once upon a time", nil)
	V := m.Net.Config.Vocab
	rng := rand.New(rand.NewPCG(1, 2))
	rows := make([][]float32, 16)
	for i := range rows {
		rows[i] = make([]float32, V)
		for j := range rows[i] {
			rows[i][j] = float32(rng.NormFloat64() * 2)
		}
	}
	for _, budget := range []int{16, 256} {
		for _, gr := range []*grammar.Grammar{nil, g} {
			name := "plain"
			if gr != nil {
				name = "grammar"
			}
			b.Run(name+"/max_tokens="+strconv.Itoa(budget), func(b *testing.B) {
				seed := uint64(0)
				fresh := func() *gen.State {
					seed++
					st, err := gen.New(gm, prompt, gen.Options{MaxTokens: budget, Grammar: gr, IgnoreEOS: true,
						Sampling: sample.Options{Temperature: 1, Seed: seed}})
					if err != nil {
						b.Fatal(err)
					}
					return st
				}
				states := make([]*gen.State, 16)
				for i := range states {
					states[i] = fresh()
				}
				var maskTime time.Duration
				step := func() {
					for i, st := range states {
						t0 := time.Now()
						st.Prepare()
						st.Constrain(rows[i]) // the mask, applied to a copy; Next samples from it
						maskTime += time.Since(t0)
						s, err := st.Next(rows[i])
						if err != nil {
							b.Fatal(err)
						}
						if s.Done {
							states[i] = fresh()
						}
					}
				}
				for i := 0; i < 64; i++ { // meet the grammar's states
					step()
				}
				var times, masks []float64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					maskTime = 0
					step()
					times = append(times, float64(time.Since(t0).Microseconds())/1000)
					masks = append(masks, float64(maskTime.Microseconds())/1000)
				}
				sort.Float64s(times)
				sort.Float64s(masks)
				b.ReportMetric(times[len(times)/2], "ms/step-median")
				b.ReportMetric(masks[len(masks)/2], "ms/mask-median")
				b.ReportMetric(masks[len(masks)/10], "ms/mask-p10")
			})
		}
	}
}
