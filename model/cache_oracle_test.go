//go:build oracle

package model_test

import (
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
)

// TestCacheTypesFixtures: with an f16 KV cache, tiny-decilm reproduces llama.cpp's 32
// greedy tokens and tiny-nemotron its float64 reference's 32, as the float32 cache does;
// the logits stay within 0.01 of the float32 cache's. (Both have head dimension 16, so a
// q8_0 cache does not apply; TestCacheTypesSynth covers q8_0.)
func TestCacheTypesFixtures(t *testing.T) {
	t.Run("tiny-decilm", func(t *testing.T) {
		m, ref := loadTiny(t)
		checkTypedGreedy(t, m, ref.PromptTokens, ref.GeneratedTokens)
	})
	t.Run("tiny-nemotron", func(t *testing.T) {
		m, err := model.Load(testutil.Fixture(t, "tiny-nemotron"), model.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		ids, _, greedy := nemotronRefs(t)
		checkTypedGreedy(t, m, ids, greedy)
	})
}

func checkTypedGreedy(t *testing.T, m *model.Model, prompt, want []int) {
	t.Helper()
	for _, typ := range []model.CacheType{model.CacheF32, model.CacheF16} {
		got := greedyTyped(t, m, typ, prompt, len(want), nil)
		for i := range want {
			if got.tokens[i] != want[i] {
				t.Fatalf("%s cache: greedy step %d: token %d, want %d (top-2 gap %.3g)", typ, i, got.tokens[i], want[i], top2Gap(got.logits[i]))
			}
		}
	}
	compareCacheTypes(t, m, prompt, len(want), []model.CacheType{model.CacheF16}, 0.01, 0)
}
