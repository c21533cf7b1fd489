package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/lora"
)

// zooRows writes a tiny repetitive text task, one JSON {"text": ...} a line: every row says
// which animal each child has in the same two sentences, so the pattern is easy to learn and
// the held-out rows (other pairs) share it without repeating a training row.
func zooRows(t *testing.T, dir, name string, from, n int) string {
	t.Helper()
	names := []string{"Tom", "Lily", "Ben", "Sue", "Max", "Mia", "Sam", "Zoe"}
	animals := []string{"zebra", "frog", "owl", "fox", "duck", "goat", "bee", "yak"}
	var b strings.Builder
	for i := from; i < from+n; i++ {
		who, what := names[i%len(names)], animals[(i/len(names)+i)%len(animals)]
		fmt.Fprintf(&b, `{"text":"Zoo day. %s has a %s. The %s is happy with %s. Zoo day ends."}`+"\n", who, what, what, who)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// heldOutLoss reads the held-out loss before and after training from finetune's summary
// line ("trained 20 steps: final loss 0.31, held-out loss 0.33 (before: 4.20)").
func heldOutLoss(t *testing.T, stdout string) (before, after float64) {
	t.Helper()
	m := regexp.MustCompile(`held-out loss ([0-9.]+) \(before: ([0-9.]+)\)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no held-out loss in %q", stdout)
	}
	after, _ = strconv.ParseFloat(m[1], 64)
	before, _ = strconv.ParseFloat(m[2], 64)
	t.Logf("held-out loss %.4f before, %.4f after", before, after)
	return before, after
}

// TestFinetuneEndToEnd trains a LoRA adapter with the real train package on the embedded
// stories260K: the held-out loss falls clearly, the adapter loads with lora.Load, and
// "decilm run --lora" then continues a prompt otherwise than the base model does.
func TestFinetuneEndToEnd(t *testing.T) {
	dir := t.TempDir()
	train := zooRows(t, dir, "train.jsonl", 0, 40)
	eval := zooRows(t, dir, "eval.jsonl", 40, 8)
	out := filepath.Join(dir, "adapter")
	stdout, stderr, code := run(t, "", "finetune", "--data", train, "--eval-data", eval, "--format", "text", "--out", out,
		"--lora-r", "8", "--lora-alpha", "16", "--epochs", "2", "--batch", "4", "--lr", "1e-2", "--seq-len", "64", "--save-every", "0")
	if code != 0 {
		t.Fatalf("finetune: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "40 rows, 40 examples") || !strings.Contains(stdout, "trained 20 steps") {
		t.Errorf("finetune output:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	before, after := heldOutLoss(t, stdout)
	if !(after < 0.6*before) {
		t.Errorf("held-out loss went from %.4f to %.4f: want it clearly lower (under 60%%)", before, after)
	}

	base, err := decilm.Load(context.Background(), "", decilm.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	a, err := lora.Load(out, base.Net.Config, 1)
	if err != nil {
		t.Fatalf("lora.Load of the trained adapter: %v", err)
	}
	if want := 7 * base.Net.Config.Layers; a.Len() != want {
		t.Errorf("the adapter holds %d updates, want %d (7 projections in each of %d layers)", a.Len(), want, base.Net.Config.Layers)
	}

	gen := []string{"run", "--temp", "0", "-n", "24", "-p", "Zoo day. Sam has a"}
	plain, errs, code := run(t, "", gen...)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errs)
	}
	tuned, errs, code := run(t, "", append(gen, "--lora", out)...)
	if code != 0 {
		t.Fatalf("run --lora: exit %d\n%s", code, errs)
	}
	t.Logf("base: %q\nwith the adapter: %q", plain, tuned)
	if plain == tuned {
		t.Errorf("the adapter does not change the greedy output: %q", plain)
	}
	if !strings.Contains(tuned, "is happy with") {
		t.Errorf("with the adapter the model has not learnt the task's second sentence: %q", tuned)
	}
}
