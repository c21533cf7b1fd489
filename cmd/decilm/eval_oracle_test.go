//go:build oracle

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// TestEvalEndToEnd runs every task on the embedded model with --limit 20 from the fixture
// files, and checks the table, the JSON and the per-item log.
func TestEvalEndToEnd(t *testing.T) {
	dir := t.TempDir()
	js, samples := filepath.Join(dir, "results.json"), filepath.Join(dir, "samples.jsonl")
	tasks := "arc_challenge,arc_easy,boolq,hellaswag,lambada_openai,openbookqa,piqa,truthfulqa_mc1,truthfulqa_mc2,winogrande"
	out, errs, code := run(t, "", "eval", "--tasks", tasks, "--limit", "20", "--data", testutil.Fixtures(t)+"/eval",
		"--compare", "card", "--output", js, "--log-samples", samples, "-q")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"ARC Challenge", "HellaSwag", "Winogrande", "acc_norm", "DeciLM-6B-instruct (card)", "62.01"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	f, err := os.Open(samples)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var s map[string]any
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("sample line %d: %v", n, err)
		}
		n++
	}
	if n != 10*20 {
		t.Errorf("%d logged samples, want 200", n)
	}
}

func TestPerplexityCommand(t *testing.T) {
	b, err := os.ReadFile(testutil.Fixture(t, "corpus", "tinystories_val.txt"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "text.txt")
	os.WriteFile(p, b[:20000], 0o644)
	out, errs, code := run(t, "", "perplexity", "--ctx", "256", "--stride", "128", "-q", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ppl float64
	if _, err := fmt.Sscanf(out, "perplexity %g", &ppl); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	// stories260K was trained on TinyStories: far better than the 512 of a uniform guess.
	if ppl < 1 || ppl > 10 {
		t.Fatalf("perplexity %g of stories260K on TinyStories is implausible", ppl)
	}
}
