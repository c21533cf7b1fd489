package model_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
)

// smallNemotron writes a synth Nemotron-NAS model with every block kind (hidden 32, 4
// heads, vocab 96, llama3 RoPE) and returns its directory.
func smallNemotron(t *testing.T) string { return smallNemotronTied(t, false, "") }

// smallNemotronTied is smallNemotron, with the output projection tied to the embedding
// when tied is set, and rope_scaling rope when it is not "".
func smallNemotronTied(t *testing.T, tied bool, rope string) string {
	t.Helper()
	blocks, err := synth.ParseBlocks("g2/2.625 -/5.25 L/1.0 g4/- g1/L -/- g1/1.3125")
	if err != nil {
		t.Fatal(err)
	}
	p := synth.Presets["tiny-nemotron"]
	p.Hidden, p.Heads, p.Vocab, p.Blocks, p.Layers = 32, 4, 96, blocks, len(blocks)
	p.BOS, p.EOSJSON, p.Tied = 1, "2", tied
	// A small rope theta and original context put frequencies in all three llama3 bands.
	p.RopeTheta = 10000
	p.RopeScalingJSON = `{"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64, "rope_type": "llama3"}`
	if rope != "" {
		p.RopeScalingJSON = rope
	}
	dir := t.TempDir()
	if err := p.Write(dir, 99, "", nil); err != nil {
		t.Fatal(err)
	}
	return dir
}

// refForward is a float64 forward pass of a Nemotron-NAS model written from the
// semantics of shared/fixtures/tiny-nemotron/GENERATOR.md, independently of model's code:
// it returns the logits after every prefix of ids.
func refForward(t *testing.T, w map[string][][]float64, H, heads int, ids []int, blocks []model.Block, linearRope float64) [][]float64 {
	t.Helper()
	hd := H / heads
	get := func(name string) [][]float64 {
		m, ok := w[name]
		if !ok {
			t.Fatalf("reference: no tensor %s", name)
		}
		return m
	}
	norm := func(x []float64, g []float64) []float64 {
		ss := 0.0
		for _, v := range x {
			ss += v * v
		}
		r := 1 / math.Sqrt(ss/float64(len(x))+1e-5)
		out := make([]float64, len(x))
		for i := range x {
			out[i] = x[i] * r * g[i]
		}
		return out
	}
	matvec := func(m [][]float64, x []float64) []float64 {
		out := make([]float64, len(m))
		for r, row := range m {
			for c, v := range row {
				out[r] += v * x[c]
			}
		}
		return out
	}
	// llama3 inverse frequencies (Hugging Face's _compute_llama3_parameters).
	inv := make([]float64, hd/2)
	for i := range inv {
		f := 1 / math.Pow(10000, float64(2*i)/float64(hd))
		wave := 2 * math.Pi / f
		switch {
		case linearRope > 0: // positions divided by the factor instead
			inv[i] = f / linearRope
		case wave < 64.0/4:
			inv[i] = f
		case wave > 64.0/1:
			inv[i] = f / 8
		default:
			s := (64/wave - 1) / (4 - 1)
			inv[i] = (1-s)*f/8 + s*f
		}
	}
	rope := func(v []float64, pos int) {
		for h := 0; h < len(v)/hd; h++ {
			x := v[h*hd : (h+1)*hd]
			for i := 0; i < hd/2; i++ {
				s, c := math.Sincos(float64(pos) * inv[i])
				a, b := x[i], x[i+hd/2]
				x[i], x[i+hd/2] = a*c-b*s, b*c+a*s
			}
		}
	}
	n := len(ids)
	x := make([][]float64, n)
	for p, id := range ids {
		x[p] = append([]float64(nil), get("model.embed_tokens.weight")[id]...)
	}
	for l, b := range blocks {
		pre := "model.layers." + strconv.Itoa(l) + "."
		if b.Attn != model.AttnNone {
			g := get(pre + "input_layernorm.weight")[0]
			out := make([][]float64, n)
			if b.Attn == model.AttnLinear {
				for p := range x {
					out[p] = matvec(get(pre+"self_attn.linear_attn.weight"), norm(x[p], g))
				}
			} else {
				kvh := b.KVHeads
				q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
				for p := range x {
					xn := norm(x[p], g)
					q[p], k[p], v[p] = matvec(get(pre+"self_attn.q_proj.weight"), xn), matvec(get(pre+"self_attn.k_proj.weight"), xn), matvec(get(pre+"self_attn.v_proj.weight"), xn)
					rope(q[p], p)
					rope(k[p], p)
				}
				for p := range x {
					att := make([]float64, H)
					for h := 0; h < heads; h++ {
						g := h / (heads / kvh)
						sc := make([]float64, p+1)
						mx := math.Inf(-1)
						for j := 0; j <= p; j++ {
							for d := 0; d < hd; d++ {
								sc[j] += q[p][h*hd+d] * k[j][g*hd+d]
							}
							sc[j] /= math.Sqrt(float64(hd))
							mx = math.Max(mx, sc[j])
						}
						sum := 0.0
						for j := range sc {
							sc[j] = math.Exp(sc[j] - mx)
							sum += sc[j]
						}
						for j := range sc {
							for d := 0; d < hd; d++ {
								att[h*hd+d] += sc[j] / sum * v[j][g*hd+d]
							}
						}
					}
					out[p] = matvec(get(pre+"self_attn.o_proj.weight"), att)
				}
			}
			for p := range x {
				for i := range x[p] {
					x[p][i] += out[p][i]
				}
			}
		}
		if b.FFN != model.FFNNone {
			g := get(pre + "post_attention_layernorm.weight")[0]
			for p := range x {
				xn := norm(x[p], g)
				var out []float64
				if b.FFN == model.FFNLinear {
					out = matvec(get(pre+"mlp.linear_mlp.weight"), xn)
				} else {
					gate, up := matvec(get(pre+"mlp.gate_proj.weight"), xn), matvec(get(pre+"mlp.up_proj.weight"), xn)
					for i := range gate {
						gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
					}
					out = matvec(get(pre+"mlp.down_proj.weight"), gate)
				}
				for i := range x[p] {
					x[p][i] += out[i]
				}
			}
		}
	}
	logits := make([][]float64, n)
	for p := range x {
		head, ok := w["lm_head.weight"]
		if !ok {
			head = get("model.embed_tokens.weight") // tied
		}
		logits[p] = matvec(head, norm(x[p], get("model.norm.weight")[0]))
	}
	return logits
}

// TestBlockKindsAgainstReference runs a synth model with every Nemotron-NAS block kind
// (grouped attention with 2, 1 and 4 KV heads, skipped and linear attention, gated FFNs
// of two widths, skipped and linear FFNs) and compares every position's logits with a
// float64 reference forward written in the test, batched and one token at a time.
func TestBlockKindsAgainstReference(t *testing.T) {
	t.Run("untied", func(t *testing.T) { testBlockKinds(t, false, 0) })
	t.Run("tied", func(t *testing.T) { testBlockKinds(t, true, 0) })
	t.Run("linear rope", func(t *testing.T) { testBlockKinds(t, false, 4) })
}

func testBlockKinds(t *testing.T, tied bool, linearRope float64) {
	rope := ""
	if linearRope > 0 {
		rope = `{"type": "linear", "factor": ` + strconv.FormatFloat(linearRope, 'f', -1, 64) + `}`
	}
	dir := smallNemotronTied(t, tied, rope)
	ck, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][][]float64{}
	for name, tn := range ck.Tensors {
		rows, cols := 1, tn.Shape[0]
		if len(tn.Shape) == 2 {
			rows, cols = tn.Shape[0], tn.Shape[1]
		}
		row := make([]float32, cols)
		m := make([][]float64, rows)
		for r := range m {
			if err := tensor.DecodeRow(row, tn.Data[r*cols*2:(r+1)*cols*2], tn.DType); err != nil {
				t.Fatal(err)
			}
			m[r] = make([]float64, cols)
			for c, v := range row {
				m[r][c] = float64(v)
			}
		}
		w[name] = m
	}
	ck.Close()
	m, err := model.Load(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.Config
	if cfg.TieEmbeddings != tied || (m.LMHead == m.Embed) != tied {
		t.Fatalf("tie_word_embeddings %v, output tied %v; want %v", cfg.TieEmbeddings, m.LMHead == m.Embed, tied)
	}
	if got := cfg.KVBytesPerToken(4); got != 4*2*8*(2+1+4+4) {
		t.Errorf("KV bytes per token %d: only grouped layers may cache", got)
	}
	ids := []int{1, 17, 40, 3, 95, 60, 8, 33, 71, 12}
	want := refForward(t, w, cfg.Hidden, cfg.Heads, ids, cfg.Blocks, linearRope)
	check := func(what string, p int, got []float32) {
		t.Helper()
		for i, v := range got {
			if d := math.Abs(float64(v) - want[p][i]); d > 1e-4 {
				t.Fatalf("%s: position %d logit %d = %g, reference %g", what, p, i, v, want[p][i])
			}
		}
	}
	// The whole prompt in one batch.
	c := model.NewCache(cfg, 0)
	var b model.Batch
	for p, id := range ids {
		b.Add(0, p, id, true)
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	for p := range ids {
		check("batched", p, out[p*cfg.Vocab:(p+1)*cfg.Vocab])
	}
	// One token at a time, in another sequence beside a half-done one.
	for p, id := range ids {
		b.Reset()
		b.Add(1, p, id, true)
		if p < 4 {
			b.Add(2, p, ids[p], false)
		}
		out, err := m.Forward(&b, c)
		if err != nil {
			t.Fatal(err)
		}
		check("decode", p, out[:cfg.Vocab])
	}
}
