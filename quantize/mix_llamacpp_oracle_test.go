//go:build oracle && llamacpp

package quantize_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// These tests run llama.cpp's llama-quantize, which CI cannot build: run them by hand with
// go test -tags 'oracle llamacpp' ./quantize/ and LLAMA_CPP_BIN set to llama.cpp's build/bin.

func llamaTool(t *testing.T, name string) string {
	t.Helper()
	if dir := os.Getenv("LLAMA_CPP_BIN"); dir != "" {
		return filepath.Join(dir, name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s (llama.cpp) not found: set LLAMA_CPP_BIN or put it on PATH: %v", name, err)
	}
	return p
}

// llamaFtype is llama-quantize's name of a file type.
func llamaFtype(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "_k", "_K")) }

// TestMixMatchesLlamaQuantize quantizes each mix model (mixModels) to every file type decilm
// writes, with llama.cpp's llama-quantize and with decilm, from the same F32 GGUF file and
// the same importance matrix, and requires every tensor to have llama.cpp's type and bytes. With
// DECILM_MIX_TYPES_ONLY=1 it compares the types only (quicker). With DECILM_WRITE_MIX=1 it
// rewrites testdata/llamacpp_mix.txt, the types llama-quantize chose, which
// TestMixMatchesReference checks without llama.cpp. DECILM_MIX_TYPES (a comma-separated
// list of file types) limits the test to those types; with DECILM_WRITE_MIX=1 their lines
// then replace theirs in the file and the other lines stay.
func TestMixMatchesLlamaQuantize(t *testing.T) {
	bin := llamaTool(t, "llama-quantize")
	typesOnly := os.Getenv("DECILM_MIX_TYPES_ONLY") == "1"
	var mu sync.Mutex
	var lines []string
	record := func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}
	for _, mm := range mixModels {
		t.Run(mm.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := mm.preset.Write(src, 7, "", nil); err != nil {
				t.Fatal(err)
			}
			testmodel.Tokenizer(t, src, mm.preset.Vocab)
			m, err := model.Load(src, model.Options{NoPack: true})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := tokenizer.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			f32 := filepath.Join(dir, "f32.gguf")
			if err := quantize.WriteFile(f32, m, tok, quantize.Options{Type: tensor.F32}); err != nil {
				t.Fatal(err)
			}
			m.Close()
			fm, err := model.Load(f32, model.Options{NoPack: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fm.Close() })
			ftok, err := tokenizer.Load(f32)
			if err != nil {
				t.Fatal(err)
			}
			im := mixImatrix(fm)
			imPath := filepath.Join(dir, "imatrix.dat")
			if err := im.WriteFile(imPath); err != nil {
				t.Fatal(err)
			}
			// The importances as llama-quantize will see them: through the .dat file's float32s.
			back, err := quantize.ReadImatrix(imPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range mixCases() {
				if only := os.Getenv("DECILM_MIX_TYPES"); only != "" && !slices.Contains(strings.Split(only, ","), c.ftype) {
					continue
				}
				t.Run(c.key(), func(t *testing.T) {
					t.Parallel()
					ours := filepath.Join(dir, c.key()+".ours.gguf")
					theirs := filepath.Join(dir, c.key()+".theirs.gguf")
					args := []string{}
					o := quantize.Options{FileType: c.ftype}
					if c.imatrix {
						args = append(args, "--imatrix", imPath)
						o.Importance = back.Importance()
					}
					args = append(args, f32, theirs, llamaFtype(c.ftype), "1")
					if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
						if !bytes.Contains(out, []byte("Unsupported tensor size")) {
							t.Fatalf("llama-quantize %v: %v\n%s", args, err, out)
						}
						record(mm.name + " " + c.key() + ": refused")
						return
					}
					var theirTypes map[string]tensor.DType
					if typesOnly {
						theirTypes = fileTypes(t, theirs)
						ourTypes, err := quantize.TensorTypes(fm, o)
						if err != nil {
							t.Fatal(err)
						}
						for n, d := range theirTypes {
							if ourTypes[n] != d {
								t.Errorf("%s: type %s, llama.cpp %s", n, ourTypes[n], d)
							}
						}
					} else {
						if err := quantize.WriteFile(ours, fm, ftok, o); err != nil {
							t.Fatal(err)
						}
						theirTypes = compareFiles(t, ours, theirs)
					}
					os.Remove(ours)
					os.Remove(theirs)
					record(mm.name + " " + c.key() + ": " + formatMix(theirTypes, c.ftype))
				})
			}
		})
	}
	if os.Getenv("DECILM_WRITE_MIX") == "1" && !t.Failed() {
		if os.Getenv("DECILM_MIX_TYPES") != "" { // keep the other types' lines
			old, err := os.ReadFile("testdata/llamacpp_mix.txt")
			if err != nil {
				t.Fatal(err)
			}
			have := map[string]bool{}
			for _, l := range lines {
				k, _, _ := strings.Cut(l, ":")
				have[k] = true
			}
			for _, l := range strings.Split(string(old), "\n") {
				if k, _, _ := strings.Cut(l, ":"); l != "" && !strings.HasPrefix(l, "#") && !have[k] {
					lines = append(lines, l)
				}
			}
		}
		sort.Strings(lines)
		head := "# The type llama-quantize (llama.cpp c392e509) gives each matrix of the mix models\n" +
			"# (quantize/mix_test.go) per file type, \"+imatrix\" with an importance matrix; only the\n" +
			"# matrices whose type is not the file type's base type are listed; \"refused\": llama-quantize\n" +
			"# stops at rows that are not whole blocks. Written by TestMixMatchesLlamaQuantize with\n" +
			"# DECILM_WRITE_MIX=1.\n"
		if err := os.WriteFile("testdata/llamacpp_mix.txt", []byte(head+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fileTypes returns the types of a GGUF file's matrices.
func fileTypes(t *testing.T, path string) map[string]tensor.DType {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	types := map[string]tensor.DType{}
	for _, x := range f.Tensors {
		if len(x.Shape) == 2 {
			types[x.Name] = x.DType
		}
	}
	if len(f.Unsupported) > 0 {
		t.Fatalf("%s: tensor %s has a type decilm cannot read", path, f.Unsupported[0].Name)
	}
	return types
}

// compareFiles checks that two GGUF files hold the same tensors with the same types and
// bytes, and returns the types of the llama.cpp file's matrices.
func compareFiles(t *testing.T, ours, theirs string) map[string]tensor.DType {
	t.Helper()
	a, err := gguf.Open(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(b.Unsupported) > 0 {
		t.Fatalf("llama.cpp's file has tensors of types decilm cannot read: %v", b.Unsupported[0].Name)
	}
	types := map[string]tensor.DType{}
	if len(a.Tensors) != len(b.Tensors) {
		t.Errorf("%d tensors, llama.cpp %d", len(a.Tensors), len(b.Tensors))
	}
	for _, tb := range b.Tensors {
		ta, ok := a.Tensor(tb.Name)
		if !ok {
			t.Errorf("%s: missing", tb.Name)
			continue
		}
		if len(tb.Shape) == 2 {
			types[tb.Name] = tb.DType
		}
		if ta.DType != tb.DType {
			t.Errorf("%s: type %s, llama.cpp %s", tb.Name, ta.DType, tb.DType)
			continue
		}
		if !bytes.Equal(ta.Data, tb.Data) {
			t.Errorf("%s (%s): bytes differ from llama.cpp's", tb.Name, tb.DType)
		}
	}
	return types
}

// formatMix lists the matrices whose type is not ft's base type, as name=type pairs.
func formatMix(types map[string]tensor.DType, ft string) string {
	f, err := quantize.ParseFileType(ft)
	if err != nil {
		panic(err)
	}
	var s []string
	for n, d := range types {
		if d != f.Base {
			s = append(s, fmt.Sprintf("%s=%s", n, d))
		}
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}
