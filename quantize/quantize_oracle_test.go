//go:build oracle

package quantize_test

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
)

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

// TestTinyRoundTrip writes the tiny fixture as GGUF in each type, loads it back through
// decilm.Load (GGUF parsing, llama.cpp tensor names, interleaved RoPE, tokenizer from the
// metadata) and compares the logits with llama.cpp's float32 logits of the fixture.
func TestTinyRoundTrip(t *testing.T) {
	src := loadTinyFixture(t)
	want := readF32(t, testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	V := src.Net.Config.Vocab
	ref := logits(t, src.Net, tinyPrompt)
	tests := []struct {
		typ     tensor.DType
		maxDiff float64 // bound on max |Δ| against llama.cpp's F32 logits
		minTop1 float64
	}{
		{tensor.F32, 1e-4, 1},
		{tensor.F16, 0.02, 1},
		{tensor.BF16, 0.1, 1},
		{tensor.Q8_0, 0.5, 1}, // logits have rms 2.5 and max 11
		{tensor.Q4_0, 4, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.typ.String(), func(t *testing.T) {
			path := writeGGUF(t, src, quantize.Options{Type: tc.typ, Name: "tiny"})
			m, err := decilm.Load(context.Background(), path, decilm.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if got := m.Encode("The quick brown fox", nil); !equalInts(got, tinyPrompt) {
				t.Errorf("tokenizer from GGUF encodes %v, want %v", got, tinyPrompt)
			}
			got := logits(t, m.Net, tinyPrompt)
			d, top1 := compare(got, want, V)
			t.Logf("%s: max |Δ| vs llama.cpp F32 = %.3g, top-1 agreement %.0f%%, file %d bytes", tc.typ, d, top1*100, fileSize(t, path))
			if d > tc.maxDiff || top1 < tc.minTop1 {
				t.Errorf("%s: max |Δ| %.3g (bound %g), top-1 %.2f (bound %.2f)", tc.typ, d, tc.maxDiff, top1, tc.minTop1)
			}
			if tc.typ == tensor.F32 {
				// The F32 file holds the same numbers as the BF16 safetensors source: the
				// logits must agree with the source model's to float32 rounding.
				if d, _ := compare(got, ref, V); d > 1e-5 {
					t.Errorf("F32 GGUF vs safetensors: max |Δ| %.3g > 1e-5", d)
				}
			}
		})
	}
}

// loadTinyFixture loads the tiny-decilm fixture with its Llama-2 tokenizer.
func loadTinyFixture(t *testing.T) *decilm.Model {
	t.Helper()
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-decilm"), decilm.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
