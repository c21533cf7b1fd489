//go:build oracle

package model_test

import (
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
)

// TestLoadGGUF loads ollama's tiny random Llama GGUF (F16) and runs a forward pass.
func TestLoadGGUF(t *testing.T) {
	m, err := model.Load(testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf"), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !m.Config.RopeInterleaved || m.Config.Vocab != 32000 {
		t.Fatalf("config %+v", m.Config)
	}
	c := model.NewCache(m.Config, 16)
	var b model.Batch
	for p, tok := range []int{1, 450, 4996} {
		b.Add(0, p, tok, true)
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3*m.Config.Vocab {
		t.Fatalf("%d logits", len(out))
	}
	t.Logf("config: %+v", *m.Config)
}
