package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestQuantizeRefusesItsInput: `quantize -m X.gguf -o X.gguf` (or the same file through a
// link) is refused and the input is unchanged.
func TestQuantizeRefusesItsInput(t *testing.T) {
	dir := t.TempDir()
	gg := filepath.Join(dir, "m.gguf")
	if _, errs, code := run(t, "", "quantize", "--type", "f32", "-q", "-o", gg); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, errs)
	}
	before, _ := os.ReadFile(gg)
	link := filepath.Join(dir, "link.gguf")
	if err := os.Symlink(gg, link); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{gg, link} {
		_, errs, code := run(t, "", "quantize", "-m", gg, "--type", "q8_0", "-q", "-o", out)
		if code == 0 || !strings.Contains(errs, "input") {
			t.Errorf("-o %s: exit %d, %q", out, code, errs)
		}
	}
	if after, _ := os.ReadFile(gg); !bytes.Equal(before, after) {
		t.Fatal("the input changed")
	}
}
