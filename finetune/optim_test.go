package finetune_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/decilm/decilm/finetune"
)

// refAdamW is torch.optim.AdamW's documented algorithm in float64, written from its formula
// (decoupled weight decay, bias-corrected moments) with nothing shared with AdamW.Update.
type refAdamW struct {
	lr, b1, b2, eps, wd float64
	t                   int
	m, v                []float64
}

func (r *refAdamW) step(w, g []float64) {
	r.t++
	for i := range w {
		w[i] -= r.lr * r.wd * w[i]
		r.m[i] = r.b1*r.m[i] + (1-r.b1)*g[i]
		r.v[i] = r.b2*r.v[i] + (1-r.b2)*g[i]*g[i]
		mhat := r.m[i] / (1 - math.Pow(r.b1, float64(r.t)))
		vhat := r.v[i] / (1 - math.Pow(r.b2, float64(r.t)))
		w[i] -= r.lr * mhat / (math.Sqrt(vhat) + r.eps)
	}
}

func TestAdamWMatchesFloat64Reference(t *testing.T) {
	for _, tc := range []struct {
		name string
		lr   float64
		n    int
	}{{"small", 1e-3, 7}, {"large lr", 0.1, 33}, {"one", 2e-4, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.n)))
			p := &finetune.Param{Name: "p", Rows: 1, Cols: tc.n, W: make([]float32, tc.n), G: make([]float32, tc.n)}
			w := make([]float64, tc.n)
			for i := range w {
				p.W[i] = float32(rng.NormFloat64())
				w[i] = float64(p.W[i])
			}
			opt := finetune.NewAdamW([]*finetune.Param{p})
			ref := &refAdamW{lr: tc.lr, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, m: make([]float64, tc.n), v: make([]float64, tc.n)}
			g := make([]float64, tc.n)
			for step := 1; step <= 6; step++ {
				for i := range g {
					p.G[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(5)-3)))
					g[i] = float64(p.G[i])
				}
				opt.Update([]*finetune.Param{p}, tc.lr)
				ref.step(w, g)
				for i := range w {
					if d := math.Abs(float64(p.W[i]) - w[i]); d > 1e-6*math.Max(1, math.Abs(w[i])) {
						t.Fatalf("step %d, element %d: AdamW gives %.9g, the float64 reference %.9g", step, i, p.W[i], w[i])
					}
				}
			}
			if opt.Step != 6 {
				t.Errorf("Step = %d, want 6", opt.Step)
			}
		})
	}
}

func TestAdamWFirstStepHandComputed(t *testing.T) {
	// After one step m̂ = g and v̂ = g², so w ← w(1 − lr·λ) − lr·g/(|g| + ε).
	p := &finetune.Param{Name: "p", Rows: 1, Cols: 3, W: []float32{1, -2, 0.5}, G: []float32{0.5, -0.25, 0}}
	finetune.NewAdamW([]*finetune.Param{p}).Update([]*finetune.Param{p}, 0.1)
	want := []float64{1*(1-0.001) - 0.1*0.5/(0.5+1e-8), -2*(1-0.001) + 0.1*0.25/(0.25+1e-8), 0.5 * (1 - 0.001)}
	for i, w := range want {
		if math.Abs(float64(p.W[i])-w) > 1e-7 {
			t.Errorf("W[%d] = %.9g, want %.9g", i, p.W[i], w)
		}
	}
}

func TestSchedule(t *testing.T) {
	s := finetune.Schedule{Peak: 1e-3, Min: 1e-4, Warmup: 4, Total: 14}
	for _, tc := range []struct {
		step int
		want float64
	}{
		{1, 0.25e-3}, {2, 0.5e-3}, {4, 1e-3}, {5, 1e-3},
		{10, 1e-4 + 0.9e-3*0.5*(1+math.Cos(math.Pi*0.5))},
		{14, 1e-4 + 0.9e-3*0.5*(1+math.Cos(math.Pi*0.9))}, {15, 1e-4}, {20, 1e-4},
	} {
		if got := s.LR(tc.step); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("LR(%d) = %g, want %g", tc.step, got, tc.want)
		}
	}
	if got := (finetune.Schedule{Peak: 1, Total: 3}).LR(1); got != 1 {
		t.Errorf("no warm-up: LR(1) = %g, want the peak 1", got)
	}
}

func TestClipGrads(t *testing.T) {
	ps := []*finetune.Param{{G: []float32{3, 0}}, {G: []float32{0, 4}}}
	if n := finetune.ClipGrads(ps, 1); n != 5 {
		t.Fatalf("norm = %g, want 5", n)
	}
	if n := finetune.GradNorm(ps); math.Abs(n-1) > 1e-6 {
		t.Errorf("norm after clipping = %g, want 1", n)
	}
	if n := finetune.ClipGrads(ps, 10); math.Abs(n-1) > 1e-6 || math.Abs(finetune.GradNorm(ps)-1) > 1e-6 {
		t.Errorf("a norm below the limit changed: %g", finetune.GradNorm(ps))
	}
}

func TestShuffleIsAPermutationAndStable(t *testing.T) {
	for _, n := range []int{0, 1, 2, 17} {
		p := finetune.Shuffle(n, 3, 1)
		seen := make([]bool, n)
		for _, i := range p {
			if seen[i] {
				t.Fatalf("n=%d: %d twice in %v", n, i, p)
			}
			seen[i] = true
		}
	}
	// The order is written out in the package, so it never changes: these are its values.
	if got, want := finetune.Shuffle(6, 1, 0), finetune.Shuffle(6, 1, 0); !slices.Equal(got, want) {
		t.Fatalf("Shuffle is not deterministic: %v, %v", got, want)
	}
	if slices.Equal(finetune.Shuffle(20, 1, 0), finetune.Shuffle(20, 1, 1)) {
		t.Error("epochs 0 and 1 have the same order")
	}
}
