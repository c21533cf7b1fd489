package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/quantize"
)

// TestImatrixQuantizeKLD runs the quantization workflow on the embedded stories260K model:
// an importance matrix over a text, a Q4_K_M file quantized with it, a KL-divergence base
// from the original model and the comparison of the quantized file with it.
func TestImatrixQuantizeKLD(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.txt")
	story := "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. "
	if err := os.WriteFile(text, []byte(strings.Repeat(story, 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		e := &env{stdout: &stdout, stderr: &stderr}
		if st := runMain(context.Background(), e, args); st != 0 {
			t.Fatalf("%v: exit %d: %s", args, st, stderr.String())
		}
		return stdout.String()
	}
	im := filepath.Join(dir, "imatrix.gguf")
	run("imatrix", "--data", text, "-o", im, "-c", "64", "--chunks", "4", "-q")
	m, err := quantize.ReadImatrix(im)
	if err != nil {
		t.Fatal(err)
	}
	if m.Chunks != 4 || m.ChunkSize != 64 || m.Entries["blk.0.attn_q.weight"] == nil {
		t.Errorf("imatrix: %d chunks of %d, entries %d", m.Chunks, m.ChunkSize, len(m.Entries))
	}
	q := filepath.Join(dir, "q.gguf")
	out := run("quantize", "--type", "q4_k_m", "--imatrix", im, "-o", q, "-q")
	if !strings.Contains(out, "q4_k_m") {
		t.Errorf("quantize printed %q", out)
	}
	f, err := gguf.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := f.Uint("general.file_type")
	f.Close()
	if ft != 15 {
		t.Errorf("general.file_type %d, want 15 (MOSTLY_Q4_K_M)", ft)
	}
	base := filepath.Join(dir, "base.kld")
	run("perplexity", "--kl-divergence-base", base, "-c", "64", "--chunks", "3", "-q", text)
	res := run("perplexity", "-m", q, "--kl-divergence-base", base, "--kl-divergence", "-q")
	for _, want := range []string{"Mean    KLD:", "Same top p:", "Mean PPL(Q)/PPL(base)"} {
		if !strings.Contains(res, want) {
			t.Errorf("perplexity --kl-divergence printed no %q:\n%s", want, res)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"imatrix", "-o", im}, "--data"},
		{[]string{"imatrix", "--data", text, "-c", "8"}, "-c"},
		{[]string{"perplexity", "--kl-divergence"}, "--kl-divergence-base"},
		{[]string{"quantize", "--type", "q4_k_x", "-o", q}, "--type"},
	} {
		var stdout, stderr bytes.Buffer
		e := &env{stdout: &stdout, stderr: &stderr}
		if st := runMain(context.Background(), e, tc.args); st != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, st, stderr.String(), tc.want)
		}
	}
}
