// Package testmodel writes small models for hermetic tests: the synth package's random-weight
// presets with the embedded stories260K vocabulary, and the embedded stories260K checkpoint
// itself, so that tests need neither ../shared nor a download.
package testmodel

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/defaultmodel"
	"github.com/decilm/decilm/synth"
)

// Stories writes the embedded stories260K model (config.json, model.safetensors,
// tokenizer.bin) into a new temporary directory and returns it.
func Stories(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := fs.ReadDir(defaultmodel.FS, defaultmodel.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Tokenizer writes the embedded stories260K vocabulary (llama2.c's tok512.bin: 512 pieces,
// BOS 1, EOS 2) as dir/tokenizer.bin and returns its path.
func Tokenizer(t testing.TB, dir string) string {
	t.Helper()
	b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "tokenizer.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Synth writes the synth preset (e.g. "tiny": 4 layers with 8, 4, 2 and 1 KV heads) for
// seed into a new temporary directory, with the stories260K vocabulary as tokenizer.bin,
// and returns the directory.
func Synth(t testing.TB, preset string, seed uint64) string {
	t.Helper()
	p, ok := synth.Presets[preset]
	if !ok {
		t.Fatalf("testmodel: no synth preset %q (have %v)", preset, synth.PresetNames())
	}
	dir := t.TempDir()
	if err := p.Write(dir, seed, "", nil); err != nil {
		t.Fatal(err)
	}
	Tokenizer(t, dir)
	return dir
}
