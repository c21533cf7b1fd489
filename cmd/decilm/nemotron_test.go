package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSynthTinyNemotron: `decilm synth --preset tiny-nemotron --seed 4321` writes the
// tiny-nemotron fixture's model.safetensors byte for byte (the sha256 its GENERATOR.md
// gives), info describes each layer, and quantize writes a GGUF that info reads back with
// the same blocks.
func TestSynthTinyNemotron(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tn")
	if _, errs, code := run(t, "", "synth", "-q", "--preset", "tiny-nemotron", "--seed", "4321", dir); code != 0 {
		t.Fatal(errs)
	}
	b, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != "aeca3988c08caa7e0a43778c35f29c843b8479881c1cb0d3e04e22a928d0dc44" {
		t.Fatalf("model.safetensors sha256 %s", got)
	}
	layers := []string{
		"0  4 KV heads   gated 256", "1  skipped      gated 512", "2  linear       gated 256",
		"3  1 KV heads   skipped", "4  8 KV heads   linear", "5  skipped      skipped", "6  2 KV heads   gated 768",
	}
	info := func(path string) {
		t.Helper()
		out, errs, code := run(t, "", "info", "-m", path)
		if code != 0 {
			t.Fatal(errs)
		}
		for _, want := range append(layers, "KV heads per layer:  [4, 0, 0, 1, 8, 0, 2] (15 in all)", "KV bytes per token:  960 at f16", "scaling llama3 x8", "33.75M") {
			if !strings.Contains(out, want) {
				t.Errorf("info %s lacks %q:\n%s", path, want, out)
			}
		}
	}
	info(dir)
	// A synth model has no tokenizer: quantize needs one, and says so.
	if _, errs, code := run(t, "", "quantize", "-q", "-m", dir, "--type", "f32", "-o", filepath.Join(dir, "x.gguf")); code == 0 || !strings.Contains(errs, "tokenizer") {
		t.Errorf("quantize without a tokenizer: exit %d, %q", code, errs)
	}
	// --layers keeps the first blocks.
	slice := filepath.Join(t.TempDir(), "tn3")
	if _, errs, code := run(t, "", "synth", "-q", "--preset", "tiny-nemotron", "--layers", "3", slice); code != 0 {
		t.Fatal(errs)
	}
	out, _, _ := run(t, "", "info", "-m", slice)
	if !strings.Contains(out, "hidden / layers:     128 / 3") || !strings.Contains(out, layers[2]) {
		t.Errorf("info of the 3-layer slice:\n%s", out)
	}
	if _, _, code := run(t, "", "synth", "--preset", "tiny-nemotron", "--layers", "8", slice); code != 2 {
		t.Errorf("--layers beyond the preset: exit %d, want 2", code)
	}
	// --blocks replaces the preset's layers.
	custom := filepath.Join(t.TempDir(), "custom")
	if _, errs, code := run(t, "", "synth", "-q", "--preset", "tiny", "--blocks", "g4/1.0 L/- -/L", custom); code != 0 {
		t.Fatal(errs)
	}
	out, _, _ = run(t, "", "info", "-m", custom)
	for _, want := range []string{"0  2 KV heads   gated 256", "1  linear       skipped", "2  skipped      linear"} {
		if !strings.Contains(out, want) {
			t.Errorf("info of --blocks model lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"g3/1.0", "x/1.0", "g1"} {
		if _, _, code := run(t, "", "synth", "--preset", "tiny", "--blocks", bad, custom); code != 2 {
			t.Errorf("--blocks %q: exit %d, want 2", bad, code)
		}
	}
}

// TestConvertNemotron: convert writes a Nemotron-NAS model (every block kind) as a
// Hugging Face directory with block_configs whose logits equal the original's.
func TestConvertNemotron(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tn")
	if _, errs, code := run(t, "", "synth", "-q", "--preset", "tiny-nemotron", src); code != 0 {
		t.Fatal(errs)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if _, errs, code := run(t, "", "convert", "-m", src, "-o", dst); code != 0 {
		t.Fatal(errs)
	}
	cj, err := os.ReadFile(filepath.Join(dst, "config.json"))
	if err != nil || !strings.Contains(string(cj), `"block_configs"`) || !strings.Contains(string(cj), `"rope_type": "llama3"`) {
		t.Fatalf("config.json: %v\n%s", err, cj)
	}
	logits := func(m string) []byte {
		out := filepath.Join(t.TempDir(), "l.f32")
		if _, errs, code := run(t, "", "logits", "-m", m, "--tokens", "128000,12805,5304,264", "-o", out); code != 0 {
			t.Fatal(errs)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if a, b := logits(src), logits(dst); string(a) != string(b) || len(a) != 4*4*128256 {
		t.Errorf("converted logits differ (%d and %d bytes)", len(a), len(b))
	}
}
