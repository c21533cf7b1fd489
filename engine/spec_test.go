package engine

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/sample"
)

// loadStories loads the embedded stories260K model written by testmodel.
func loadStories(t testing.TB) *decilm.Model {
	t.Helper()
	m, err := decilm.Load(context.Background(), testmodel.Stories(t), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// selfDraft is m's own weights at type typ, as --draft-model self:TYPE loads them.
func selfDraft(t testing.TB, m *decilm.Model, typ string) *decilm.Model {
	t.Helper()
	d, err := decilm.LoadDraft(context.Background(), m, "self:"+typ, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// specRequests are 16 greedy requests whose prompts share prefixes (so that the second
// wave reuses cached slots) and repeat themselves (so that prompt lookup finds drafts),
// with a mix of options that speculation must leave alone: log-probabilities, stop
// strings, end of sequence, min_tokens and a stop token id.
func specRequests(m *decilm.Model) []Request {
	texts := []string{
		"Tom had a red ball. Tom had a red ball. Tom had",
		"Tom had a red ball. Tom had a big dog. Tom had",
		"Lily saw a cat. The cat was happy. Lily saw a cat. The",
		"Once upon a time, there was a little girl. Once upon a time,",
	}
	var rs []Request
	for i := range 16 {
		p := m.Encode(texts[i%len(texts)], nil)
		if i >= 8 { // a longer prompt continuing a shorter one
			p = append(p, m.Encode(" and the sun was", nil)[1:]...)
		}
		r := Request{Prompt: p, MaxTokens: 12 + 5*(i%4), IgnoreEOS: i%3 != 0}
		switch i % 8 {
		case 1:
			r.Logprobs, r.TopLogprobs = true, 2
		case 2:
			r.Stop = []string{"ball."}
		case 3:
			r.MinTokens = 3
		case 5:
			r.StopTokenIDs = []int{p[len(p)-1]}
		}
		rs = append(rs, r)
	}
	return rs
}

// run submits rs all at once and returns every request's events.
func runAll(t testing.TB, e *Engine, rs []Request) [][]Event {
	t.Helper()
	ctx := context.Background()
	out := make([][]Event, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		ch, err := e.Submit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				ev.PrefillDone = ev.PrefillDone.AddDate(-ev.PrefillDone.Year(), 0, 0) // times differ
				out[i] = append(out[i], ev)
			}
		}()
	}
	wg.Wait()
	for i, evs := range out {
		if last := evs[len(evs)-1]; last.Err != nil {
			t.Fatalf("request %d: %v", i, last.Err)
		}
	}
	return out
}

// sameEvents compares two requests' streams: every token (with its log-probabilities),
// the text and the finish.
func sameEvents(a, b []Event) error {
	tokens := func(evs []Event) (ids []Token, text string, last Event) {
		for _, ev := range evs {
			if ev.Token != nil {
				ids = append(ids, *ev.Token)
			}
			text += ev.Text
		}
		return ids, text, evs[len(evs)-1]
	}
	ia, ta, la := tokens(a)
	ib, tb, lb := tokens(b)
	switch {
	case !reflect.DeepEqual(ia, ib):
		return fmt.Errorf("tokens %v\nwant %v", ia, ib)
	case ta != tb:
		return fmt.Errorf("text %q, want %q", ta, tb)
	case la.FinishReason != lb.FinishReason || la.CompletionTokens != lb.CompletionTokens:
		return fmt.Errorf("finish %q after %d tokens, want %q after %d", la.FinishReason, la.CompletionTokens, lb.FinishReason, lb.CompletionTokens)
	}
	return nil
}

// testSpecGreedy runs specRequests twice (the second wave with cached prompts) on an
// engine with each drafter and wants every stream to be the plain engine's, token for
// token, with the speculative counters consistent. Prompt lookup must have drafted when
// lookupHits is set (a random-weight model's output rarely repeats, so prompt lookup may
// find nothing to draft there); a draft model always drafts.
func testSpecGreedy(t *testing.T, m *decilm.Model, lookupHits bool, drafts map[string]*decilm.Draft) {
	rs := specRequests(m)
	plain := runAll(t, newEngine(t, m, Options{Parallel: 16}), rs)
	// The plain engine is the root package's sequential decoding (TestGreedyAloneAndBusy);
	// check one request here too.
	ref, err := m.GenerateTokens(context.Background(), rs[0].Prompt, decilm.GenerateOptions{MaxTokens: rs[0].MaxTokens, IgnoreEOS: rs[0].IgnoreEOS})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, ev := range plain[0] {
		if ev.Token != nil {
			ids = append(ids, ev.Token.ID)
		}
	}
	if !equalInts(ids, ref.Tokens) {
		t.Fatalf("plain engine %v, sequential %v", ids, ref.Tokens)
	}
	for name, d := range drafts {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, m, Options{Parallel: 16, Draft: d})
			for wave := range 2 {
				got := runAll(t, e, rs)
				for i := range rs {
					if err := sameEvents(got[i], plain[i]); err != nil {
						t.Errorf("wave %d, request %d: %v", wave, i, err)
					}
				}
			}
			st := e.Stats()
			sp := st.Spec
			t.Logf("%d rounds, %d drafted, %d accepted, per position %v; %d prompt tokens cached",
				sp.Drafts, sp.DraftTokens, sp.Accepted, sp.AcceptedPerPos, st.PromptCacheTokens)
			checkSpecStats(t, sp, d.Model != nil || lookupHits)
			if st.PromptCacheTokens == 0 {
				t.Error("the second wave reused no cached prompt")
			}
			if st.KVBytes != 0 || st.KVReserved != 0 {
				t.Errorf("idle engine holds %d bytes, reserves %d", st.KVBytes, st.KVReserved)
			}
		})
	}
}

// checkSpecStats wants drafts (when drafted is set), accepted <= drafted, and
// per-position counts that fall with the position and sum to the accepted tokens.
func checkSpecStats(t *testing.T, sp SpecStats, drafted bool) {
	t.Helper()
	if (drafted && sp.Drafts == 0) || sp.DraftTokens < sp.Drafts {
		t.Errorf("%d rounds with %d drafted tokens", sp.Drafts, sp.DraftTokens)
	}
	if sp.Accepted > sp.DraftTokens {
		t.Errorf("%d accepted of %d drafted", sp.Accepted, sp.DraftTokens)
	}
	var sum int64
	prev := sp.Drafts
	for i, n := range sp.AcceptedPerPos {
		if n > prev {
			t.Errorf("position %d accepted %d times, position before %d", i, n, prev)
		}
		prev = n
		sum += n
	}
	if sum != sp.Accepted {
		t.Errorf("per-position counts sum to %d, accepted %d", sum, sp.Accepted)
	}
}

// TestSpecGreedyStories: on stories260K, 16 concurrent greedy streams with prompt lookup,
// with the model's own Q8_0 and Q4_0 copies, and with both, twice (prompt caching), are
// the plain engine's streams.
func TestSpecGreedyStories(t *testing.T) {
	m := loadStories(t)
	testSpecGreedy(t, m, true, map[string]*decilm.Draft{
		"ngram":         {NGram: true},
		"self:q8_0":     {Model: selfDraft(t, m, "q8_0"), Max: 4},
		"self:q4_0":     {Model: selfDraft(t, m, "q4_0")},
		"ngram+q4_0 k1": {NGram: true, Model: selfDraft(t, m, "q4_0"), Max: 1},
	})
}

// TestSpecGreedySynth: the same on the synth tiny preset (variable GQA).
func TestSpecGreedySynth(t *testing.T) {
	m, _ := loadSynthTiny(t)
	testSpecGreedy(t, m, true, map[string]*decilm.Draft{
		"ngram":     {NGram: true},
		"self:q4_0": {Model: selfDraft(t, m, "q4_0"), Max: 3},
	})
}

// TestSpecOptions: a bad Draft is an error from New; a draft model's KV bytes are counted
// per token; grammar-free sequences speculate only past min_tokens.
func TestSpecOptions(t *testing.T) {
	m := loadStories(t)
	for _, d := range []*decilm.Draft{{}, {NGram: true, Max: -1}} {
		if _, err := New(m, Options{Draft: d}); err == nil {
			t.Errorf("draft %+v: no error", d)
		}
	}
	plain := newEngine(t, m, Options{})
	ng := newEngine(t, m, Options{Draft: &decilm.Draft{NGram: true}})
	self := newEngine(t, m, Options{Draft: &decilm.Draft{Model: m}})
	if ng.KVBytesPerToken() != plain.KVBytesPerToken() || self.KVBytesPerToken() != 2*plain.KVBytesPerToken() {
		t.Errorf("KV bytes per token: plain %d, ngram %d, self-drafted %d", plain.KVBytesPerToken(), ng.KVBytesPerToken(), self.KVBytesPerToken())
	}
}

// TestSpecSampledDistribution: with sampling on, the first tokens of an engine that
// speculates are distributed as those of one that does not. 1500 seeds each (6 tokens,
// temperature 1, top-k 12, a repeat penalty so that the distribution depends on the
// drafted history), run 16 at a time; a two-sample chi-square test per position and for
// the pair of the first two tokens (categories with fewer than 10 draws pooled). The
// seeds are fixed, so the test is deterministic; it fails below p = 1e-3.
func TestSpecSampledDistribution(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test")
	}
	m := loadStories(t)
	const seeds, gen = 1500, 6
	prompt := m.Encode("Tom had a red ball. Tom had a red", nil)
	run := func(d *decilm.Draft, seedBase uint64) (counts [gen + 1]map[int]int, sp SpecStats) {
		for i := range counts {
			counts[i] = map[int]int{}
		}
		e := newEngine(t, m, Options{Parallel: 16, Draft: d})
		var rs []Request
		for s := range uint64(seeds) {
			rs = append(rs, Request{Prompt: prompt, MaxTokens: gen, IgnoreEOS: true,
				Sampling: sample.Options{Temperature: 1, TopK: 12, RepeatPenalty: 1.3, Seed: seedBase + s}})
		}
		for i := 0; i < len(rs); i += 64 {
			for _, evs := range runAll(t, e, rs[i:min(i+64, len(rs))]) {
				var ids []int
				for _, ev := range evs {
					if ev.Token != nil {
						ids = append(ids, ev.Token.ID)
					}
				}
				if len(ids) != gen {
					t.Fatalf("%d tokens, want %d", len(ids), gen)
				}
				for j, tok := range ids {
					counts[j][tok]++
				}
				counts[gen][ids[0]*512+ids[1]]++
			}
		}
		return counts, e.Stats().Spec
	}
	plain, _ := run(nil, 1_000_000)
	for _, dc := range []struct {
		name string
		d    *decilm.Draft
	}{
		{"ngram", &decilm.Draft{NGram: true, Max: 4}},
		{"self:q4_0", &decilm.Draft{Model: selfDraft(t, m, "q4_0"), Max: 4}},
	} {
		spec, sp := run(dc.d, 2_000_000)
		checkSpecStats(t, sp, true)
		for j := range spec {
			x, df := testutil.TwoSampleChiSquare(plain[j], spec[j])
			p := testutil.ChiSquareUpper(x, df)
			t.Logf("%s, position %d: chi-square %.1f, df %d, p = %.3g", dc.name, j, x, df, p)
			if p < 1e-3 {
				t.Errorf("%s, position %d (%d: the first two): distribution differs from plain sampling (chi-square %.1f, df %d, p = %.3g)", dc.name, j, gen, x, df, p)
			}
		}
		t.Logf("%s: %d drafted, %d accepted", dc.name, sp.DraftTokens, sp.Accepted)
	}
}

// TestSpecGrammarPlain: in an engine that drafts, a grammar-constrained request decodes
// plainly beside speculating ones and gives the plain engine's output, and the free
// slots' cached bytes count the draft caches too.
func TestSpecGrammarPlain(t *testing.T) {
	m := loadStories(t)
	g, err := grammar.ParseGBNF(`root ::= "Tom had a " ("red" | "big") " ball." ( " Tom had a " ("red" | "big") " ball." )*`, "root")
	if err != nil {
		t.Fatal(err)
	}
	p := m.Encode("Tom had a red ball. Tom had a red ball. Tom had", nil)
	rs := []Request{
		{Prompt: p, MaxTokens: 30, Grammar: g},
		{Prompt: p, MaxTokens: 30, IgnoreEOS: true},
		{Prompt: p, MaxTokens: 30, Grammar: g},
	}
	plain := newEngine(t, m, Options{Parallel: 4})
	want := runAll(t, plain, rs)
	e := newEngine(t, m, Options{Parallel: 4, Draft: &decilm.Draft{NGram: true, Model: selfDraft(t, m, "q8_0")}})
	got := runAll(t, e, rs)
	for i := range rs {
		if err := sameEvents(got[i], want[i]); err != nil {
			t.Errorf("request %d: %v", i, err)
		}
	}
	st := e.Stats()
	if st.Spec.Drafts == 0 {
		t.Error("the free request did not speculate")
	}
	if pc := plain.Stats().KVCachedBytes; st.KVCachedBytes <= pc {
		t.Errorf("cached bytes %d, %d without a draft model: the draft caches are not counted", st.KVCachedBytes, pc)
	}
}
