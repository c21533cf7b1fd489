package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/sample"
)

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
	per := int64(m.Net.Config.KVBytesPerToken(4))
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
