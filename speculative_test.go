package decilm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/synth"
)

// tinyDeci is a small random-weight DeciLM (variable GQA, dynamic NTK RoPE past 96
// positions, 192 in all) over the embedded model's 512-token vocabulary, so that it can
// draft for stories260K and be drafted for.
var tinyDeci = synth.Preset{Name: "tiny-deci", Hidden: 64, Intermediate: 160, Layers: 3, Heads: 4,
	KVHeads: []int{4, 2, 1}, Vocab: 512, MaxPositions: 96, NormEps: 1e-5,
	RopeScalingJSON: `{"type": "dynamic", "factor": 2.0}`}

var (
	specOnce   sync.Once
	specModels struct {
		stories, deci *decilm.Model
		err           error
	}
)

// specTestModels loads the embedded stories260K and writes and loads tinyDeci with its
// tokenizer, once per test binary.
func specTestModels(t *testing.T) (stories, deci *decilm.Model) {
	t.Helper()
	specOnce.Do(func() {
		ctx := context.Background()
		s, err := decilm.Load(ctx, "", decilm.Options{})
		if err != nil {
			specModels.err = err
			return
		}
		net, err := synthNet(tinyDeci, 77)
		if err != nil {
			specModels.err = err
			return
		}
		specModels.stories = s
		specModels.deci = &decilm.Model{Name: "tiny-deci", Net: net, Tokenizer: s.Tokenizer, Template: s.Template, EOS: s.EOS}
	})
	if specModels.err != nil {
		t.Fatal(specModels.err)
	}
	return specModels.stories, specModels.deci
}

// synthNet builds preset p's random-weight model in memory.
func synthNet(p synth.Preset, seed uint64) (*model.Model, error) {
	var st bytes.Buffer
	if err := p.WriteSafetensors(&st, seed, nil); err != nil {
		return nil, err
	}
	fsys := fstest.MapFS{
		"m/config.json":       {Data: p.ConfigJSON()},
		"m/model.safetensors": {Data: st.Bytes()},
	}
	ck, err := checkpoint.OpenFS(fsys, "m")
	if err != nil {
		return nil, err
	}
	return model.FromCheckpoint(ck, model.Options{})
}

// randomPrompt returns n token ids from a fixed stream, starting with BOS.
func randomPrompt(n, vocab int, seed uint64) []int {
	p := []int{1}
	x := seed | 1
	for len(p) < n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p = append(p, 3+int(x%uint64(vocab-3)))
	}
	return p
}

// repetitive is a prompt whose continuation repeats it, for prompt lookup.
const repetitive = "Tom had a red ball. Tom had a red ball. Tom had a red ball. Tom had"

// TestSpeculativeGreedyIdentical: greedy decoding with any drafter returns the tokens,
// text and finish reason of plain greedy decoding, for stories260K and a tiny DeciLM, short
// prompts and prompts that end near the context limit (where the tiny DeciLM's dynamic
// NTK RoPE takes over), and draft lengths from 1 to 8.
func TestSpeculativeGreedyIdentical(t *testing.T) {
	ctx := context.Background()
	stories, deci := specTestModels(t)
	q4, err := stories.Requantize(ctx, "q4_0")
	if err != nil {
		t.Fatal(err)
	}
	defer q4.Close()
	deciQ4, err := deci.Requantize(ctx, "q4_0")
	if err != nil {
		t.Fatal(err)
	}
	defer deciQ4.Close()
	type target struct {
		m      *decilm.Model
		drafts map[string]*decilm.Draft
	}
	targets := []target{
		{stories, map[string]*decilm.Draft{
			"self:q4_0":       {Model: q4},
			"tiny-deci":       {Model: deci, Max: 3},
			"itself":          {Model: stories, Max: 8},
			"ngram":           {NGram: true},
			"ngram+q4_0 max1": {NGram: true, Model: q4, Max: 1},
		}},
		{deci, map[string]*decilm.Draft{
			"self:q4_0": {Model: deciQ4, Max: 5},
			"stories":   {Model: stories},
			"itself":    {Model: deci},
			"ngram":     {NGram: true, Max: 4},
		}},
	}
	for _, tg := range targets {
		limit := tg.m.Net.Config.ContextLength()
		prompts := map[string][]int{
			"bos":           {1},
			"repetitive":    tg.m.Encode(repetitive, nil),
			"random 40":     randomPrompt(40, 512, 3),
			"near the end":  randomPrompt(limit-13, 512, 5),
			"last position": randomPrompt(limit-1, 512, 7),
		}
		for pn, prompt := range prompts {
			maxToks := []int{-1}
			if pn == "repetitive" {
				maxToks = append(maxToks, 37)
			}
			for _, maxTok := range maxToks {
				o := decilm.GenerateOptions{MaxTokens: maxTok, IgnoreEOS: pn != "bos"}
				want, err := tg.m.GenerateTokens(ctx, prompt, o)
				if err != nil {
					t.Fatal(err)
				}
				for dn, d := range tg.drafts {
					o.Draft = d
					got, err := tg.m.GenerateTokens(ctx, prompt, o)
					if err != nil {
						t.Fatalf("%s, draft %s, prompt %s: %v", tg.m.Name, dn, pn, err)
					}
					name := fmt.Sprintf("%s, draft %s, prompt %s (%d tokens), max %d", tg.m.Name, dn, pn, len(prompt), maxTok)
					if !reflect.DeepEqual(got.Tokens, want.Tokens) || got.Text != want.Text || got.FinishReason != want.FinishReason {
						t.Fatalf("%s: speculative output differs from plain:\n got %v %q %s\nwant %v %q %s", name, got.Tokens, got.Text, got.FinishReason, want.Tokens, want.Text, want.FinishReason)
					}
					if got.Accepted > got.Drafted || (dn == "itself" && got.Accepted != got.Drafted) {
						t.Fatalf("%s: %d drafted, %d accepted", name, got.Drafted, got.Accepted)
					}
					if testing.Verbose() && maxTok < 0 {
						t.Logf("%s: %d tokens, %d drafted, %d accepted", name, len(got.Tokens), got.Drafted, got.Accepted)
					}
				}
			}
		}
	}
}

// TestSpeculativeStops: an end-of-sequence token or a stop string inside a run of
// accepted drafts ends generation where plain decoding ends it, with the same text.
func TestSpeculativeStops(t *testing.T) {
	ctx := context.Background()
	stories, _ := specTestModels(t)
	plain, err := stories.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 120})
	if err != nil {
		t.Fatal(err)
	}
	drafts := map[string]*decilm.Draft{"itself": {Model: stories}, "ngram": {NGram: true, Max: 8}}
	// EOS: pretend a token from the middle of the text ends sequences.
	for _, at := range []int{5, 17, 60} {
		m := *stories
		m.EOS = []int{plain.Tokens[at]}
		want, err := m.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 120})
		if err != nil {
			t.Fatal(err)
		}
		for dn, d := range drafts {
			got, err := m.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 120, Draft: d})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Tokens, want.Tokens) || got.Text != want.Text || got.FinishReason != "stop" {
				t.Fatalf("EOS %d, draft %s: got %v %q %s, want %v %q stop", m.EOS[0], dn, got.Tokens, got.Text, got.FinishReason, want.Tokens, want.Text)
			}
		}
	}
	// Stop strings starting inside the text.
	for _, at := range []int{20, 95, 300} {
		stop := plain.Text[at : at+7]
		want, err := stories.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 120, Stop: []string{stop}})
		if err != nil {
			t.Fatal(err)
		}
		for dn, d := range drafts {
			var streamed strings.Builder
			got, err := stories.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 120, Stop: []string{stop}, Draft: d,
				OnText: func(s string) error { streamed.WriteString(s); return nil }})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Tokens, want.Tokens) || got.Text != want.Text || got.FinishReason != "stop" || streamed.String() != got.Text {
				t.Fatalf("stop %q, draft %s: got %q (streamed %q) %s, want %q stop", stop, dn, got.Text, streamed.String(), got.FinishReason, want.Text)
			}
		}
	}
}

// TestVerifyRowsMatchPlainDecoding: the batch invariance speculation relies on. The
// logits of k+1 rows run in one Forward (as a verification step runs them) are bit for
// bit the logits of the same rows run one at a time, for both test models.
func TestVerifyRowsMatchPlainDecoding(t *testing.T) {
	stories, deci := specTestModels(t)
	for _, m := range []*decilm.Model{stories, deci} {
		net := m.Net
		vocab := net.Config.Vocab
		for _, tc := range []struct{ start, k int }{{1, 1}, {9, 4}, {30, 8}, {60, 16}} {
			toks := randomPrompt(tc.start+tc.k+1, vocab, uint64(tc.start))
			prefill := func() *model.Cache {
				c := model.NewCache(net.Config, 0)
				var b model.Batch
				for p := range tc.start {
					b.Add(0, p, toks[p], false)
				}
				if _, err := net.Forward(&b, c); err != nil {
					t.Fatal(err)
				}
				return c
			}
			var want []float32
			c := prefill()
			var b model.Batch
			for p := tc.start; p <= tc.start+tc.k; p++ {
				b.Reset()
				b.Add(0, p, toks[p], true)
				l, err := net.Forward(&b, c)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, l...)
			}
			c = prefill()
			b.Reset()
			for p := tc.start; p <= tc.start+tc.k; p++ {
				b.Add(0, p, toks[p], true)
			}
			got, err := net.Forward(&b, c)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s, rows %d..%d: row %d logit %d is %v batched, %v one at a time", m.Name, tc.start, tc.start+tc.k, i/vocab, i%vocab, got[i], want[i])
				}
			}
		}
	}
}

// TestSpeculativeSampledDistribution: with sampling on, the first tokens of speculative
// generation are distributed as those of plain generation. For each drafter, 2000 seeds of
// plain and of speculative generation (5 tokens each, temperature 1, top-k 12, a repeat
// penalty so that the distribution depends on the drafted history) give token counts per
// position and for the pair of the first two; a two-sample chi-square test compares them
// (categories with fewer than 10 draws pooled). The seed sets are fixed, so the test is
// deterministic; it fails below p = 1e-3.
func TestSpeculativeSampledDistribution(t *testing.T) {
	if testing.Short() {
		t.Skip("statistical test: runs 8000 generations")
	}
	ctx := context.Background()
	stories, deci := specTestModels(t)
	const seeds, gen = 2000, 5
	so := sample.Options{Temperature: 1, TopK: 12, RepeatPenalty: 1.3}
	prompt := stories.Encode("Tom had a red ball. Tom had a red", nil)
	run := func(d *decilm.Draft, seedBase uint64) (counts [gen + 1]map[int]int, drafted, accepted int) {
		for i := range counts {
			counts[i] = map[int]int{}
		}
		for s := range uint64(seeds) {
			o := decilm.GenerateOptions{MaxTokens: gen, IgnoreEOS: true, Sampling: so, Draft: d}
			o.Sampling.Seed = seedBase + s
			res, err := stories.GenerateTokens(ctx, prompt, o)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Tokens) != gen {
				t.Fatalf("%d tokens, want %d", len(res.Tokens), gen)
			}
			for j, tok := range res.Tokens {
				counts[j][tok]++
			}
			counts[gen][res.Tokens[0]*512+res.Tokens[1]]++
			drafted += res.Drafted
			accepted += res.Accepted
		}
		return
	}
	plain, _, _ := run(nil, 1_000_000)
	for _, dc := range []struct {
		name string
		d    *decilm.Draft
	}{
		{"tiny-deci", &decilm.Draft{Model: deci, Max: 4}},
		{"ngram", &decilm.Draft{NGram: true, Max: 4}},
		{"itself", &decilm.Draft{Model: stories, Max: 4}},
	} {
		spec, drafted, accepted := run(dc.d, 2_000_000)
		if drafted == 0 {
			t.Fatalf("%s: nothing drafted", dc.name)
		}
		for j := range spec {
			x, df := testutil.TwoSampleChiSquare(plain[j], spec[j])
			p := testutil.ChiSquareUpper(x, df)
			what := fmt.Sprintf("token %d", j+1)
			if j == gen {
				what = "tokens 1 and 2"
			}
			t.Logf("%s, %s: chi-square %.1f, df %d, p = %.3g", dc.name, what, x, df, p)
			if p < 1e-3 {
				t.Errorf("%s, %s: distribution differs from plain sampling (chi-square %.1f, df %d, p = %.3g < 1e-3)", dc.name, what, x, df, p)
			}
		}
		t.Logf("%s: %d drafted, %d accepted (%.1f%%)", dc.name, drafted, accepted, 100*float64(accepted)/float64(drafted))
	}
}

// TestDraftErrors: a draft model with another vocabulary, a negative Max, an empty Draft
// and an unknown self: type are errors naming the problem.
func TestDraftErrors(t *testing.T) {
	ctx := context.Background()
	stories, _ := specTestModels(t)
	other := tinyDeci
	other.Vocab = 600
	net, err := synthNet(other, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	wide := &decilm.Model{Name: "wide", Net: net, Tokenizer: stories.Tokenizer}
	renamed := *stories
	renamed.Name = "renamed"
	cases := []struct {
		d    *decilm.Draft
		want string
	}{
		{&decilm.Draft{Model: wide}, "vocabulary of 600 tokens"},
		{&decilm.Draft{NGram: true, Max: -1}, "Max = -1"},
		{&decilm.Draft{NGram: true, Max: 1000}, "Max = 1000"},
		{&decilm.Draft{}, "neither a draft model nor n-gram"},
	}
	for _, c := range cases {
		_, err := stories.Generate(ctx, "Hi", decilm.GenerateOptions{MaxTokens: 3, Draft: c.d})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("draft %+v: error %v, want one containing %q", c.d, err, c.want)
		}
	}
	if err := decilm.CheckSameVocab(stories, &renamed); err != nil {
		t.Errorf("same vocabulary: %v", err)
	}
	if _, err := decilm.LoadDraft(ctx, stories, "self:q5_9", decilm.Options{}); err == nil || !strings.Contains(err.Error(), "self:q5_9") {
		t.Errorf("self:q5_9: error %v", err)
	}
	if _, err := decilm.LoadDraft(ctx, stories, t.TempDir()+"/missing", decilm.Options{}); err == nil || !strings.Contains(err.Error(), "draft model") {
		t.Errorf("missing draft: error %v", err)
	}
}

// TestSpeculativeCallbacksAndCancel: an error from OnToken or OnText, or a cancelled
// context, ends speculative generation with that error, as it ends plain generation.
func TestSpeculativeCallbacksAndCancel(t *testing.T) {
	stories, _ := specTestModels(t)
	boom := errors.New("boom")
	d := &decilm.Draft{Model: stories}
	calls := 0
	_, err := stories.Generate(context.Background(), "Once", decilm.GenerateOptions{MaxTokens: 50, Draft: d,
		OnToken: func(int) error {
			if calls++; calls == 7 {
				return boom
			}
			return nil
		}})
	if !errors.Is(err, boom) || calls != 7 {
		t.Fatalf("OnToken error: %v after %d calls", err, calls)
	}
	_, err = stories.Generate(context.Background(), "Once", decilm.GenerateOptions{MaxTokens: 50, Draft: d,
		OnText: func(string) error { return boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("OnText error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	res, err := stories.Generate(ctx, "Once", decilm.GenerateOptions{MaxTokens: 50, Draft: d,
		OnToken: func(id int) error {
			cancel()
			return nil
		}})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("cancelled: %v, %v", res, err)
	}
}
