package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/synth"
)

// tinyDir writes the synth "tiny" checkpoint (config.json + a 17.8 MB model.safetensors).
func tinyDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := synth.Presets["tiny"].Write(dir, 1, "", nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestConvertRefusesItsInput: converting a folder into itself used to truncate
// model.safetensors through its own memory map (17,832,272 bytes → 4,096) and die with
// SIGBUS. Now it is refused, with and without --force, and the input keeps every byte.
func TestConvertRefusesItsInput(t *testing.T) {
	dir := tinyDir(t)
	before, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", dir, "-o", dir}, "--force"},
		{[]string{"-m", dir, "-o", dir, "--force"}, "input"},
		{[]string{"-m", dir, "-o", link, "--force"}, "same file as the input"},
		{[]string{"-m", filepath.Join(dir, "model.safetensors"), "-o", dir, "--force"}, "input"},
	} {
		_, errs, code := run(t, "", append([]string{"convert"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("convert %v: exit %d, stderr %q; want an error containing %q", tc.args, code, errs, tc.want)
		}
		after, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("convert %v changed its input: %d bytes before, %d after (%v)", tc.args, len(before), len(after), err)
		}
	}
}

// TestConvertOutputDir: a non-empty output folder needs --force; a new one gets the model,
// and a failed conversion leaves no partial file.
func TestConvertOutputDir(t *testing.T) {
	dir := tinyDir(t)
	out := filepath.Join(t.TempDir(), "out")
	os.Mkdir(out, 0o755)
	keep := filepath.Join(out, "notes.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	if _, errs, code := run(t, "", "convert", "-m", dir, "-o", out); code == 0 || !strings.Contains(errs, "--force") {
		t.Fatalf("non-empty output: exit %d, %q", code, errs)
	}
	if _, errs, code := run(t, "", "convert", "-m", dir, "-o", out, "--force", "--dtype", "f16"); code != 0 {
		t.Fatalf("--force: exit %d, %s", code, errs)
	}
	if b, _ := os.ReadFile(keep); string(b) != "mine" {
		t.Fatal("an unrelated file in the output folder changed")
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "config.json model.safetensors notes.txt" {
		t.Fatalf("output folder holds %v", names)
	}
}

// TestConvertRuns: the output of convert runs with `decilm run -m OUT` and generates what the
// source does, from the embedded model (a llama2.c vocabulary, copied as tokenizer.bin) and
// from a GGUF file made from it (vocabulary written as tokenizer.json).
func TestConvertRuns(t *testing.T) {
	tmp := t.TempDir()
	gen := func(m ...string) []string {
		return append(append([]string{"run"}, m...), "--temperature", "0", "-n", "40", "Once upon a time")
	}
	want, errs, code := run(t, "", gen()...)
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	hf := filepath.Join(tmp, "hf")
	if _, errs, code := run(t, "", "convert", "-o", hf); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, errs)
	}
	gg := filepath.Join(tmp, "m.gguf")
	if _, errs, code := run(t, "", "quantize", "--type", "f32", "-q", "-o", gg); code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, errs)
	}
	fromGGUF := filepath.Join(tmp, "from-gguf")
	if _, errs, code := run(t, "", "convert", "-m", gg, "-o", fromGGUF); code != 0 {
		t.Fatalf("convert gguf: exit %d: %s", code, errs)
	}
	for _, dir := range []string{hf, fromGGUF} {
		got, errs, code := run(t, "", gen("-m", dir)...)
		if code != 0 {
			t.Fatalf("run -m %s: exit %d: %s", dir, code, errs)
		}
		if got != want {
			t.Errorf("run -m %s printed %q, the source %q", dir, got, want)
		}
	}
}
