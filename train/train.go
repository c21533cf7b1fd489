// Package train computes the loss of a frozen transformer with LoRA adapters on a batch
// of training sequences, and its gradient with respect to the adapters' A and B matrices:
// the forward and backward passes of LoRA fine-tuning (QLoRA style: the base model's
// weights stay in their stored type, f32 down to Q4_0 and the k-quants, and are never
// trained).
//
// The network is the one model.Forward runs (grouped, linear and skipped attention;
// gated, linear and skipped FFNs; per-layer key/value heads; RoPE with every scaling),
// with float32 activations. A projection with an adapter computes
// y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ, as PEFT's LoRA Linear does, with s = Alpha/R (or Alpha/√R with
// RSLoRA). The base products use each weight's exact value (quantized weights are decoded
// to float32 a slab at a time), so the gradients are those of the loss this package
// computes. Step keeps every layer's activations for the backward pass, or with
// checkpointing only each layer's input, recomputing the rest layer by layer during the
// backward pass (activation checkpointing). Attention probabilities are never stored:
// the backward recomputes them from the saved log-sum-exp of each row, as FlashAttention
// does, so memory grows linearly with the sequence length.
package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/decilm/decilm/model"
)

// LoRAConfig says which projections get adapters and their rank and scale, as PEFT's
// LoraConfig.
type LoRAConfig struct {
	R      int
	Alpha  float64
	RSLoRA bool // scale = Alpha/sqrt(R) instead of Alpha/R
	// Targets are PEFT module names: q_proj k_proj v_proj o_proj gate_proj up_proj
	// down_proj, and linear_attn, linear_mlp for Nemotron-NAS linear blocks.
	Targets []string
}

// Param is one trainable matrix, row-major.
type Param struct {
	// Name is PEFT's tensor name, e.g.
	// base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight.
	Name       string
	Rows, Cols int       // lora_A: [R, in]; lora_B: [out, R]
	W, G       []float32 // value and accumulated gradient
}

// Example is one training sequence; Loss[i] says whether predicting Tokens[i+1] from
// position i counts in the loss (len(Loss) == len(Tokens)-1).
type Example struct {
	Tokens []int
	Loss   []bool
}

// adapter is the LoRA pair of one projection: A [R, in] and B [out, R].
type adapter struct {
	a, b    *Param
	in, out int
}

// MaxRank bounds LoRAConfig.R.
const MaxRank = 4096

// Net is a frozen *model.Model (weights in their stored type, f32 .. Q4_0 and k-quants)
// plus LoRA parameters. Step and Loss may be called from one goroutine at a time, and not
// while the model runs model.Forward (they share its worker pool).
type Net struct {
	m      *model.Model
	cfg    LoRAConfig
	scale  float64
	params []*Param
	ad     [][model.NumProj]*adapter // per layer
	lin    linear
	lsc    loraScratch
}

// New wraps m with LoRA adapters on the projections cfg.Targets names, in every layer
// that has them. A is drawn as PEFT initialises it (kaiming_uniform with a = √5, that is
// U(−1/√in, 1/√in)) from a generator seeded with seed; B is zero, so the adapted model
// starts equal to the base. A target no layer of the model has is an error.
func New(m *model.Model, cfg LoRAConfig, seed uint64) (*Net, error) {
	if m == nil {
		return nil, fmt.Errorf("train: no model")
	}
	if cfg.R <= 0 || cfg.R > MaxRank {
		return nil, fmt.Errorf("train: LoRA rank R = %d, want 1..%d", cfg.R, MaxRank)
	}
	if math.IsNaN(cfg.Alpha) || math.IsInf(cfg.Alpha, 0) {
		return nil, fmt.Errorf("train: LoRA alpha %v is not a finite number", cfg.Alpha)
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("train: no LoRA targets (want some of %s)", moduleNames())
	}
	want := [model.NumProj]bool{}
	for _, t := range cfg.Targets {
		k, ok := model.ProjByModule(t)
		if !ok {
			return nil, fmt.Errorf("train: LoRA target %q is not a projection name (want some of %s)", t, moduleNames())
		}
		want[k] = true
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6f7261)) // "lora"
	n := &Net{m: m, cfg: cfg, ad: make([][model.NumProj]*adapter, len(m.Layers))}
	n.cfg.Targets = slices.Clone(cfg.Targets)
	n.scale = cfg.Alpha / float64(cfg.R)
	if cfg.RSLoRA {
		n.scale = cfg.Alpha / math.Sqrt(float64(cfg.R))
	}
	n.lin.pool = m.Pool()
	found := [model.NumProj]bool{}
	r := cfg.R
	for _, t := range m.Config.LoRATargets() {
		k := t.Proj
		if !want[k] {
			continue
		}
		found[k] = true
		out, in := t.Out, t.In
		pre := peftPrefix + t.Module() + "."
		a := &Param{Name: pre + "lora_A.weight", Rows: r, Cols: in, W: make([]float32, r*in), G: make([]float32, r*in)}
		b := &Param{Name: pre + "lora_B.weight", Rows: out, Cols: r, W: make([]float32, out*r), G: make([]float32, out*r)}
		bound := 1 / math.Sqrt(float64(in))
		for i := range a.W {
			a.W[i] = float32((2*rng.Float64() - 1) * bound)
		}
		n.ad[t.Layer][k] = &adapter{a: a, b: b, in: in, out: out}
		n.params = append(n.params, a, b)
	}
	for k := range model.NumProj {
		if want[k] && !found[k] {
			return nil, fmt.Errorf("train: LoRA target %q: no layer of this model has that projection", k.Module())
		}
	}
	return n, nil
}

func moduleNames() string { return strings.Join(model.ProjModules(), " ") }

// peftPrefix starts the name of every tensor of a PEFT adapter: PEFT's wrapper of the
// Hugging Face model.
const peftPrefix = "base_model.model."

// Params returns the trainable matrices: layer by layer, in the order q_proj k_proj v_proj
// o_proj linear_attn gate_proj up_proj down_proj linear_mlp, lora_A before lora_B.
func (n *Net) Params() []*Param { return n.params }

// ZeroGrad sets every gradient to zero.
func (n *Net) ZeroGrad() {
	for _, p := range n.params {
		clear(p.G)
	}
}

// Scale is s: Alpha/R, or Alpha/√R with RSLoRA.
func (n *Net) Scale() float64 { return n.scale }

// Config returns the LoRA configuration.
func (n *Net) Config() LoRAConfig {
	c := n.cfg
	c.Targets = slices.Clone(c.Targets)
	return c
}
