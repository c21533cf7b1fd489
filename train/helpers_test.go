package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
)

// allTargets names every projection.
var allTargets = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "linear_attn", "linear_mlp"}

// smallPreset is a synth Nemotron-NAS preset with every block kind (grouped attention
// with 2, 4 and 1 heads per group, linear and skipped attention; gated FFNs of two widths,
// linear and skipped FFNs), hidden 32, 4 heads, vocab 96, llama3 RoPE with frequencies in
// all three bands.
func smallPreset(t testing.TB) synth.Preset {
	t.Helper()
	blocks, err := synth.ParseBlocks("g2/2.625 -/5.25 L/1.0 g4/- g1/L -/- g1/1.3125")
	if err != nil {
		t.Fatal(err)
	}
	p := synth.Presets["tiny-nemotron"]
	p.Name = "small"
	p.Hidden, p.Heads, p.Vocab, p.Blocks, p.Layers = 32, 4, 96, blocks, len(blocks)
	p.BOS, p.EOSJSON = 1, "2"
	p.RopeTheta = 10000
	p.MaxPositions = 64
	p.RopeScalingJSON = `{"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16, "rope_type": "llama3"}`
	return p
}

// loadPreset writes p with seed and loads it with every matrix converted to dt (the norm
// vectors stay as written).
func loadPreset(t testing.TB, p synth.Preset, seed uint64, dt tensor.DType) *model.Model {
	t.Helper()
	dir := t.TempDir()
	if err := p.Write(dir, seed, "", nil); err != nil {
		t.Fatal(err)
	}
	return loadDir(t, dir, dt)
}

// loadDir loads the checkpoint in dir with every matrix converted to dt.
func loadDir(t testing.TB, dir string, dt tensor.DType) *model.Model {
	t.Helper()
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ck.Close() })
	cfg, err := model.ConfigOf(ck)
	if err != nil {
		t.Fatal(err)
	}
	ts := map[string]*tensor.Tensor{}
	for name, w := range ck.Tensors {
		if len(w.Shape) == 2 && w.DType != dt {
			w = convert(t, w, dt)
		}
		ts[name] = w
	}
	m, err := model.New(cfg, ts, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// convert re-encodes a matrix in type dt.
func convert(t testing.TB, w *tensor.Tensor, dt tensor.DType) *tensor.Tensor {
	t.Helper()
	n, k := w.Shape[0], w.Shape[1]
	rs, err := dt.RowBytes(k)
	if err != nil {
		t.Fatalf("%s: %v", w.Name, err)
	}
	out := &tensor.Tensor{Name: w.Name, DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	row := make([]float32, k)
	for i := 0; i < n; i++ {
		if err := tensor.DecodeRow(row, w.Row(i), w.DType); err != nil {
			t.Fatal(err)
		}
		if err := tensor.EncodeRow(out.Data[i*rs:(i+1)*rs], row, dt); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// randomBatch returns examples of the given lengths with random tokens below vocab and
// about two thirds of the positions counted.
func randomBatch(rng *rand.Rand, vocab int, lens ...int) []Example {
	var b []Example
	for _, n := range lens {
		e := Example{Tokens: make([]int, n), Loss: make([]bool, n-1)}
		for i := range e.Tokens {
			e.Tokens[i] = rng.IntN(vocab)
		}
		for i := range e.Loss {
			e.Loss[i] = rng.IntN(3) > 0
		}
		b = append(b, e)
	}
	return b
}

// randomizeB gives every lora_B random values (New makes them zero, which would leave the
// gradients of A zero).
func randomizeB(n *Net, rng *rand.Rand, std float64) {
	for _, p := range n.Params() {
		if isB(p) {
			for i := range p.W {
				p.W[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
}

func isB(p *Param) bool { return strings.HasSuffix(p.Name, ".lora_B.weight") }

// relErr is ||a − b|| / ||b||.
func relErr(a, b []float64) float64 {
	var d, s float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		s += b[i] * b[i]
	}
	if s == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / s)
}
