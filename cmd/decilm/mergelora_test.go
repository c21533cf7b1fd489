package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/lora/loratest"
	"github.com/decilm/decilm/model"
)

// mergeLogits runs tokens through m (with adapter a on every row, nil: none) and returns
// every row's logits.
func mergeLogits(t *testing.T, m *model.Model, tokens []int, a *model.Adapter) []float32 {
	t.Helper()
	var b model.Batch
	for i, tok := range tokens {
		b.Add(0, i, tok, true)
		b.Adapter = append(b.Adapter, a)
	}
	out, err := m.Forward(&b, model.NewCache(m.Config, len(tokens)))
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func loadNet(t *testing.T, path string) *model.Model {
	t.Helper()
	m, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMergeLoRA: on an F32 base, the merged checkpoint (safetensors, and GGUF f32) gives
// the logits of the unmerged adapter at run time to 1e-5; a q8_0 GGUF output is the f32
// merge quantized; a quantized base is dequantized, merged and requantized.
func TestMergeLoRA(t *testing.T) {
	syn := testmodel.Synth(t, "tiny", 77)
	base := filepath.Join(t.TempDir(), "base32")
	if _, errs, code := run(t, "", "convert", "-m", syn, "-o", base, "--dtype", "f32"); code != 0 {
		t.Fatal(errs)
	}
	bm := loadNet(t, base)
	cfg := bm.Config
	targets := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	ps := loratest.RandomPairs(cfg, 5, targets, 8, 0.05)
	ad := loratest.WritePEFT(t, `{"r": 8, "lora_alpha": 16, "use_rslora": true, "target_modules": "all-linear"}`, ps)
	a, err := lora.Load(ad, cfg, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	tokens := []int{1, 450, 4996, 17354, 1701, 29916, 432}
	want := mergeLogits(t, bm, tokens, a)
	var big float64
	for _, v := range want {
		big = max(big, math.Abs(float64(v)))
	}
	t.Logf("largest |logit| %g", big)
	if d := maxAbsDiff(want, mergeLogits(t, bm, tokens, nil)); d < 0.05 {
		t.Fatalf("the adapter moves the logits by only %g", d)
	}
	dir := t.TempDir()
	hf, g32, g8 := filepath.Join(dir, "hf"), filepath.Join(dir, "m32.gguf"), filepath.Join(dir, "m8.gguf")
	for _, args := range [][]string{
		{"-o", hf},
		{"-o", g32, "--type", "f32"},
		{"-o", g8, "--type", "q8_0"},
	} {
		if out, errs, code := run(t, "", append([]string{"merge-lora", "-q", "-m", base, "--lora", ad + ":0.8"}, args...)...); code != 0 {
			t.Fatalf("merge-lora %v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	for _, p := range []string{hf, g32} {
		d := maxAbsDiff(mergeLogits(t, loadNet(t, p), tokens, nil), want)
		t.Logf("%s: merged vs adapter at run time: max |Δlogit| %g", filepath.Base(p), d)
		if d > 1e-5 {
			t.Errorf("%s: merged vs adapter at run time: max |Δlogit| %g > 1e-5", filepath.Base(p), d)
		}
	}
	if _, err := os.Stat(filepath.Join(hf, "tokenizer.bin")); err != nil {
		t.Errorf("the Hugging Face output lacks the tokenizer: %v", err)
	}
	// q8_0: the same bytes as quantizing the f32 merge.
	ref := filepath.Join(dir, "ref8.gguf")
	if _, errs, code := run(t, "", "quantize", "-q", "-m", g32, "--type", "q8_0", "-o", ref); code != 0 {
		t.Fatal(errs)
	}
	if d := maxAbsDiff(mergeLogits(t, loadNet(t, g8), tokens, nil), mergeLogits(t, loadNet(t, ref), tokens, nil)); d != 0 {
		t.Errorf("q8_0 merge differs from quantizing the f32 merge: %g", d)
	}
	// A quantized base: its weights dequantized exactly (quantize --type f32) plus the
	// adapter at run time is what the merge of the q8_0 base gives.
	q8 := filepath.Join(dir, "base8.gguf")
	deq := filepath.Join(dir, "deq.gguf")
	mq := filepath.Join(dir, "mq.gguf")
	for _, args := range [][]string{
		{"quantize", "-q", "-m", base, "--type", "q8_0", "-o", q8},
		{"quantize", "-q", "-m", q8, "--type", "f32", "-o", deq},
		{"merge-lora", "-q", "-m", q8, "--lora", ad + ":0.8", "-o", mq, "--type", "f32"},
	} {
		if _, errs, code := run(t, "", args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	dm := loadNet(t, deq)
	da, err := lora.Load(ad, dm.Config, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	d := maxAbsDiff(mergeLogits(t, loadNet(t, mq), tokens, nil), mergeLogits(t, dm, tokens, da))
	t.Logf("q8_0 base merged vs dequantized base + adapter at run time: max |Δlogit| %g", d)
	if d > 1e-5 {
		t.Errorf("merge into a q8_0 base: max |Δlogit| %g > 1e-5", d)
	}
}

// TestMergeLoRAErrors: flags are checked, inputs are never overwritten.
func TestMergeLoRAErrors(t *testing.T) {
	syn := testmodel.Synth(t, "tiny", 1)
	cfgPath := filepath.Join(syn, "config.json")
	m := loadNet(t, syn)
	ad := loratest.Random(t, m.Config, 1, []string{"q_proj"}, 2, 4)
	before, _ := os.ReadFile(filepath.Join(ad, "adapter_model.safetensors"))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", syn, "-o", filepath.Join(t.TempDir(), "x")}, "--lora"},
		{[]string{"-m", syn, "--lora", ad}, "-o"},
		{[]string{"-m", syn, "--lora", ad, "-o", filepath.Join(t.TempDir(), "x.gguf"), "--type", "q9"}, "--type"},
		{[]string{"-m", syn, "--lora", ad, "-o", filepath.Join(t.TempDir(), "x"), "--dtype", "q8_0"}, "--dtype"},
		{[]string{"-m", syn, "--lora", ad, "-o", syn, "--force"}, "input"},
		{[]string{"-m", syn, "--lora", cfgPath, "-o", filepath.Join(t.TempDir(), "y")}, "--lora"},
	} {
		_, errs, code := run(t, "", append([]string{"merge-lora", "-q"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("merge-lora %v: exit %d, stderr %q; want an error containing %q", tc.args, code, errs, tc.want)
		}
	}
	after, _ := os.ReadFile(filepath.Join(ad, "adapter_model.safetensors"))
	if !bytes.Equal(before, after) {
		t.Error("merge-lora changed its adapter")
	}
}
