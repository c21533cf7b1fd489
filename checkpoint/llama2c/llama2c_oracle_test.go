//go:build oracle

package llama2c

import (
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

func TestStories260K(t *testing.T) {
	f, err := Open(testutil.Fixture(t, "stories260K", "stories260K.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := f.Header
	// The header the fixtures README gives: dim 64, 5 layers, 8 heads, 4 KV heads, vocab 512.
	if h.Dim != 64 || h.Layers != 5 || h.Heads != 8 || h.KVHeads != 4 || h.Vocab != 512 || !h.Shared {
		t.Fatalf("header %+v", h)
	}
	if len(f.Tensors) != 2+9*h.Layers {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
}
