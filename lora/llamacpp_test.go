//go:build oracle && llamacpp

package lora_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// This test runs llama.cpp's llama-cli, which CI cannot build: run it by hand with
// go test -tags 'oracle llamacpp' ./lora/ and LLAMA_CPP_BIN set to llama.cpp's build/bin.

func llamaCLI(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("LLAMA_CPP_BIN"); dir != "" {
		return filepath.Join(dir, "llama-cli")
	}
	p, err := exec.LookPath("llama-cli")
	if err != nil {
		t.Fatalf("llama-cli (llama.cpp) not found: set LLAMA_CPP_BIN or put it on PATH: %v", err)
	}
	return p
}

// TestGGUFAdapterMatchesLlamaCpp: a GGUF LoRA adapter written as llama.cpp's
// convert_lora_to_gguf.py lays it out (blk.N.attn_q.weight.lora_a [r, in], .lora_b
// [out, r], query and key rows permuted, adapter.lora.alpha), on a float32 DeciLM GGUF
// (variable GQA), gives llama-cli's greedy text with --lora-scaled; and the same text
// without the adapter when the adapter is left out.
func TestGGUFAdapterMatchesLlamaCpp(t *testing.T) {
	cli := llamaCLI(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := synth.Presets["tiny"].Write(src, 31, testutil.Fixture(t, "llama2-tokenizer"), nil); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(src, model.Options{NoPack: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.gguf")
	err = quantize.WriteFile(base, m, tok, quantize.Options{Type: tensor.F32, Arch: "deci"})
	cfg := m.Config
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	ps := pairsFor(t, cfg, 8, targets, 8, nil, func(string, int) float64 { return 0 })
	adapter := writeGGUFAdapter(t, cfg, ps, 4, "deci")

	const prompt, n, scale = "Once upon a time", 24, "0.7"
	for _, withLoRA := range []bool{false, true} {
		args := []string{"-m", base, "-p", prompt, "-n", "24", "--temp", "0", "--ignore-eos", "-no-cnv",
			"--simple-io", "--no-warmup", "-t", "2", "-c", "256", "--no-display-prompt"}
		if withLoRA {
			args = append(args, "--lora-scaled", adapter, scale)
		}
		out, err := exec.Command(cli, args...).Output()
		if err != nil {
			t.Fatalf("llama-cli %v: %v", args, err)
		}
		llama := strings.TrimSpace(string(out))

		dm, err := decilm.Load(context.Background(), base, decilm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if withLoRA {
			a, err := loraLoad(adapter+":"+scale, dm.Net.Config)
			if err != nil {
				t.Fatal(err)
			}
			dm.Net.SetAdapter(a)
		}
		res, err := dm.Generate(context.Background(), prompt, decilm.GenerateOptions{MaxTokens: n, IgnoreEOS: true})
		dm.Close()
		if err != nil {
			t.Fatal(err)
		}
		ours := strings.TrimSpace(res.Text)
		t.Logf("lora %v: llama.cpp %q, decilm %q", withLoRA, llama, ours)
		if ours != llama {
			t.Errorf("lora %v: decilm %q, llama.cpp %q", withLoRA, ours, llama)
		}
	}
}
