package engine

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// loadSynthTiny loads the synth package's tiny preset (the tiny-decilm fixture's shape and
// recipe) and computes the greedy reference for the fixture's prompt with the root
// package's sequential generation (TestGreedyMatchesLlamaCpp checks that path against
// llama.cpp under the oracle tag).
func loadSynthTiny(t testing.TB) (*decilm.Model, greedyRef) {
	t.Helper()
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1234), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ref := greedyRef{Prompt: []int{1, 450, 4996, 17354, 1701, 29916}}
	res, err := m.GenerateTokens(context.Background(), ref.Prompt, decilm.GenerateOptions{MaxTokens: 32, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	ref.Tokens = res.Tokens
	return m, ref
}

func newEngine(t testing.TB, m *decilm.Model, o Options) *Engine {
	t.Helper()
	e, err := New(m, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// collect drains a stream.
func collect(t testing.TB, ch <-chan Event) (ids []int, text string, last Event) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ids, text, last
			}
			if ev.Token != nil {
				ids = append(ids, ev.Token.ID)
			}
			text += ev.Text
			if ev.Done {
				last = ev
			}
		case <-timeout:
			t.Fatal("stream did not end within 20 s")
		}
	}
}

// stepper lets a test run the engine one step at a time: each value sent on step allows
// one step; closing free lets it run on its own.
type stepper struct {
	step, free chan struct{}
}

func newStepper(t testing.TB, o *Options) *stepper {
	s := &stepper{step: make(chan struct{}), free: make(chan struct{})}
	o.beforeStep = func() {
		select {
		case <-s.step:
		case <-s.free:
		}
	}
	return s
}

// release lets the engine run freely; call it (or defer it) before Close.
func (s *stepper) release() {
	select {
	case <-s.free:
	default:
		close(s.free)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestGreedyAloneAndBusy: on the synth tiny preset (variable GQA), the engine's greedy tokens
// are the root package's sequential ones, alone and inside a busy batch with chunked prefill.
func TestGreedyAloneAndBusy(t *testing.T) {
	m, ref := loadSynthTiny(t)
	testGreedyAloneAndBusy(t, m, ref)
}

// testGreedyAloneAndBusy wants ref's tokens for ref's prompt from an engine running it alone
// and from one running it among seven sampled requests.
func testGreedyAloneAndBusy(t *testing.T, m *decilm.Model, ref greedyRef) {
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
				t.Errorf("tokens %v\nwant %v", ids, ref.Tokens)
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

// TestBatchInvariance runs greedy and seeded requests alone, then all at once, and wants
// exactly the same tokens.
func TestBatchInvariance(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	prompts := []string{"Once upon a time", "The cat", "Lily went to the park and saw a big dog. The dog", "Tom"}
	var reqs []Request
	for i, p := range prompts {
		for _, temp := range []float32{0, 1} {
			reqs = append(reqs, Request{Prompt: m.Encode(p, nil), MaxTokens: 24 + i, Stop: []string{"zzz"},
				Sampling: sample.Options{Temperature: temp, TopP: 0.9, Seed: uint64(7 * i)}})
		}
	}
	alone := newEngine(t, m, Options{Parallel: 1})
	want := make([][]int, len(reqs))
	wantText := make([]string, len(reqs))
	for i, r := range reqs {
		ch, err := alone.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		want[i], wantText[i], _ = collect(t, ch)
		// The root package's sequential generation is the reference for greedy requests.
		if r.Sampling.Temperature == 0 {
			res, err := m.GenerateTokens(ctx, r.Prompt, decilm.GenerateOptions{MaxTokens: r.MaxTokens})
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(res.Tokens, want[i]) || res.Text != wantText[i] {
				t.Errorf("request %d: engine %v %q, Generate %v %q", i, want[i], wantText[i], res.Tokens, res.Text)
			}
		}
	}
	busy := newEngine(t, m, Options{Parallel: 16, StepRows: 9})
	chans := make([]<-chan Event, len(reqs))
	for round := 0; round < 2; round++ {
		for i, r := range reqs {
			if chans[i], err = busy.Submit(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		for i, ch := range chans {
			got, text, _ := collect(t, ch)
			if !equalInts(got, want[i]) || text != wantText[i] {
				t.Errorf("round %d request %d: batched %v %q, alone %v %q", round, i, got, text, want[i], wantText[i])
			}
		}
	}
	// Finished sequences leave at the start of the next step.
	waitFor(t, func() bool { st := busy.Stats(); return st.Running == 0 && st.Queued == 0 && st.KVReserved == 0 })
}

func TestSubmitErrors(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := newEngine(t, m, Options{Parallel: 2, KVBudget: 100 << 10})
	L := e.ContextLength()
	long := make([]int, L)
	for i := range long {
		long[i] = 5
	}
	cases := []struct {
		name string
		req  Request
		want error
	}{
		{"empty prompt", Request{}, nil},
		{"prompt fills the context", Request{Prompt: long, MaxTokens: 1}, ErrContextLength},
		{"max tokens past the context", Request{Prompt: long[:10], MaxTokens: L}, ErrContextLength},
		{"over budget", Request{Prompt: long[:10], MaxTokens: -1}, ErrTooLarge},
		{"token outside vocabulary", Request{Prompt: []int{1, 1 << 20}}, nil},
		{"bad sampling", Request{Prompt: []int{1}, Sampling: sample.Options{Temperature: -1}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Submit(context.Background(), c.req)
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("Submit: %v, want %v", err, c.want)
			}
		})
	}
}

// TestAdmissionAndQueue checks that the KV budget bounds the running sequences and that
// a full queue refuses requests.
func TestAdmissionAndQueue(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	per := model.KVBytesPerToken(m.Net.Config, model.CacheF16)
	prompt := m.Encode("Once upon a time", nil)
	req := Request{Prompt: prompt, MaxTokens: 30, IgnoreEOS: true}
	need := int64(len(prompt)+29) * per
	// Room for two such requests, not three.
	o := Options{Parallel: 8, KVBudget: 2*need + need/2, QueueSize: 3}
	st := newStepper(t, &o)
	e := newEngine(t, m, o)
	t.Cleanup(st.release)
	ctx := context.Background()
	var chans []<-chan Event
	for i := 0; i < 5; i++ {
		ch, err := e.Submit(ctx, req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		chans = append(chans, ch)
		if i == 1 {
			// Step until the first two are admitted; the engine then waits before its next
			// step, so the next three stay queued.
			deadline := time.Now().Add(10 * time.Second)
			for e.Stats().Running < 2 {
				select {
				case st.step <- struct{}{}:
				case <-time.After(5 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("not admitted: %+v", e.Stats())
				}
			}
		}
	}
	if _, err := e.Submit(ctx, req); !errors.Is(err, ErrQueueFull) {
		t.Errorf("sixth request: %v, want ErrQueueFull", err)
	}
	if st := e.Stats(); st.Queued != 3 || st.Running != 2 {
		t.Errorf("stats %+v, want 3 queued and 2 running", st)
	}
	st.release()
	maxRunning := 0
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := e.Stats()
			maxRunning = max(maxRunning, s.Running)
			if s.KVReserved > s.KVBudget {
				t.Errorf("reserved %d > budget %d", s.KVReserved, s.KVBudget)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	for _, ch := range chans {
		if ids, _, last := collect(t, ch); len(ids) != 30 || last.Err != nil {
			t.Errorf("%d tokens, last %+v", len(ids), last)
		}
	}
	close(stop)
	wg.Wait()
	if maxRunning > 2 {
		t.Errorf("%d sequences ran at once, the budget allows 2", maxRunning)
	}
	waitFor(t, func() bool { st := e.Stats(); return st.Running == 0 && st.Queued == 0 && st.KVReserved == 0 })
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCancel checks that cancelling a request ends its stream and frees its slot and
// budget, queued or running, and that Close cuts what is left.
func TestCancel(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	o := Options{Parallel: 1}
	st := newStepper(t, &o)
	e := newEngine(t, m, o)
	t.Cleanup(st.release)
	prompt := m.Encode("Once upon a time", nil)
	req := Request{Prompt: prompt, MaxTokens: 200, IgnoreEOS: true}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	run, err := e.Submit(ctx1, req)
	if err != nil {
		t.Fatal(err)
	}
	queued, err := e.Submit(ctx2, req)
	if err != nil {
		t.Fatal(err)
	}
	st.step <- struct{}{} // prefill and the first token
	if ev := <-run; ev.Token == nil || ev.Done {
		t.Fatalf("first event %+v", ev)
	}
	cancel2()
	cancel1()
	st.release() // at most one more step before the engine sees the cancellations
	if _, _, last := collect(t, queued); !errors.Is(last.Err, context.Canceled) {
		t.Errorf("queued request ended with %+v", last)
	}
	if ids, _, last := collect(t, run); !errors.Is(last.Err, context.Canceled) || len(ids) > 2 {
		t.Errorf("running request ended with %+v after %d more tokens", last, len(ids))
	}
	st.release()
	waitFor(t, func() bool { st := e.Stats(); return st.Running == 0 && st.Queued == 0 && st.KVReserved == 0 })
	// Close cuts a running request.
	ch, err := e.Submit(context.Background(), Request{Prompt: prompt, MaxTokens: 400, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	<-ch
	e.Close()
	if _, _, last := collect(t, ch); !errors.Is(last.Err, ErrClosed) {
		t.Errorf("after Close: %+v", last)
	}
	if _, err := e.Submit(context.Background(), req); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
}

func TestStopAndEOS(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := newEngine(t, m, Options{})
	ctx := context.Background()
	prompt := m.Encode("Once upon a time", nil)
	// Reference: the root package's generation with the same stop strings.
	for _, stop := range [][]string{nil, {"Lily"}, {"park", ", "}} {
		ref, err := m.GenerateTokens(ctx, prompt, decilm.GenerateOptions{MaxTokens: 150, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		ch, err := e.Submit(ctx, Request{Prompt: prompt, MaxTokens: 150, Stop: stop})
		if err != nil {
			t.Fatal(err)
		}
		_, text, last := collect(t, ch)
		if text != ref.Text || last.FinishReason != ref.FinishReason {
			t.Errorf("stop %q: %q (%s), Generate %q (%s)", stop, text, last.FinishReason, ref.Text, ref.FinishReason)
		}
	}
}

// BenchmarkDecode16 measures the engine's aggregate decoding speed with 16 concurrent
// greedy requests on the synth tiny model (compare with 1 to see what batching gives).
func BenchmarkDecode16(b *testing.B) { benchDecode(b, 16) }

// BenchmarkDecode1 is BenchmarkDecode16 with one request at a time.
func BenchmarkDecode1(b *testing.B) { benchDecode(b, 1) }

func benchDecode(b *testing.B, clients int) {
	m, ref := loadSynthTiny(b)
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
// sequential greedy reference for the synth tiny model); prompt log-probabilities and
// NoPromptCache always prefill; cached slots are dropped when the budget needs them.
func TestPromptCache(t *testing.T) {
	m, ref := loadSynthTiny(t)
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
			t.Fatalf("run %d: %v, sequential %v", i, got, ref.Tokens)
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

// greedyRef is a prompt and its greedy continuation (llama.cpp's for the tiny-decilm fixture,
// the sequential generation's for the synth model).
type greedyRef struct {
	Prompt []int `json:"prompt_tokens"`
	Tokens []int `json:"generated_tokens"`
}

// testPromptLogprobs wants the engine's prompt log-probabilities (and top 3) for prompt to
// match the logits row(p) of every position p.
func testPromptLogprobs(t *testing.T, m *decilm.Model, prompt []int, row func(p int) []float32) {
	// A float32 cache, as the reference rows are computed with.
	e := newEngine(t, m, Options{StepRows: 4, CacheType: model.CacheF32})
	ch, err := e.Submit(context.Background(), Request{Prompt: prompt, MaxTokens: 0, PromptLogprobs: true, TopLogprobs: 3})
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
	if len(lps) != len(prompt) {
		t.Fatalf("%d prompt logprobs for %d tokens", len(lps), len(prompt))
	}
	for p := 1; p < len(prompt); p++ {
		r := row(p - 1)
		want := float64(r[prompt[p]]) - sample.LogSumExp(r)
		if lps[p].ID != prompt[p] || math.Abs(float64(lps[p].Logprob)-want) > 2e-4 {
			t.Errorf("token %d: %+v, reference logprob %v", p, lps[p], want)
		}
		top := sample.TopLogprobs(r, 3)
		if len(lps[p].Top) != 3 || lps[p].Top[0].Token != top[0].Token {
			t.Errorf("token %d: top %v, reference %v", p, lps[p].Top, top)
		}
	}
}

// TestPromptLogprobsMatchForward: on the synth tiny model, the engine's prompt
// log-probabilities (prefilled in chunks of 4) are the log-softmax of model.Forward's logits
// for the whole prompt at once (TestPromptLogprobs compares with llama.cpp's under the
// oracle tag).
func TestPromptLogprobsMatchForward(t *testing.T) {
	m, ref := loadSynthTiny(t)
	var b model.Batch
	for p, tok := range ref.Prompt {
		b.Add(0, p, tok, true)
	}
	logits, err := m.Net.Forward(&b, model.NewCache(m.Net.Config, len(ref.Prompt)))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	logits = append([]float32(nil), logits...)
	testPromptLogprobs(t, m, ref.Prompt, func(p int) []float32 { return logits[p*V : (p+1)*V] })
}

// TestStatsIdleAtFinalEvent: when a request's final event arrives, the engine's stats no
// longer count its sequence (no running sequence, no bytes held or reserved), whether
// it ended by its budget, by cancellation or with the engine busy with others.
func TestStatsIdleAtFinalEvent(t *testing.T) {
	m, ref := loadSynthTiny(t)
	e := newEngine(t, m, Options{Parallel: 4})
	for i := range 40 {
		ctx, cancel := context.WithCancel(context.Background())
		ch, err := e.Submit(ctx, Request{Prompt: ref.Prompt, MaxTokens: 1 + i%3, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		if i%4 == 3 {
			cancel()
		}
		var last Event
		for ev := range ch {
			last = ev
		}
		cancel()
		if !last.Done {
			t.Fatalf("request %d: the stream closed without a final event", i)
		}
		if st := e.Stats(); st.Running != 0 || st.KVBytes != 0 || st.KVReserved != 0 {
			t.Fatalf("request %d ended (%q, %v) but the stats show %d running, %d bytes held, %d reserved",
				i, last.FinishReason, last.Err, st.Running, st.KVBytes, st.KVReserved)
		}
	}
}
