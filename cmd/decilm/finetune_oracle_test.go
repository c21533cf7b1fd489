//go:build oracle

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// firstLines writes the first n lines of the fixture file name to dir.
func firstLines(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b, err := os.ReadFile(testutil.Fixture(t, "finetune", name))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) < n {
		t.Fatalf("%s has %d lines, want at least %d", name, len(lines), n)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, bytes.Join(lines[:n], nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFinetuneTinyDeciLMWikiSQL trains a few steps on the tiny-decilm fixture (random
// weights, variable GQA) with WikiSQL rows from the fixtures: the held-out loss on rows of
// the validation split falls clearly.
func TestFinetuneTinyDeciLMWikiSQL(t *testing.T) {
	dir := t.TempDir()
	train := firstLines(t, dir, "wikisql_train.jsonl", 16)
	eval := firstLines(t, dir, "wikisql_valid.jsonl", 6)
	stdout, stderr, code := run(t, "", "finetune", "-m", testutil.Fixture(t, "tiny-decilm"), "--data", train, "--eval-data", eval,
		"--format", "text", "--out", filepath.Join(dir, "adapter"), "--lora-r", "8", "--lora-alpha", "16",
		"--epochs", "2", "--batch", "4", "--lr", "5e-3", "--seq-len", "128", "--save-every", "0")
	if code != 0 {
		t.Fatalf("finetune: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	before, after := heldOutLoss(t, stdout)
	if !(after < before-2) {
		t.Errorf("held-out loss went from %.4f to %.4f: want it at least 2 nats lower", before, after)
	}
}
