//go:build oracle

package decilm_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
)

// TestSpeculativeFixtures: on the shared fixtures (tiny-decilm, a BF16 DeciLM with
// [8,4,2,1] KV heads, llama2.c's stories260K.bin and tiny-nemotron) greedy speculative decoding with a
// Q4_0 copy of the model, with prompt lookup and with both returns the tokens of plain
// greedy decoding, including prompts that end a few tokens before the context limit; on
// tiny-decilm those tokens are also llama.cpp's 32 greedy tokens of greedy_0.json.
func TestSpeculativeFixtures(t *testing.T) {
	ctx := context.Background()
	var ref struct {
		PromptTokens    []int `json:"prompt_tokens"`
		GeneratedTokens []int `json:"generated_tokens"`
	}
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{testutil.Fixture(t, "tiny-decilm"), testutil.Fixture(t, "stories260K", "stories260K.bin"), testutil.Fixture(t, "tiny-nemotron")} {
		m, err := decilm.Load(ctx, path, decilm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		q4, err := decilm.LoadDraft(ctx, m, "self:q4_0", decilm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		limit := m.Net.Config.ContextLength()
		vocab := m.Net.Config.Vocab
		prompts := map[string][]int{
			"story": m.Encode("Once upon a time, there was a little girl named Lily. She loved to play", nil),
		}
		if limit <= 4096 { // not tiny-nemotron's 131072
			prompts["near the end"] = randomPrompt(limit-21, vocab, 11)
		}
		if m.Net.Config.Vocab == 32000 {
			prompts["llama.cpp greedy_0"] = ref.PromptTokens
		}
		for pn, prompt := range prompts {
			// 96 tokens, or up to the end of the context (MaxTokens past it is an error).
			o := decilm.GenerateOptions{MaxTokens: min(96, limit-len(prompt)), IgnoreEOS: true}
			want, err := m.GenerateTokens(ctx, prompt, o)
			if err != nil {
				t.Fatal(err)
			}
			if pn == "llama.cpp greedy_0" && !reflect.DeepEqual(want.Tokens[:len(ref.GeneratedTokens)], ref.GeneratedTokens) {
				t.Fatalf("%s: plain greedy %v, llama.cpp %v", path, want.Tokens[:len(ref.GeneratedTokens)], ref.GeneratedTokens)
			}
			for dn, d := range map[string]*decilm.Draft{
				"self:q4_0":       {Model: q4},
				"ngram":           {NGram: true},
				"ngram+self:q4_0": {NGram: true, Model: q4, Max: 12},
			} {
				o.Draft = d
				got, err := m.GenerateTokens(ctx, prompt, o)
				if err != nil {
					t.Fatalf("%s, %s, %s: %v", path, dn, pn, err)
				}
				if !reflect.DeepEqual(got.Tokens, want.Tokens) || got.Text != want.Text || got.FinishReason != want.FinishReason {
					t.Fatalf("%s, draft %s, prompt %s: speculative output differs from plain:\n got %v\nwant %v", path, dn, pn, got.Tokens, want.Tokens)
				}
				t.Logf("%s, draft %s, prompt %s: %d tokens, %d drafted, %d accepted", m.Name, dn, pn, len(got.Tokens), got.Drafted, got.Accepted)
			}
		}
		q4.Close()
		m.Close()
	}
}
