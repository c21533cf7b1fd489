//go:build oracle && llamacpp

package quantize_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// TestLlamaCppLoadsOurFiles writes a small random Llama (hidden 256, so that every k- and
// i-quant applies; the Llama-2 vocabulary) in every file type decilm quantize writes (with
// an importance matrix where llama-quantize requires one), and runs llama.cpp's llama-simple on each file: it must
// load it and generate. The deci architecture (per-layer KV heads) is checked too, on a
// model whose layers have different KV head counts.
func TestLlamaCppLoadsOurFiles(t *testing.T) {
	simple := llamaTool(t, "llama-simple")
	for _, arch := range []struct {
		name    string
		kvHeads []int
	}{{"llama", []int{2, 2}}, {"deci", []int{2, 1}}} {
		t.Run(arch.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			p := synth.Preset{Name: "load256", Hidden: 256, Intermediate: 768, Layers: 2, Heads: 4, KVHeads: arch.kvHeads,
				Vocab: 32000, MaxPositions: 2048, NormEps: 1e-5, RopeScalingJSON: "null"}
			if err := p.Write(src, 11, testutil.Fixture(t, "llama2-tokenizer"), nil); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(src, model.Options{NoPack: true})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tok, err := tokenizer.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			im := mixImatrix(m)
			for _, name := range quantize.FileTypeNames() {
				// The importance matrix changes the numbers, not the layout: it is used only
				// where llama-quantize requires one.
				key := name
				o := quantize.Options{FileType: name, Arch: arch.name}
				if name == "q2_k_s" {
					key += "+imatrix"
					o.Importance = im.Importance()
				}
				t.Run(key, func(t *testing.T) {
					file := filepath.Join(dir, key+".gguf")
					if err := quantize.WriteFile(file, m, tok, o); err != nil {
						t.Fatal(err)
					}
					const prompt = "Once upon a time"
					out := runTool(t, simple, "-m", file, "-n", "8", prompt)
					i := bytes.Index(out, []byte(prompt))
					if i < 0 || len(bytes.TrimSpace(out[i+len(prompt):])) == 0 {
						t.Fatalf("llama-simple on decilm's %s file printed %q: no continuation of the prompt", key, out)
					}
				})
			}
		})
	}
}

// runTool runs a llama.cpp tool and returns its standard output; a failure is fatal, with
// the tool's standard error.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// runToolLog is runTool for tools that print their results on standard error (llama.cpp's
// LOG): it returns standard output and error together.
func runToolLog(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// writeF32 loads the Hugging Face model directory src and writes it as an F32 GGUF file
// of the given architecture.
func writeF32(t *testing.T, src, path, arch string) {
	t.Helper()
	m, err := model.Load(src, model.Options{NoPack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := quantize.WriteFile(path, m, tok, quantize.Options{Type: tensor.F32, Arch: arch}); err != nil {
		t.Fatal(err)
	}
}
