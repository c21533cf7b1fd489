//go:build oracle

package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// TestQuantizeTinyNemotron: quantize writes the tiny-nemotron fixture (Llama-3 BPE
// vocabulary) as a deci GGUF whose blocks info reads back.
func TestQuantizeTinyNemotron(t *testing.T) {
	out := filepath.Join(t.TempDir(), "tn-q8.gguf")
	if _, errs, code := run(t, "", "quantize", "-q", "-m", testutil.Fixture(t, "tiny-nemotron"), "--type", "q8_0", "-o", out); code != 0 {
		t.Fatal(errs)
	}
	info, errs, code := run(t, "", "info", "-m", out)
	if code != 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{"KV heads per layer:  [4, 0, 0, 1, 8, 0, 2]", "2  linear       gated 256", "4  8 KV heads   linear", "5  skipped      skipped", "scaling llama3 x8", "(q8_0"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
}
