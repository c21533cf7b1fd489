package model_test

import (
	"math"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
)

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func checkTokens(t *testing.T, got, want []int) {
	t.Helper()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("token %d: got %d, want %d (got %v)", i, got[i], want[i], got)
		}
	}
}

// TestSynthPrefillAndDecode: on the synth tiny model (variable GQA, BF16), prefilling the
// prompt at once or in chunks of 1, 2 and 5 gives the same logits (1e-4), and greedy
// decoding through the KV cache gives the same tokens as recomputing the whole sequence at
// every step. TestTinyLogits and TestTinyGreedy compare with llama.cpp under the oracle tag.
func TestSynthPrefillAndDecode(t *testing.T) {
	m, err := model.Load(testmodel.Synth(t, "tiny", 1234), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	V := m.Config.Vocab
	prompt := []int{1, 450, 4996, 17354, 1701, 29916}
	prefill := func(c *model.Cache, toks []int, start, chunk int) []float32 {
		var got []float32
		for s := 0; s < len(toks); s += chunk {
			var b model.Batch
			for p := s; p < min(s+chunk, len(toks)); p++ {
				b.Add(0, start+p, toks[p], true)
			}
			out, err := m.Forward(&b, c)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
		}
		return got
	}
	whole := prefill(model.NewCache(m.Config, 64), prompt, 0, len(prompt))
	for _, chunk := range []int{1, 2, 5} {
		got := prefill(model.NewCache(m.Config, 64), prompt, 0, chunk)
		var maxDiff float64
		for i := range whole {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-whole[i])))
		}
		if maxDiff > 1e-4 {
			t.Errorf("chunk %d: max |Δlogit| = %g > 1e-4 from the whole prompt at once", chunk, maxDiff)
		}
	}

	const n = 16
	c := model.NewCache(m.Config, 64)
	out := prefill(c, prompt, 0, len(prompt))
	var incremental []int
	for len(incremental) < n {
		next := argmax(out[len(out)-V:])
		incremental = append(incremental, next)
		out = prefill(c, []int{next}, len(prompt)+len(incremental)-1, 1)
	}
	seq := append([]int(nil), prompt...)
	var recomputed []int
	for len(recomputed) < n {
		out := prefill(model.NewCache(m.Config, 64), seq, 0, len(seq))
		next := argmax(out[len(out)-V:])
		recomputed = append(recomputed, next)
		seq = append(seq, next)
	}
	checkTokens(t, incremental, recomputed)
}
