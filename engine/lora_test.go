package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/lora/loratest"
	"github.com/decilm/decilm/model"
)

// TestAdaptersShareABatch: requests of two LoRA adapters and of none, admitted together and
// run in the same steps, give (greedy) the tokens each gives alone; the prompt cache does
// not hand one adapter's keys and values to another; Stats names the adapters.
func TestAdaptersShareABatch(t *testing.T) {
	m, ref := loadSynthTiny(t)
	cfg := m.Net.Config
	a1, err := lora.Load(loratest.Random(t, cfg, 1, []string{"q_proj", "v_proj", "down_proj"}, 4, 8), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := lora.Load(loratest.Random(t, cfg, 2, []string{"k_proj", "o_proj", "gate_proj", "up_proj"}, 2, 4), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	a1.Name, a2.Name = "one", "two"
	ads := []*model.Adapter{a1, nil, a2}
	ctx := context.Background()
	req := func(a *model.Adapter) Request {
		return Request{Prompt: ref.Prompt, MaxTokens: 16, IgnoreEOS: true, Adapter: a}
	}
	alone := make([][]int, len(ads))
	for i, a := range ads {
		e := newEngine(t, m, Options{Parallel: 1, NoPromptCache: true})
		ch, err := e.Submit(ctx, req(a))
		if err != nil {
			t.Fatal(err)
		}
		alone[i], _, _ = collect(t, ch)
		e.Close()
	}
	if !equalInts(alone[1], ref.Tokens[:16]) {
		t.Fatalf("base request: %v, want %v", alone[1], ref.Tokens[:16])
	}
	if equalInts(alone[0], alone[1]) || equalInts(alone[2], alone[1]) || equalInts(alone[0], alone[2]) {
		t.Fatalf("the adapters do not change the greedy tokens: %v", alone)
	}

	o := Options{Parallel: 4}
	st := newStepper(t, &o)
	e := newEngine(t, m, o)
	defer st.release()
	var chans []<-chan Event
	for _, a := range ads {
		ch, err := e.Submit(ctx, req(a))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	// The loop admitted the first request before the others arrived; after one step it
	// admits the other two and waits: from then on every step runs all three.
	st.step <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Running != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := e.Stats(); s.Running != 3 || !slices.Equal(s.RunningAdapters, []string{"one", "two"}) {
		t.Errorf("%d running with adapters %v, want 3 with [one two]", s.Running, s.RunningAdapters)
	}
	for i := 0; i < 4; i++ {
		st.step <- struct{}{}
		st.step <- struct{}{} // the step after: the previous one's stats are published
		if s := e.Stats(); s.LastBatchSeqs != 3 {
			t.Errorf("step %d ran %d sequences, want 3 in one batch", 2*i+2, s.LastBatchSeqs)
		}
	}
	st.release()
	for i, ch := range chans {
		got, _, _ := collect(t, ch)
		if !equalInts(got, alone[i]) {
			t.Errorf("request %d (adapter %v): %v in a shared batch, %v alone", i, ads[i] != nil, got, alone[i])
		}
	}
	// Prompt caching: the same prompt under another adapter must not reuse the slots now
	// holding the three finished sequences' keys (which it would without the check).
	for i, a := range []*model.Adapter{a2, a1} {
		ch, err := e.Submit(ctx, req(a))
		if err != nil {
			t.Fatal(err)
		}
		got, _, _ := collect(t, ch)
		want := alone[2-2*i]
		if !equalInts(got, want) {
			t.Errorf("resubmitted with adapter %s: %v, want %v", a.Name, got, want)
		}
	}
}
