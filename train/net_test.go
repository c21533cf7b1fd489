package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// forwardLoss is the summed cross-entropy of the counted positions computed from
// model.Forward's logits: an independent path through the same network.
func forwardLoss(t *testing.T, m *model.Model, batch []Example) float64 {
	t.Helper()
	V := m.Config.Vocab
	var total float64
	for _, e := range batch {
		c := model.NewCache(m.Config, len(e.Tokens))
		var b model.Batch
		for i, tok := range e.Tokens {
			b.Add(0, i, tok, true)
		}
		logits, err := m.Forward(&b, c)
		if err != nil {
			t.Fatal(err)
		}
		for i, counted := range e.Loss {
			if !counted {
				continue
			}
			z := logits[i*V : (i+1)*V]
			mx := math.Inf(-1)
			for _, v := range z {
				mx = max(mx, float64(v))
			}
			var s float64
			for _, v := range z {
				s += math.Exp(float64(v) - mx)
			}
			total += mx + math.Log(s) - float64(z[e.Tokens[i+1]])
		}
	}
	return total
}

// TestLossMatchesForward: with B = 0 the adapted network is the base model, and the
// loss equals the one computed from model.Forward's logits (float weights, whose products
// model.Forward computes exactly too).
func TestLossMatchesForward(t *testing.T) {
	for _, c := range []struct {
		name        string
		dt          tensor.DType
		tied, inter bool
		rope        string // rope_scaling JSON, "" for the preset's llama3
		lens        []int
	}{
		{name: "f32", dt: tensor.F32, lens: []int{9, 1, 17, 5}},
		{name: "bf16", dt: tensor.BF16, lens: []int{9, 1, 17, 5}},
		{name: "f16", dt: tensor.F16, lens: []int{9, 1, 17, 5}},
		// Tied output, adjacent-pair RoPE (GGUF files), and dynamic NTK scaling on a
		// sequence beyond max_position_embeddings (64).
		{name: "tied-interleaved-dynamic", dt: tensor.F32, tied: true, inter: true, rope: `{"type": "dynamic", "factor": 2.0}`, lens: []int{80, 30}},
		{name: "linear", dt: tensor.F32, rope: `{"type": "linear", "factor": 4.0}`, lens: []int{40}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := smallPreset(t)
			p.Tied = c.tied
			if c.rope != "" {
				p.RopeScalingJSON = c.rope
			}
			m := loadPreset(t, p, 7, c.dt)
			m.Config.RopeInterleaved = c.inter
			n, err := New(m, LoRAConfig{R: 4, Alpha: 8, Targets: allTargets}, 1)
			if err != nil {
				t.Fatal(err)
			}
			batch := randomBatch(rand.New(rand.NewPCG(1, 2)), m.Config.Vocab, c.lens...)
			got, count, err := n.Loss(batch)
			if err != nil {
				t.Fatal(err)
			}
			want := forwardLoss(t, m, batch)
			if math.Abs(got-want) > 1e-5*math.Abs(want) {
				t.Errorf("Loss = %.9g over %d tokens, model.Forward gives %.9g", got, count, want)
			}
			sum, count2, err := n.Step(batch, true)
			if err != nil || sum != got || count2 != count {
				t.Errorf("Step = %v, %d, %v; Loss = %v, %d", sum, count2, err, got, count)
			}
		})
	}
}

// TestGradFiniteDifferences checks the gradient of every lora_A and lora_B against central
// finite differences of Loss along a random direction in that matrix, on a model with
// every block kind, with float and quantized base weights, in both checkpoint modes.
func TestGradFiniteDifferences(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q4_0, tensor.BF16} {
		t.Run(dt.String(), func(t *testing.T) {
			p := smallPreset(t)
			if dt == tensor.BF16 { // and a tied output with adjacent-pair RoPE
				p.Tied = true
			}
			m := loadPreset(t, p, 11, dt)
			m.Config.RopeInterleaved = p.Tied
			n, err := New(m, LoRAConfig{R: 3, Alpha: 6, Targets: allTargets}, 5)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, 4))
			randomizeB(n, rng, 0.05)
			batch := randomBatch(rng, m.Config.Vocab, 7, 12, 4)
			if _, _, err := n.Step(batch, false); err != nil {
				t.Fatal(err)
			}
			const eps = 1e-2
			worst := 0.0
			for _, p := range n.Params() {
				d := make([]float64, len(p.W))
				var norm float64
				for i := range d {
					d[i] = rng.NormFloat64()
					norm += d[i] * d[i]
				}
				var an float64
				for i := range d {
					d[i] /= math.Sqrt(norm)
					an += d[i] * float64(p.G[i])
				}
				w0 := append([]float32(nil), p.W...)
				lossAt := func(h float64) float64 {
					for i := range p.W {
						p.W[i] = float32(float64(w0[i]) + h*d[i])
					}
					l, _, err := n.Loss(batch)
					if err != nil {
						t.Fatal(err)
					}
					return l
				}
				fd := (lossAt(eps) - lossAt(-eps)) / (2 * eps)
				copy(p.W, w0)
				gn := 0.0
				for _, g := range p.G {
					gn += float64(g) * float64(g)
				}
				e := math.Abs(fd-an) / math.Sqrt(gn)
				worst = max(worst, e)
				if e > 1e-3 {
					t.Errorf("%s: finite differences give %.6g along a random unit direction, the gradient %.6g (|g| %.4g)", p.Name, fd, an, math.Sqrt(gn))
				}
			}
			t.Logf("largest |fd − g·d| / |g|: %.3g", worst)
		})
	}
}

// TestCheckpointSameGradients: recomputing the activations gives the same bits as keeping
// them, and Step adds to the gradients rather than setting them.
func TestCheckpointSameGradients(t *testing.T) {
	m := loadPreset(t, smallPreset(t), 13, tensor.BF16)
	n, err := New(m, LoRAConfig{R: 2, Alpha: 4, RSLoRA: true, Targets: allTargets}, 9)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	randomizeB(n, rng, 0.05)
	batch := randomBatch(rng, m.Config.Vocab, 6, 11)
	l1, c1, err := n.Step(batch, false)
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]float32
	for _, p := range n.Params() {
		kept = append(kept, append([]float32(nil), p.G...))
	}
	n.ZeroGrad()
	l2, c2, err := n.Step(batch, true)
	if err != nil || l1 != l2 || c1 != c2 {
		t.Fatalf("checkpointed Step = %v, %d, %v; without: %v, %d", l2, c2, err, l1, c1)
	}
	for i, p := range n.Params() {
		for j, g := range p.G {
			if g != kept[i][j] {
				t.Fatalf("%s[%d]: %v with checkpointing, %v without", p.Name, j, g, kept[i][j])
			}
		}
	}
	if _, _, err := n.Step(batch, true); err != nil {
		t.Fatal(err)
	}
	for i, p := range n.Params() {
		got, want := make([]float64, len(p.G)), make([]float64, len(p.G))
		for j, g := range p.G {
			got[j], want[j] = float64(g), 2*float64(kept[i][j])
		}
		if e := relErr(got, want); e > 1e-6 {
			t.Errorf("%s: after two Steps the gradient is %.3g (relative) from twice one Step's", p.Name, e)
		}
	}
}
