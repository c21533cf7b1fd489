//go:build oracle

package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
)

func loadTiny(t testing.TB) (*decilm.Model, greedyRef) {
	t.Helper()
	dir := testutil.Fixture(t, "tiny-decilm")
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref greedyRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return m, ref
}

// TestGreedyMatchesLlamaCpp checks the engine's greedy tokens against llama.cpp's for the
// tiny-decilm fixture, alone and inside a busy batch with chunked prefill.
func TestGreedyMatchesLlamaCpp(t *testing.T) {
	m, ref := loadTiny(t)
	testGreedyAloneAndBusy(t, m, ref)
}

// TestPromptLogprobs compares the prompt log-probabilities with llama.cpp's logits.
func TestPromptLogprobs(t *testing.T) {
	m, ref := loadTiny(t)
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	if len(b) != 4*V*len(ref.Prompt) {
		t.Fatalf("logits_0.f32 has %d bytes", len(b))
	}
	row := func(p int) []float32 {
		r := make([]float32, V)
		for i := range r {
			r[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*(p*V+i):]))
		}
		return r
	}
	testPromptLogprobs(t, m, ref.Prompt, row)
}
