package model_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/checkpoint/torch"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// logitsOf runs the tokens through the model at path and returns all positions' logits.
func logitsOf(t *testing.T, path string, tokens []int) []float32 {
	t.Helper()
	m, err := model.Load(path, model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var b model.Batch
	for p, tok := range tokens {
		b.Add(0, p, tok, true)
	}
	out, err := m.Forward(&b, model.NewCache(m.Config, len(tokens)))
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

// writeDir writes an HF checkpoint directory with the given config and tensors, either as
// one safetensors file, as two safetensors shards with an index, or as a PyTorch .bin.
func writeDir(t *testing.T, dir, layout string, config []byte, ts []*tensor.Tensor) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name string, ts []*tensor.Tensor, bin bool) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if bin {
			err = torch.Write(f, ts)
		} else {
			err = safetensors.Write(f, ts, map[string]string{"format": "pt"})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	switch layout {
	case "safetensors":
		write("model.safetensors", ts, false)
	case "bin":
		write("pytorch_model.bin", ts, true)
	case "sharded", "sharded-bin":
		bin := layout == "sharded-bin"
		ext := ".safetensors"
		index := "model.safetensors.index.json"
		if bin {
			ext, index = ".bin", "pytorch_model.bin.index.json"
		}
		half := len(ts) / 2
		names := []string{"model-00001-of-00002" + ext, "model-00002-of-00002" + ext}
		write(names[0], ts[:half], bin)
		write(names[1], ts[half:], bin)
		wm := map[string]string{}
		for i, tt := range ts {
			wm[tt.Name] = names[min(i/half, 1)]
		}
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
		if err := os.WriteFile(filepath.Join(dir, index), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// formatCase is a checkpoint the other formats are written from, and a prompt.
type formatCase struct {
	name   string
	src    string
	tokens []int
}

// TestFormatsAgree: the same weights as safetensors, sharded safetensors and PyTorch .bin
// (sharded too) give identical logits, for the synth tiny model (BF16, variable GQA) and the
// embedded stories260K (F32). TestFormatsAgreeLlama2C starts from llama2.c's own file under
// the oracle tag.
func TestFormatsAgree(t *testing.T) {
	testFormatsAgree(t, []formatCase{
		{"tiny-bf16", testmodel.Synth(t, "tiny", 1234), []int{1, 450, 4996, 17354, 1701, 29916}},
		{"stories260K-f32", testmodel.Stories(t), []int{1, 403, 407, 261, 378}},
	})
}

func testFormatsAgree(t *testing.T, cases []formatCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ck, err := checkpoint.Open(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			cfg, err := model.ConfigOf(ck)
			if err != nil {
				t.Fatal(err)
			}
			cj, err := cfg.MarshalHF()
			if err != nil {
				t.Fatal(err)
			}
			var ts []*tensor.Tensor
			for _, n := range ck.Names {
				ts = append(ts, ck.Tensors[n])
			}
			want := logitsOf(t, tc.src, tc.tokens)
			for _, layout := range []string{"safetensors", "sharded", "bin", "sharded-bin"} {
				dir := filepath.Join(t.TempDir(), layout)
				writeDir(t, dir, layout, cj, ts)
				got := logitsOf(t, dir, tc.tokens)
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: logit %d = %g, source checkpoint gives %g", layout, i, got[i], want[i])
					}
				}
			}
		})
	}
}
