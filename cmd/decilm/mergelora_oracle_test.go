//go:build oracle

package main

import (
	"math"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/tensor"
)

// TestMergeLoRAPyTorch: merge-lora's Hugging Face output for the tiny-decilm fixture and a
// PEFT adapter written by PyTorch (lora/testdata/make_adapter.py: rsLoRA, rank_pattern,
// alpha_pattern) holds, tensor for tensor, PyTorch's float64 merge rounded to float32.
func TestMergeLoRAPyTorch(t *testing.T) {
	py := testutil.TorchPython(t)
	base := testutil.Fixture(t, "tiny-decilm")
	dir := t.TempDir()
	adapter, ref, out := filepath.Join(dir, "adapter"), filepath.Join(dir, "ref"), filepath.Join(dir, "out")
	script := filepath.Join(testutil.RepoRoot(t), "lora", "testdata", "make_adapter.py")
	if b, err := exec.Command(py, script, base, adapter, ref).CombinedOutput(); err != nil {
		t.Fatalf("make_adapter.py: %v\n%s", err, b)
	}
	if o, errs, code := run(t, "", "merge-lora", "-q", "-m", base, "--lora", adapter, "-o", out, "--dtype", "f32"); code != 0 {
		t.Fatalf("merge-lora: exit %d\n%s%s", code, o, errs)
	}
	want, err := safetensors.Open(filepath.Join(ref, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	got, err := safetensors.Open(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	byName := map[string]*tensor.Tensor{}
	for _, g := range got.Tensors {
		byName[g.Name] = g
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, PyTorch's merge has %d", len(got.Tensors), len(want.Tensors))
	}
	worst := 0.0
	for _, w := range want.Tensors {
		g := byName[w.Name]
		if g == nil || !tensor.ShapeEqual(g.Shape, w.Shape) {
			t.Fatalf("tensor %s: missing or misshapen in merge-lora's output", w.Name)
		}
		a, b := make([]float32, w.Elements()), make([]float32, w.Elements())
		if err := tensor.DecodeRow(a, g.Data, g.DType); err != nil {
			t.Fatal(err)
		}
		if err := tensor.DecodeRow(b, w.Data, w.DType); err != nil {
			t.Fatal(err)
		}
		for i := range a {
			// Both round a float64 sum to float32: at most one ulp apart.
			d := math.Abs(float64(a[i]) - float64(b[i]))
			if d > 1e-6*math.Max(1, math.Abs(float64(b[i]))) {
				t.Fatalf("tensor %s element %d: %g, PyTorch %g", w.Name, i, a[i], b[i])
			}
			worst = max(worst, d)
		}
	}
	t.Logf("largest difference from PyTorch's merge: %g", worst)
}
