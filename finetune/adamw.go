package finetune

import "math"

// AdamW is PyTorch's torch.optim.AdamW: Adam with bias correction and weight decay applied
// to the weights directly (decoupled), its state (M, V) in float32 as PyTorch keeps it.
type AdamW struct {
	Beta1, Beta2 float64 // PyTorch's defaults: 0.9, 0.999
	Eps          float64 // 1e-8
	WeightDecay  float64 // 0.01
	// Step is the number of updates made so far.
	Step int
	// M and V are the first and second moment estimates, one slice per parameter.
	M, V [][]float32
}

// NewAdamW returns an AdamW with PyTorch's defaults and zero state for params.
func NewAdamW(params []*Param) *AdamW {
	o := &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01}
	for _, p := range params {
		o.M = append(o.M, make([]float32, len(p.W)))
		o.V = append(o.V, make([]float32, len(p.W)))
	}
	return o
}

// Update makes one step with learning rate lr from the gradients in each G, as
// torch.optim.AdamW's single-tensor step does:
//
//	w ← w·(1 − lr·λ)
//	m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
//	w ← w − lr/(1 − β1^t) · m / (sqrt(v)/sqrt(1 − β2^t) + ε)
//
// Each element is computed in float64 from the float32 state and rounded back.
func (o *AdamW) Update(params []*Param, lr float64) {
	o.Step++
	t := float64(o.Step)
	bc1 := 1 - math.Pow(o.Beta1, t)
	bc2 := math.Sqrt(1 - math.Pow(o.Beta2, t))
	stepSize := lr / bc1
	decay := 1 - lr*o.WeightDecay
	for i, p := range params {
		m, v := o.M[i], o.V[i]
		for j, g32 := range p.G {
			g := float64(g32)
			w := float64(p.W[j]) * decay
			mj := o.Beta1*float64(m[j]) + (1-o.Beta1)*g
			vj := o.Beta2*float64(v[j]) + (1-o.Beta2)*g*g
			m[j], v[j] = float32(mj), float32(vj)
			w -= stepSize * mj / (math.Sqrt(vj)/bc2 + o.Eps)
			p.W[j] = float32(w)
		}
	}
}

// GradNorm returns the global L2 norm of every parameter's gradient.
func GradNorm(params []*Param) float64 {
	s := 0.0
	for _, p := range params {
		for _, g := range p.G {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// ScaleGrads multiplies every gradient by f.
func ScaleGrads(params []*Param, f float64) {
	for _, p := range params {
		for j := range p.G {
			p.G[j] = float32(float64(p.G[j]) * f)
		}
	}
}

// ClipGrads scales the gradients down so that their global norm is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_ does (factor maxNorm/(norm+1e-6) when below 1), and
// returns the norm before clipping. maxNorm <= 0 clips nothing.
func ClipGrads(params []*Param, maxNorm float64) float64 {
	norm := GradNorm(params)
	if maxNorm > 0 {
		if f := maxNorm / (norm + 1e-6); f < 1 {
			ScaleGrads(params, f)
		}
	}
	return norm
}

// Schedule is a learning-rate schedule: a linear warm-up from 0 to Peak over Warmup steps,
// then a cosine decay from Peak towards Min over the remaining steps up to Total.
type Schedule struct {
	Peak, Min     float64
	Warmup, Total int
}

// LR returns the learning rate of optimiser step t (1-based). During the warm-up it is
// Peak·t/Warmup (so the first step already moves); after it,
// Min + (Peak − Min)·(1 + cos(π·(t − 1 − Warmup)/(Total − Warmup)))/2: Peak at the first
// step after the warm-up, and one step short of Min at step Total, as the cosine of
// transformers' get_cosine_schedule_with_warmup (whose step counts from 0).
func (s Schedule) LR(t int) float64 {
	if t <= s.Warmup {
		return s.Peak * float64(t) / float64(s.Warmup)
	}
	if s.Total <= s.Warmup {
		return s.Min
	}
	p := min(float64(t-1-s.Warmup)/float64(s.Total-s.Warmup), 1)
	return s.Min + (s.Peak-s.Min)*0.5*(1+math.Cos(math.Pi*p))
}
