//go:build oracle

package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
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

// TestStructuredOutputNemotron: on tiny-nemotron (Llama-3 byte-level BPE, 128,256 tokens,
// the Llama-3.1 template), 100 sampled json_schema and 100 json_object chats (max_tokens
// 40) all end with a whole JSON text that validates.
func TestStructuredOutputNemotron(t *testing.T) {
	m, err := decilm.Load(context.Background(), testutil.Fixture(t, "tiny-nemotron"), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	src, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "llama-3.1-instruct.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Template, err = chat.FromJinja(string(src), llama31Special); err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, m, engine.Options{QueueSize: 128}, Options{})
	rf := fmt.Sprintf(`"response_format":{"type":"json_schema","json_schema":{"name":"cat","strict":true,"schema":%s}}`, testSchema)
	texts, finishes := structuredRuns(t, f, rf, 100)
	checkSchemaOutputs(t, texts, finishes, 100)
	texts, finishes = structuredRuns(t, f, `"response_format":{"type":"json_object"},"max_tokens":40`, 100)
	checkJSONObjects(t, texts, finishes, 100)
}
