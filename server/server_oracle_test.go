//go:build oracle

package server

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
)

// TestEchoLogprobsMatchLlamaCpp scores the tiny-decilm fixture prompt through openai-go
// (echo, max_tokens 0, logprobs 1, as lm-evaluation-harness asks) and compares with the
// log-softmax of llama.cpp's logits.
func TestEchoLogprobsMatchLlamaCpp(t *testing.T) {
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	raw, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	if err != nil {
		t.Fatal(err)
	}
	V := m.Net.Config.Vocab
	testEchoLogprobs(t, m, func(p int) []float32 {
		row := make([]float32, V)
		for i := range row {
			row[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(p*V+i):]))
		}
		return row
	})
}
