//go:build oracle

package lora_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/model"
)

// TestPyTorchAdapter: a PEFT adapter written by PyTorch (testdata/make_adapter.py: rsLoRA,
// rank_pattern, alpha_pattern, every projection of the tiny-decilm fixture) applied at run
// time gives the logits of the checkpoint PyTorch merged in float64.
func TestPyTorchAdapter(t *testing.T) {
	py := testutil.TorchPython(t)
	base := testutil.Fixture(t, "tiny-decilm")
	dir := t.TempDir()
	adapter, merged, bin := filepath.Join(dir, "adapter"), filepath.Join(dir, "merged"), filepath.Join(dir, "bin")
	if out, err := exec.Command(py, filepath.Join("testdata", "make_adapter.py"), base, adapter, merged, bin).CombinedOutput(); err != nil {
		t.Fatalf("make_adapter.py: %v\n%s", err, out)
	}
	m, err := model.Load(base, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, err := lora.Load(adapter, m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4 * 7; a.Len() != want {
		t.Fatalf("adapter holds %d updates, want %d", a.Len(), want)
	}
	mm, err := model.Load(merged, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer mm.Close()
	tokens := []int{1, 450, 4996, 17354, 1701, 29916}
	got, want, plain := logits(t, m, tokens, a), logits(t, mm, tokens, nil), logits(t, m, tokens, nil)
	d, moved := maxDiff(got, want), maxDiff(plain, want)
	t.Logf("max |Δlogit|: run-time adapter vs PyTorch's merge %g; base vs merge %g", d, moved)
	if d > 1e-4 {
		t.Errorf("run-time adapter vs PyTorch's merged checkpoint: max |Δlogit| %g > 1e-4", d)
	}
	if moved < 0.1 {
		t.Errorf("the adapter moves the logits by only %g: the check proves nothing", moved)
	}
	// The same adapter saved by torch.save as adapter_model.bin.
	ab, err := lora.Load(bin, m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logits(t, m, tokens, ab), got); d != 0 {
		t.Errorf("adapter_model.bin differs from adapter_model.safetensors by %g", d)
	}
}
