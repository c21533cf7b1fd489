//go:build oracle

package model_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
)

func loadTiny(t *testing.T) (*model.Model, greedyRef) {
	t.Helper()
	m, err := model.Load(testutil.Fixture(t, "tiny-decilm"), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	var ref greedyRef
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return m, ref
}

// TestTinyLogits compares every position's logits with llama.cpp's (fixture) within 1e-4,
// for the prompt prefilled at once and in chunks of 1, 2 and 5.
func TestTinyLogits(t *testing.T) {
	m, ref := loadTiny(t)
	want := readF32(t, testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	V := m.Config.Vocab
	if len(want) != len(ref.PromptTokens)*V {
		t.Fatalf("reference has %d logits, want %d", len(want), len(ref.PromptTokens)*V)
	}
	for _, chunk := range []int{len(ref.PromptTokens), 1, 2, 5} {
		c := model.NewCache(m.Config, 64)
		var got []float32
		for start := 0; start < len(ref.PromptTokens); start += chunk {
			var b model.Batch
			for p := start; p < min(start+chunk, len(ref.PromptTokens)); p++ {
				b.Add(0, p, ref.PromptTokens[p], true)
			}
			out, err := m.Forward(&b, c)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out...)
		}
		var maxDiff float64
		for i := range want {
			maxDiff = math.Max(maxDiff, math.Abs(float64(got[i]-want[i])))
		}
		t.Logf("chunk %d: max |Δlogit| = %.2e", chunk, maxDiff)
		if maxDiff > 1e-4 {
			t.Errorf("chunk %d: max |Δlogit| = %g > 1e-4", chunk, maxDiff)
		}
	}
}

// TestTinyGreedy reproduces llama.cpp's 32 greedy tokens through the KV cache (one token
// per step) and through a full recompute of the whole sequence at every step.
func TestTinyGreedy(t *testing.T) {
	m, ref := loadTiny(t)
	V := m.Config.Vocab
	t.Run("incremental", func(t *testing.T) {
		c := model.NewCache(m.Config, 64)
		var b model.Batch
		for p, tok := range ref.PromptTokens {
			b.Add(0, p, tok, p == len(ref.PromptTokens)-1)
		}
		out, err := m.Forward(&b, c)
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for len(got) < len(ref.GeneratedTokens) {
			next := argmax(out[:V])
			got = append(got, next)
			b.Reset()
			b.Add(0, len(ref.PromptTokens)+len(got)-1, next, true)
			if out, err = m.Forward(&b, c); err != nil {
				t.Fatal(err)
			}
		}
		checkTokens(t, got, ref.GeneratedTokens)
	})
	t.Run("recompute", func(t *testing.T) {
		seq := append([]int(nil), ref.PromptTokens...)
		var got []int
		for len(got) < len(ref.GeneratedTokens) {
			c := model.NewCache(m.Config, 64)
			var b model.Batch
			for p, tok := range seq {
				b.Add(0, p, tok, p == len(seq)-1)
			}
			out, err := m.Forward(&b, c)
			if err != nil {
				t.Fatal(err)
			}
			next := argmax(out[:V])
			got = append(got, next)
			seq = append(seq, next)
		}
		checkTokens(t, got, ref.GeneratedTokens)
	})
}

type greedyRef struct {
	PromptTokens    []int `json:"prompt_tokens"`
	GeneratedTokens []int `json:"generated_tokens"`
}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
