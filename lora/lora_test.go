package lora_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/lora/loratest"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// pair is one update the tests write (see loratest.Pair) with the scale the test expects
// (computed here from the test's own numbers).
type pair struct {
	loratest.Pair
	scale float64
}

func randMat(rng *rand.Rand, n int, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * std)
	}
	return v
}

func f32(name string, shape []int, v []float32) *tensor.Tensor { return loratest.F32(name, shape, v) }

func safetensorsWrite(buf *bytes.Buffer, ts []*tensor.Tensor) error {
	return safetensors.Write(buf, ts, map[string]string{"format": "pt"})
}

func writeSafetensors(t *testing.T, path string, ts []*tensor.Tensor) {
	t.Helper()
	var buf bytes.Buffer
	if err := safetensorsWrite(&buf, ts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writePEFT writes a PEFT adapter folder with config as adapter_config.json.
func writePEFT(t *testing.T, config string, ps []pair) string {
	t.Helper()
	lp := make([]loratest.Pair, len(ps))
	for i, p := range ps {
		lp[i] = p.Pair
	}
	return loratest.WritePEFT(t, config, lp)
}

// loadMerged loads the model mergedModel writes, closed when the test ends.
func loadMerged(t *testing.T, base string, ps []pair) *model.Model {
	t.Helper()
	mm, err := model.Load(mergedModel(t, base, ps), model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mm.Close() })
	return mm
}

// mergedModel writes base's tensors as float32 with W + s·B·A added (in float64) to each
// pair's weight, beside base's config and tokenizer, and returns the folder.
func mergedModel(t *testing.T, base string, ps []pair) string {
	t.Helper()
	ck, err := checkpoint.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	byWeight := map[string][]pair{}
	for _, p := range ps {
		byWeight[p.Module+".weight"] = append(byWeight[p.Module+".weight"], p)
	}
	var ts []*tensor.Tensor
	for _, name := range ck.Names {
		src := ck.Tensors[name]
		rows, cols := src.Rows(), src.Cols()
		v := make([]float32, rows*cols)
		for r := 0; r < rows; r++ {
			if err := tensor.DecodeRow(v[r*cols:(r+1)*cols], src.Row(r), src.DType); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range byWeight[name] {
			for o := 0; o < rows; o++ {
				for c := 0; c < cols; c++ {
					var d float64
					for j := 0; j < p.Rank; j++ {
						d += float64(p.B[o*p.Rank+j]) * float64(p.A[j*cols+c])
					}
					v[o*cols+c] = float32(float64(v[o*cols+c]) + p.scale*d)
				}
			}
		}
		ts = append(ts, f32(name, src.Shape, v))
	}
	dir := t.TempDir()
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), ts)
	for _, f := range []string{"config.json", "tokenizer.bin"} {
		b, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// logits runs tokens as one sequence with adapter a on every row (nil: the model's own)
// and returns every row's logits.
func logits(t *testing.T, m *model.Model, tokens []int, a *model.Adapter) []float32 {
	t.Helper()
	c := model.NewCache(m.Config, 64)
	var b model.Batch
	for i, tok := range tokens {
		b.Add(0, i, tok, true)
		if a != nil {
			b.Adapter = append(b.Adapter, a)
		}
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// pairsFor makes random pairs for the given projections (PEFT module names) of every
// layer of cfg that has them, rank r each except rankOf's.
func pairsFor(t *testing.T, cfg *model.Config, seed uint64, suffixes []string, r int, rankOf map[string]int, scaleOf func(module string, rank int) float64) []pair {
	rng := rand.New(rand.NewPCG(seed, 7))
	var ps []pair
	for _, tg := range cfg.LoRATargets() {
		if !slices.Contains(suffixes, tg.Proj.Module()) {
			continue
		}
		mod := tg.Module()
		rank := r
		if v, ok := rankOf[mod]; ok {
			rank = v
		}
		ps = append(ps, pair{loratest.Pair{Module: mod, Out: tg.Out, In: tg.In, Rank: rank,
			A: randMat(rng, rank*tg.In, 1/math.Sqrt(float64(tg.In))),
			B: randMat(rng, tg.Out*rank, 0.5)}, scaleOf(mod, rank)})
	}
	if len(ps) == 0 {
		t.Fatal("no targets")
	}
	return ps
}

var prompt = []int{1, 450, 4996, 17354, 1701, 29916, 432}

// TestPEFTMatchesMerged checks that an adapter applied at run time changes the logits as
// the base model with W + s·B·A (merged by the test in float64) does: every projection
// kind, rank_pattern and alpha_pattern, rsLoRA, DeciLM's per-layer KV heads and
// Nemotron-NAS's linear blocks.
func TestPEFTMatchesMerged(t *testing.T) {
	for _, tc := range []struct {
		preset  string
		targets []string
		rslora  bool
	}{
		{"tiny", []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, false},
		{"tiny", []string{"q_proj", "v_proj"}, true},
		{"tiny-nemotron", []string{"q_proj", "k_proj", "v_proj", "o_proj", "linear_attn", "gate_proj", "up_proj", "down_proj", "linear_mlp"}, false},
	} {
		t.Run(fmt.Sprintf("%s/%d/rslora=%v", tc.preset, len(tc.targets), tc.rslora), func(t *testing.T) {
			base := testmodel.Synth(t, tc.preset, 11)
			m, err := model.Load(base, model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// Layer 1's first target has rank 3 and alpha 5 (rank_pattern, alpha_pattern).
			special := ""
			for _, tg := range m.Config.LoRATargets() {
				if tg.Layer == 1 && strings.HasSuffix(tg.Module(), "."+tc.targets[0]) {
					special = tg.Module()
				}
			}
			if special == "" {
				for _, tg := range m.Config.LoRATargets() {
					if strings.HasSuffix(tg.Module(), "."+tc.targets[0]) {
						special = tg.Module()
						break
					}
				}
			}
			scale := func(mod string, r int) float64 {
				alpha := 16.0
				if mod == special {
					alpha = 5
				}
				if tc.rslora {
					return alpha / math.Sqrt(float64(r))
				}
				return alpha / float64(r)
			}
			ps := pairsFor(t, m.Config, 3, tc.targets, 4, map[string]int{special: 3}, scale)
			// The pattern key is the module's tail after "model.", a regular expression match.
			key := strings.TrimPrefix(special, "model.")
			config := fmt.Sprintf(`{"peft_type": "LORA", "r": 4, "lora_alpha": 16, "use_rslora": %v,
				"target_modules": %q, "rank_pattern": {%q: 3}, "alpha_pattern": {%q: 5},
				"bias": "none", "modules_to_save": null, "use_dora": false, "lora_dropout": 0.05,
				"task_type": "CAUSAL_LM", "fan_in_fan_out": false}`, tc.rslora, tc.targets, key, key)
			config = strings.Replace(config, fmt.Sprintf("%q", tc.targets), jsonList(tc.targets), 1)
			dir := writePEFT(t, config, ps)
			a, err := lora.Load(dir, m.Config, 1)
			if err != nil {
				t.Fatal(err)
			}
			if a.Len() != len(ps) {
				t.Fatalf("adapter holds %d updates, wrote %d", a.Len(), len(ps))
			}
			mm := loadMerged(t, base, ps)
			got := logits(t, m, prompt, a)
			want := logits(t, mm, prompt, nil)
			plain := logits(t, m, prompt, nil)
			t.Logf("run time vs merged %g, base vs merged %g", maxDiff(got, want), maxDiff(plain, want))
			if d := maxDiff(got, want); d > 2e-4 {
				t.Errorf("adapter at run time vs merged weights: max |Δlogit| %g", d)
			}
			if d := maxDiff(plain, want); d < 1e-2 {
				t.Errorf("the adapter hardly changes the logits (max %g): the test checks nothing", d)
			}
			// The same through SetAdapter (rows without their own adapter).
			if err := m.SetAdapter(a); err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(logits(t, m, prompt, nil), got); d != 0 {
				t.Errorf("SetAdapter differs from Batch.Adapter by %g", d)
			}
			m.SetAdapter(nil)
		})
	}
}

func jsonList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestTargetRegexAndScale: target_modules as a regular expression, and --lora's scale.
func TestTargetRegexAndScale(t *testing.T) {
	base := testmodel.Synth(t, "tiny", 5)
	m, err := model.Load(base, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ps := pairsFor(t, m.Config, 9, []string{"v_proj", "down_proj"}, 2, nil, func(string, int) float64 { return 0.75 * 8 / 2 })
	dir := writePEFT(t, `{"r": 2, "lora_alpha": 8, "target_modules": ".*\\.(v_proj|down_proj)"}`, ps)
	a, err := lora.Load(dir, m.Config, 0.75)
	if err != nil {
		t.Fatal(err)
	}
	mm := loadMerged(t, base, ps)
	if d := maxDiff(logits(t, m, prompt, a), logits(t, mm, prompt, nil)); d > 2e-4 {
		t.Errorf("max |Δlogit| %g", d)
	}
}

// writeGGUFAdapter writes ps as a llama.cpp GGUF adapter (names blk.N.attn_q.weight.lora_a,
// query and key B rows in GGUF's adjacent-pair order, as convert_lora_to_gguf.py permutes
// them) with adapter.lora.alpha alpha.
func writeGGUFAdapter(t *testing.T, cfg *model.Config, ps []pair, alpha float32, arch string) string {
	t.Helper()
	gg := map[string]model.LoRATarget{}
	for _, tg := range cfg.LoRATargets() {
		gg[tg.Module()] = tg
	}
	var ts []*tensor.Tensor
	for _, p := range ps {
		tg := gg[p.Module]
		b := p.B
		if tg.RopeHeads > 0 { // rotate-half row j·hd/2+i of a head goes to row 2i+j
			hd := cfg.HeadDim
			nb := make([]float32, len(b))
			for h := 0; h < tg.RopeHeads; h++ {
				for i := 0; i < hd/2; i++ {
					for j := 0; j < 2; j++ {
						copy(nb[(h*hd+2*i+j)*p.Rank:][:p.Rank], b[(h*hd+j*hd/2+i)*p.Rank:][:p.Rank])
					}
				}
			}
			b = nb
		}
		ts = append(ts, f32(tg.GGUF+".lora_a", []int{p.Rank, p.In}, p.A), f32(tg.GGUF+".lora_b", []int{p.Out, p.Rank}, b))
	}
	kv := []gguf.KV{{Key: "general.architecture", Value: arch}, {Key: "general.type", Value: "adapter"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: alpha}}
	var buf bytes.Buffer
	if err := gguf.Write(&buf, kv, ts); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "adapter.gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestGGUFAdapterAndGGUFBase: a GGUF adapter on a Hugging Face model, and a PEFT adapter
// on the same model converted to GGUF (query and key rows interleaved), both agree with
// the merged reference.
func TestGGUFAdapterAndGGUFBase(t *testing.T) {
	base := testmodel.Synth(t, "tiny", 21)
	m, err := model.Load(base, model.Options{Threads: 2, NoPack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	targets := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	ps := pairsFor(t, m.Config, 4, targets, 8, nil, func(string, int) float64 { return 12.0 / 8 })
	mm := loadMerged(t, base, ps)
	want := logits(t, mm, prompt, nil)

	ga, err := lora.Load(writeGGUFAdapter(t, m.Config, ps, 12, m.Config.Arch), m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logits(t, m, prompt, ga), want); d > 2e-4 {
		t.Errorf("GGUF adapter on a Hugging Face model: max |Δlogit| %g", d)
	}
	if _, err := lora.Load(writeGGUFAdapter(t, m.Config, ps, 12, "qwen2"), m.Config, 1); err == nil || !strings.Contains(err.Error(), "general.architecture") {
		t.Errorf("another architecture: %v", err)
	}

	tokData, err := os.ReadFile(filepath.Join(base, "tokenizer.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadLlama2C(tokData, m.Config.Vocab)
	if err != nil {
		t.Fatal(err)
	}
	gpath := filepath.Join(t.TempDir(), "base.gguf")
	if err := quantize.WriteFile(gpath, m, tok, quantize.Options{Type: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	gm, err := model.Load(gpath, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer gm.Close()
	if !gm.Config.RopeInterleaved {
		t.Fatal("GGUF model is not interleaved")
	}
	config := `{"r": 8, "lora_alpha": 12, "target_modules": ` + jsonList(targets) + `}`
	pa, err := lora.Load(writePEFT(t, config, ps), gm.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logits(t, gm, prompt, pa), want); d > 2e-4 {
		t.Errorf("PEFT adapter on a GGUF model: max |Δlogit| %g", d)
	}
	ga2, err := lora.Load(writeGGUFAdapter(t, m.Config, ps, 12, gm.Config.Arch), gm.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxDiff(logits(t, gm, prompt, ga2), want); d > 2e-4 {
		t.Errorf("GGUF adapter on a GGUF model: max |Δlogit| %g", d)
	}
}

// TestMixedBatch: rows of two adapters and of none in one Forward give, row for row, the
// same logits (bit for bit) as each sequence alone.
func TestMixedBatch(t *testing.T) {
	base := testmodel.Synth(t, "tiny", 2)
	m, err := model.Load(base, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	one := func(s string) float64 { return 2 }
	a1, err := lora.Load(writePEFT(t, `{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]}`, pairsFor(t, m.Config, 1, []string{"q_proj", "v_proj"}, 4, nil, func(string, int) float64 { return 2 })), m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	_ = one
	a2, err := lora.Load(writePEFT(t, `{"r": 2, "lora_alpha": 2, "target_modules": "all-linear"}`, pairsFor(t, m.Config, 2, []string{"o_proj", "down_proj", "up_proj"}, 2, nil, func(string, int) float64 { return 1 })), m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	ads := []*model.Adapter{a1, nil, a2}
	prompts := [][]int{{1, 50, 60, 70}, {1, 50, 60, 70, 80}, {1, 50, 61}}
	alone := make([][]float32, 3)
	for s, p := range prompts {
		l := logits(t, m, p, ads[s])
		alone[s] = l[(len(p)-1)*m.Config.Vocab:]
	}
	c := model.NewCache(m.Config, 64)
	var b model.Batch
	for s, p := range prompts {
		for i, tok := range p {
			b.Add(s, i, tok, i == len(p)-1)
			b.Adapter = append(b.Adapter, ads[s])
		}
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	V := m.Config.Vocab
	for s := range prompts {
		if d := maxDiff(out[s*V:(s+1)*V], alone[s]); d != 0 {
			t.Errorf("sequence %d: mixed batch differs from alone by %g", s, d)
		}
	}
	if maxDiff(alone[0][:V], logits(t, m, prompts[0], nil)[3*V:]) == 0 {
		t.Error("adapter 1 changes nothing")
	}
	// A wrong-length Adapter slice is an error.
	b.Adapter = b.Adapter[:2]
	if _, err := m.Forward(&b, model.NewCache(m.Config, 64)); err == nil {
		t.Error("short Batch.Adapter accepted")
	}
}

// TestRefused: unsupported adapter features and adapters that do not fit the model are
// errors naming the field or tensor.
func TestRefused(t *testing.T) {
	base := testmodel.Synth(t, "tiny", 3)
	m, err := model.Load(base, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ps := pairsFor(t, m.Config, 1, []string{"q_proj"}, 4, nil, func(string, int) float64 { return 1 })
	good := `"r": 4, "lora_alpha": 4, "target_modules": ["q_proj"]`
	for _, tc := range []struct {
		name, config string
		edit         func([]pair) []pair
		want         string
	}{
		{"dora", `{` + good + `, "use_dora": true}`, nil, "use_dora"},
		{"modules_to_save", `{` + good + `, "modules_to_save": ["lm_head"]}`, nil, "modules_to_save"},
		{"bias", `{` + good + `, "bias": "all"}`, nil, "bias"},
		{"peft_type", `{` + good + `, "peft_type": "IA3"}`, nil, "peft_type"},
		{"rank", `{"r": 5, "lora_alpha": 4, "target_modules": ["q_proj"]}`, nil, "rank 5"},
		{"r", `{"r": 0, "lora_alpha": 4, "target_modules": ["q_proj"]}`, nil, "r: 0"},
		{"not targeted", `{"r": 4, "lora_alpha": 4, "target_modules": ["v_proj"]}`, nil, "not among target_modules"},
		{"regex", `{"r": 4, "lora_alpha": 4, "target_modules": "(?<=x)q"}`, nil, "target_modules"},
		{"no targets", `{"r": 4, "lora_alpha": 4}`, nil, "target_modules"},
		{"bad json", `{"r": 4,`, nil, "adapter_config.json"},
		{"unknown module", `{"r": 4, "lora_alpha": 4, "target_modules": ["q_proj"]}`, func(ps []pair) []pair {
			p := ps[0]
			p.Module = "model.layers.9.self_attn.q_proj"
			return []pair{p}
		}, "model.layers.9.self_attn.q_proj is not a projection"},
		{"wrong shape", `{"r": 4, "lora_alpha": 4, "target_modules": ["q_proj"]}`, func(ps []pair) []pair {
			p := ps[0]
			p.In = 64
			p.A = p.A[:4*64]
			return []pair{p}
		}, "lora_A.weight has shape [4 64]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			use := ps
			if tc.edit != nil {
				use = tc.edit(append([]pair(nil), ps...))
			}
			_, err := lora.Load(writePEFT(t, tc.config, use), m.Config, 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// A NaN weight, an oversized config, a pattern Go's regexp cannot compile, a truncated
	// weights file.
	nan := append([]pair(nil), ps...)
	nan[0].A = append([]float32(nil), nan[0].A...)
	nan[0].A[5] = float32(math.NaN())
	if _, err := lora.Load(writePEFT(t, `{`+good+`}`, nan), m.Config, 1); err == nil || !strings.Contains(err.Error(), "element 5 is NaN") {
		t.Errorf("NaN weight: %v", err)
	}
	big := `{` + good + `, "x": "` + strings.Repeat("a", 1<<20) + `"}`
	if _, err := lora.Load(writePEFT(t, big, ps), m.Config, 1); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("2 MiB adapter_config.json: %v", err)
	}
	if _, err := lora.Load(writePEFT(t, `{`+good+`, "alpha_pattern": {"q_proj(?=x)": 2}}`, ps), m.Config, 1); err == nil || !strings.Contains(err.Error(), "alpha_pattern") {
		t.Errorf("bad alpha_pattern key: %v", err)
	}
	trunc := writePEFT(t, `{`+good+`}`, ps)
	wf := filepath.Join(trunc, "adapter_model.safetensors")
	if b, err := os.ReadFile(wf); err != nil || os.WriteFile(wf, b[:len(b)-9], 0o644) != nil {
		t.Fatal(err)
	}
	if _, err := lora.Load(trunc, m.Config, 1); err == nil || !strings.Contains(err.Error(), "adapter_model.safetensors") {
		t.Errorf("truncated weights: %v", err)
	}
	// Tensors of unsupported kinds.
	for _, tc := range []struct{ name, want string }{
		{"base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA"},
		{"base_model.model.model.embed_tokens.lora_embedding_A", "embedding"},
		{"base_model.model.lm_head.weight", "modules_to_save"},
		{"base_model.model.model.layers.0.self_attn.q_proj.bias", "bias"},
		{"model.layers.0.self_attn.q_proj.lora_A.weight", "base_model.model."},
	} {
		dir := writePEFT(t, `{`+good+`}`, ps)
		writeSafetensors(t, filepath.Join(dir, "adapter_model.safetensors"), []*tensor.Tensor{f32(tc.name, []int{2}, []float32{1, 2})})
		if _, err := lora.Load(dir, m.Config, 1); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s: got %v, want an error naming it and %q", tc.name, err, tc.want)
		}
	}
	// A GGUF model is not an adapter; a GGUF adapter with a norm or embedding is refused.
	for _, tc := range []struct {
		kv   []gguf.KV
		ts   []*tensor.Tensor
		want string
	}{
		{[]gguf.KV{{Key: "general.type", Value: "model"}}, nil, "general.type"},
		{[]gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "prompt"}}, nil, "adapter.type"},
		{[]gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "lora"}},
			[]*tensor.Tensor{f32("blk.0.attn_norm.weight", []int{2}, []float32{1, 2})}, "norm"},
		{[]gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "lora"}},
			[]*tensor.Tensor{f32("token_embd.weight.lora_a", []int{2}, []float32{1, 2})}, "token embedding"},
		{[]gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "lora"}},
			[]*tensor.Tensor{f32("blk.0.attn_q.weight.lora_a", []int{2, 128}, make([]float32, 256))}, "only one"},
		{[]gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "adapter.type", Value: "lora"}},
			[]*tensor.Tensor{f32("blk.0.attn_q.weight.lora_a", []int{128, 2}, make([]float32, 256)), f32("blk.0.attn_q.weight.lora_b", []int{128, 2}, make([]float32, 256))}, "transposed"},
	} {
		var buf bytes.Buffer
		if err := gguf.Write(&buf, tc.kv, tc.ts); err != nil {
			t.Fatal(err)
		}
		if _, err := lora.ParseGGUF("x.gguf", buf.Bytes()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		path  string
		scale float64
		bad   bool
	}{
		{"a/b", "a/b", 1, false},
		{"a/b:0.5", "a/b", 0.5, false},
		{"a/b:-1", "a/b", -1, false},
		{"a:b/c", "a:b/c", 1, false},
		{"a/b:NaN", "", 0, true},
		{":2", ":2", 1, false},
		{"", "", 0, true},
	} {
		p, s, err := lora.ParseSpec(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (p != tc.path || s != tc.scale)) {
			t.Errorf("ParseSpec(%q) = %q, %g, %v", tc.in, p, s, err)
		}
	}
}

// loraLoad loads a PATH[:SCALE] value.
func loraLoad(spec string, cfg *model.Config) (*model.Adapter, error) {
	p, s, err := lora.ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return lora.Load(p, cfg, s)
}

// TestLlama: a plain Llama (the embedded stories260K, llama2.c's weights in the Hugging
// Face layout) takes an adapter on every projection like DeciLM does.
func TestLlama(t *testing.T) {
	base := testmodel.Stories(t)
	m, err := model.Load(base, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Config.Arch != "llama" {
		t.Fatalf("stories260K is %q, want llama", m.Config.Arch)
	}
	targets := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	ps := pairsFor(t, m.Config, 6, targets, 4, nil, func(string, int) float64 { return 0.5 })
	a, err := lora.Load(writePEFT(t, `{"r": 4, "lora_alpha": 2, "target_modules": `+jsonList(targets)+`}`, ps), m.Config, 1)
	if err != nil {
		t.Fatal(err)
	}
	mm := loadMerged(t, base, ps)
	tokens := []int{1, 400, 261, 300}
	got, want := logits(t, m, tokens, a), logits(t, mm, tokens, nil)
	if d := maxDiff(got, want); d > 1e-4 {
		t.Errorf("max |Δlogit| %g", d)
	}
	if d := maxDiff(logits(t, m, tokens, nil), want); d < 1e-2 {
		t.Errorf("the adapter moves the logits by only %g", d)
	}
}
