// Package testmodel writes small models for hermetic tests: the synth package's random-weight
// presets with the embedded stories260K vocabulary, and the embedded stories260K checkpoint
// itself, so that tests need neither ../shared nor a download.
package testmodel

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
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
// BOS 1, EOS 2, byte tokens 3..258) as dir/tokenizer.bin and returns its path. When vocab is
// more than 512, pieces " w512", " w513", ... up to id vocab-1 follow, with scores so low
// that encoding text never produces them, so that every id a model of that vocabulary
// samples decodes.
func Tokenizer(t testing.TB, dir string, vocab int) string {
	t.Helper()
	b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
	if err != nil {
		t.Fatal(err)
	}
	if vocab > 512 {
		b = append([]byte(nil), b...)
		if binary.LittleEndian.Uint32(b) < 8 {
			binary.LittleEndian.PutUint32(b, 8)
		}
		for id := 512; id < vocab; id++ {
			piece := fmt.Sprintf(" w%d", id)
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(-1e9))
			b = binary.LittleEndian.AppendUint32(b, uint32(len(piece)))
			b = append(b, piece...)
		}
	}
	p := filepath.Join(dir, "tokenizer.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Synth writes the synth preset (e.g. "tiny": 4 layers with 8, 4, 2 and 1 KV heads) for
// seed into a new temporary directory, with the stories260K vocabulary padded to the
// preset's as tokenizer.bin (see Tokenizer), and returns the directory.
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
	Tokenizer(t, dir, p.Vocab)
	return dir
}
