// Package loratest writes small PEFT LoRA adapters with random weights for tests.
package loratest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// Pair is one update of a written adapter: A [Rank, In] and B [Out, Rank], row-major.
type Pair struct {
	Module        string // PEFT's module name, "model.layers.0.self_attn.q_proj"
	Out, In, Rank int
	A, B          []float32
}

// F32 returns a float32 tensor of the given shape and values.
func F32(name string, shape []int, v []float32) *tensor.Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		bits := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24)
	}
	return &tensor.Tensor{Name: name, DType: tensor.F32, Shape: shape, Data: b}
}

// WritePEFT writes a PEFT adapter folder in a new temporary directory: config (JSON) as
// adapter_config.json and the pairs as adapter_model.safetensors under PEFT's names.
func WritePEFT(t testing.TB, config string, ps []Pair) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []*tensor.Tensor
	for _, p := range ps {
		ts = append(ts, F32("base_model.model."+p.Module+".lora_A.weight", []int{p.Rank, p.In}, p.A),
			F32("base_model.model."+p.Module+".lora_B.weight", []int{p.Out, p.Rank}, p.B))
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// RandomPairs makes pairs of rank r for the projections of cfg whose PEFT module names are
// in suffixes ("q_proj", "down_proj", ...): A with standard deviation 1/√in, B with
// std, from seed.
func RandomPairs(cfg *model.Config, seed uint64, suffixes []string, r int, std float64) []Pair {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ps []Pair
	for _, tg := range cfg.LoRATargets() {
		if !slices.Contains(suffixes, tg.Proj.Module()) {
			continue
		}
		mod := tg.Module()
		p := Pair{Module: mod, Out: tg.Out, In: tg.In, Rank: r, A: make([]float32, r*tg.In), B: make([]float32, tg.Out*r)}
		for i := range p.A {
			p.A[i] = float32(rng.NormFloat64() / math.Sqrt(float64(tg.In)))
		}
		for i := range p.B {
			p.B[i] = float32(rng.NormFloat64() * std)
		}
		ps = append(ps, p)
	}
	return ps
}

// Random writes a PEFT adapter of rank r and lora_alpha alpha for the projections named
// by suffixes, with random weights from seed (see RandomPairs), and returns its folder.
func Random(t testing.TB, cfg *model.Config, seed uint64, suffixes []string, r int, alpha float64) string {
	t.Helper()
	c, err := json.Marshal(map[string]any{"peft_type": "LORA", "r": r, "lora_alpha": alpha, "target_modules": suffixes})
	if err != nil {
		t.Fatal(err)
	}
	return WritePEFT(t, string(c), RandomPairs(cfg, seed, suffixes, r, 0.5))
}
