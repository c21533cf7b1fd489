// Package finetunetest provides a Trainable whose gradients are known exactly, for testing
// the fine-tuning loop without a transformer: a bigram language model with LoRA adapters.
package finetunetest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/decilm/decilm/finetune"
)

// Bigram is a bigram language model over a vocabulary of V tokens with frozen base logits
// and one LoRA pair per target: the logits of the token after t are
//
//	Base[t] + Scale · Σ_targets B·A[:, t]
//
// where A is [R, V] and B is [V, R]. Its Step computes the exact cross-entropy gradient in
// float64 and adds it to each Param's G in float32.
type Bigram struct {
	V     int
	Base  []float64 // [V, V]: row t holds the base logits of the token after t
	cfg   finetune.LoRAConfig
	scale float64
	ps    []*finetune.Param // A0, B0, A1, B1, ...
	// Steps counts the calls of Step.
	Steps int
}

// New returns a Bigram over v tokens with adapters as cfg says, its base logits and A drawn
// from seed (A as PEFT initialises it: uniform in ±1/sqrt(v)), B zero.
func New(v int, cfg finetune.LoRAConfig, seed uint64) (*Bigram, error) {
	if v < 2 || v > 4096 {
		return nil, fmt.Errorf("finetunetest: vocabulary %d outside 2..4096", v)
	}
	if cfg.R < 1 || cfg.R > v {
		return nil, fmt.Errorf("finetunetest: rank %d outside 1..%d", cfg.R, v)
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("finetunetest: no target modules")
	}
	rng := rand.New(rand.NewPCG(seed, 0xb16a))
	b := &Bigram{V: v, Base: make([]float64, v*v), cfg: cfg}
	for i := range b.Base {
		b.Base[i] = rng.NormFloat64()
	}
	b.scale = cfg.Alpha / float64(cfg.R)
	if cfg.RSLoRA {
		b.scale = cfg.Alpha / math.Sqrt(float64(cfg.R))
	}
	bound := 1 / math.Sqrt(float64(v))
	for li, t := range cfg.Targets {
		prefix := fmt.Sprintf("base_model.model.model.layers.%d.self_attn.%s.", li, t)
		a := &finetune.Param{Name: prefix + "lora_A.weight", Rows: cfg.R, Cols: v, W: make([]float32, cfg.R*v), G: make([]float32, cfg.R*v)}
		for i := range a.W {
			a.W[i] = float32((2*rng.Float64() - 1) * bound)
		}
		bb := &finetune.Param{Name: prefix + "lora_B.weight", Rows: v, Cols: cfg.R, W: make([]float32, v*cfg.R), G: make([]float32, v*cfg.R)}
		b.ps = append(b.ps, a, bb)
	}
	return b, nil
}

// Params returns A and B of each target in the order of cfg.Targets.
func (b *Bigram) Params() []*finetune.Param { return b.ps }

// ZeroGrad clears every G.
func (b *Bigram) ZeroGrad() {
	for _, p := range b.ps {
		clear(p.G)
	}
}

// Scale is Alpha/R (Alpha/sqrt(R) with RSLoRA).
func (b *Bigram) Scale() float64 { return b.scale }

// Config returns the adapter configuration.
func (b *Bigram) Config() finetune.LoRAConfig { return b.cfg }

// Loss returns the summed cross-entropy of the counted tokens of batch and their number.
func (b *Bigram) Loss(batch []finetune.Example) (float64, int, error) {
	return b.run(batch, false)
}

// Step is Loss that also adds the gradient of the summed loss into each G.
func (b *Bigram) Step(batch []finetune.Example, _ bool) (float64, int, error) {
	b.Steps++
	return b.run(batch, true)
}

// Logits returns the logits of the token after t.
func (b *Bigram) Logits(t int) []float64 {
	out := append([]float64(nil), b.Base[t*b.V:(t+1)*b.V]...)
	r := b.cfg.R
	for k := 0; k < len(b.ps); k += 2 {
		a, bb := b.ps[k], b.ps[k+1]
		for o := range b.V {
			s := 0.0
			for j := range r {
				s += float64(bb.W[o*r+j]) * float64(a.W[j*b.V+t])
			}
			out[o] += b.scale * s
		}
	}
	return out
}

func (b *Bigram) run(batch []finetune.Example, grad bool) (float64, int, error) {
	sum, n := 0.0, 0
	r := b.cfg.R
	for ei, ex := range batch {
		if len(ex.Loss) != len(ex.Tokens)-1 {
			return 0, 0, fmt.Errorf("finetunetest: example %d has %d tokens and %d loss flags", ei, len(ex.Tokens), len(ex.Loss))
		}
		for _, t := range ex.Tokens {
			if t < 0 || t >= b.V {
				return 0, 0, fmt.Errorf("finetunetest: example %d has token %d outside 0..%d", ei, t, b.V-1)
			}
		}
		for i, counted := range ex.Loss {
			if !counted {
				continue
			}
			cur, next := ex.Tokens[i], ex.Tokens[i+1]
			logits := b.Logits(cur)
			mx := math.Inf(-1)
			for _, l := range logits {
				mx = max(mx, l)
			}
			z := 0.0
			for _, l := range logits {
				z += math.Exp(l - mx)
			}
			sum += mx + math.Log(z) - logits[next]
			n++
			if !grad {
				continue
			}
			// dL/dlogit_o = p_o - [o == next]; logit_o gets scale·Σ_j B[o,j]·A[j,cur].
			d := make([]float64, b.V)
			for o, l := range logits {
				d[o] = math.Exp(l-mx) / z
			}
			d[next]--
			for k := 0; k < len(b.ps); k += 2 {
				a, bb := b.ps[k], b.ps[k+1]
				for j := range r {
					aj := float64(a.W[j*b.V+cur])
					ga := 0.0
					for o := range b.V {
						bb.G[o*r+j] += float32(b.scale * d[o] * aj)
						ga += d[o] * float64(bb.W[o*r+j])
					}
					a.G[j*b.V+cur] += float32(b.scale * ga)
				}
			}
		}
	}
	return sum, n, nil
}
