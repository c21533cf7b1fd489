package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestPerplexityEmbedded: the embedded stories260K's perplexity on its own greedy text is
// low (TestPerplexityCommand measures it on TinyStories validation text under the oracle
// tag).
func TestPerplexityEmbedded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(p, []byte(llama2cText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := run(t, "", "perplexity", "--ctx", "64", "--stride", "32", "-q", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ppl float64
	if _, err := fmt.Sscanf(out, "perplexity %g", &ppl); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	// Far better than the 512 of a uniform guess: this is the model's own greedy text.
	if ppl < 1 || ppl > 10 {
		t.Fatalf("perplexity %g of stories260K on its own greedy text is implausible", ppl)
	}
}
