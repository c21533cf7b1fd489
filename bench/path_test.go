package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/decilm/decilm/bench"
	"github.com/decilm/decilm/kernel"
)

// TestKernelPath: every record names the kernel of its regime (one row for tg, several for
// pp and batched tests) in kernel_path, the JSON carries it, and the table gets a kernel
// column.
func TestKernelPath(t *testing.T) {
	m := loadEmbedded(t)
	recs, err := bench.Run(context.Background(), m.Net, bench.Options{Prompt: 8, Gen: 2, Seqs: []int{2}, Reps: 1, Model: bench.Describe(m.Net, "stories260K")})
	if err != nil {
		t.Fatal(err)
	}
	w := m.Net.Layers[0].Gate
	for _, r := range recs {
		rows := max(r.NPrompt, r.NSeq)
		if want := kernel.MatMulPath(w.DType, w.Packed != nil, rows).String(); r.KernelPath != want {
			t.Errorf("%s: kernel_path %q, want %q", r.Test, r.KernelPath, want)
		}
	}
	var js bytes.Buffer
	if err := bench.WriteJSON(&js, recs); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back[0]["kernel_path"] != recs[0].KernelPath {
		t.Errorf("JSON kernel_path %v, want %q", back[0]["kernel_path"], recs[0].KernelPath)
	}
	var md bytes.Buffer
	if err := bench.WriteMarkdown(&md, recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(md.String(), "\n")
	if !strings.Contains(lines[0], "| threads | kernel ") || !strings.Contains(lines[2], "| "+recs[0].KernelPath+" ") {
		t.Errorf("table without the kernel column:\n%s", md.String())
	}
}
