//go:build oracle

package engine

import (
	"context"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
)

// TestSpecGreedyFixtures: on the shared fixtures (llama2.c's stories260K.bin, tiny-decilm
// with [8,4,2,1] KV heads, tiny-nemotron with skipped and linear blocks and Llama-3's
// tokenizer) 16 concurrent greedy streams, twice (prompt caching), with prompt lookup,
// with a Q4_0 copy of the model and with both, are the plain engine's streams; on
// tiny-decilm the engine that drafts also gives llama.cpp's greedy tokens of
// greedy_0.json, alone and in a busy batch.
func TestSpecGreedyFixtures(t *testing.T) {
	for _, f := range []struct {
		path       string
		lookupHits bool // the greedy output repeats the prompt
	}{
		{testutil.Fixture(t, "stories260K", "stories260K.bin"), true},
		{testutil.Fixture(t, "tiny-decilm"), true},
		{testutil.Fixture(t, "tiny-nemotron"), false},
	} {
		path := f.path
		t.Run(path, func(t *testing.T) {
			m, err := decilm.Load(context.Background(), path, decilm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			q4 := selfDraft(t, m, "q4_0")
			testSpecGreedy(t, m, f.lookupHits, map[string]*decilm.Draft{
				"ngram":           {NGram: true},
				"self:q4_0":       {Model: q4, Max: 4},
				"ngram+self:q4_0": {NGram: true, Model: q4},
			})
		})
	}
	m, ref := loadTiny(t)
	e := newEngine(t, m, Options{Parallel: 4, Draft: &decilm.Draft{NGram: true, Model: selfDraft(t, m, "q4_0")}})
	ch, err := e.Submit(context.Background(), Request{Prompt: ref.Prompt, MaxTokens: len(ref.Tokens), IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	if ids, _, _ := collect(t, ch); !equalInts(ids, ref.Tokens) {
		t.Errorf("tiny-decilm with drafts: %v\nllama.cpp %v", ids, ref.Tokens)
	}
}
