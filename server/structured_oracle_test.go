//go:build oracle

package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/synth"
)

// TestStructuredOutputSynth: 100 sampled json_schema chats on a synth tiny model with the
// Llama-2 SentencePiece vocabulary (32,000 tokens, byte fallback) all validate.
func TestStructuredOutputSynth(t *testing.T) {
	dir := t.TempDir()
	if err := synth.Presets["tiny"].Write(dir, 1234, testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), nil); err != nil {
		t.Fatal(err)
	}
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{QueueSize: 128}, Options{})
	rf := fmt.Sprintf(`"response_format":{"type":"json_schema","json_schema":{"name":"cat","strict":true,"schema":%s}}`, testSchema)
	texts, finishes := structuredRuns(t, f, rf, 100)
	checkSchemaOutputs(t, texts, finishes, 100)
}
