package main

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogitsLimits: more tokens than the model has positions, or an id past the vocabulary,
// is an error naming --tokens and the limit (600 tokens on the 512-position stories260K
// used to be accepted).
func TestLogitsLimits(t *testing.T) {
	out := filepath.Join(t.TempDir(), "l.f32")
	ids := strings.TrimSuffix(strings.Repeat("1,", 600), ",")
	for _, tc := range []struct {
		tokens string
		want   []string
	}{
		{ids, []string{"--tokens", "600 tokens", "at most 512"}},
		{"1,512", []string{"--tokens", "id 512", "512 ids"}},
	} {
		_, errs, code := run(t, "", "logits", "--tokens", tc.tokens, "-o", out)
		if code == 0 {
			t.Fatalf("--tokens %.20s...: accepted", tc.tokens)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("--tokens %.20s...: error %q does not contain %q", tc.tokens, errs, w)
			}
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatal("a failed run left an output file")
		}
	}
	// 512 tokens fit, and give 512 rows of 512 finite logits.
	ids = strings.TrimSuffix(strings.Repeat("1,", 512), ",")
	if _, errs, code := run(t, "", "logits", "--tokens", ids, "-o", out); code != 0 {
		t.Fatalf("512 tokens: exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(out)
	if err != nil || len(b) != 512*512*4 {
		t.Fatalf("output has %d bytes, want %d (%v)", len(b), 512*512*4, err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(b[len(b)-4:])); math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		t.Fatalf("last logit %v", v)
	}
	// The output may not be the model file.
	dir := t.TempDir()
	if _, errs, code := run(t, "", "convert", "-o", dir); code != 0 {
		t.Fatalf("convert: %s", errs)
	}
	m := filepath.Join(dir, "model.safetensors")
	if _, errs, code := run(t, "", "logits", "-m", dir, "--tokens", "1", "-o", m); code == 0 || !strings.Contains(errs, "input") {
		t.Fatalf("-o the model's own file: exit %d, %q", code, errs)
	}
}
