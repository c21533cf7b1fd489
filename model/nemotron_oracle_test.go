//go:build oracle

package model_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// nemotronRefs reads tiny-nemotron's prompt, float64-reference logits and greedy tokens.
func nemotronRefs(t *testing.T) (ids []int, logits []float32, greedy []int) {
	t.Helper()
	dir := testutil.Fixture(t, "tiny-nemotron")
	var g struct {
		Prompt struct {
			IDs []int `json:"ids"`
		} `json:"prompt"`
		Greedy []int `json:"greedy"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "logits_0.f32"))
	if err != nil {
		t.Fatal(err)
	}
	logits = make([]float32, len(raw)/4)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, logits); err != nil {
		t.Fatal(err)
	}
	return g.Prompt.IDs, logits, g.Greedy
}

// checkNemotron runs the prompt and 32 greedy steps on m and compares with the references.
func checkNemotron(t *testing.T, m *model.Model) {
	t.Helper()
	ids, want, greedy := nemotronRefs(t)
	V := m.Config.Vocab
	if len(want) != len(ids)*V {
		t.Fatalf("logits_0.f32 holds %d values, want %d×%d", len(want), len(ids), V)
	}
	c := model.NewCache(m.Config, 64)
	var b model.Batch
	for p, id := range ids {
		b.Add(0, p, id, true)
	}
	got, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range want {
		worst = math.Max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("prompt logits: largest difference %.3g over %d×%d", worst, len(ids), V)
	if worst > 1e-4 {
		t.Errorf("logits differ from logits_0.f32 by %g (want at most 1e-4)", worst)
	}
	last := got[(len(ids)-1)*V:]
	pos := len(ids)
	for step, w := range greedy {
		tok := nemotronArgmax(last)
		if tok != w {
			t.Fatalf("greedy step %d: token %d, want %d", step, tok, w)
		}
		b.Reset()
		b.Add(0, pos, tok, true)
		pos++
		if last, err = m.Forward(&b, c); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTinyNemotron: the Nemotron-NAS fixture (one layer of each block kind, llama3 RoPE)
// matches its float64 reference logits and greedy tokens, from its safetensors directory
// and from decilm's own F32 GGUF of it.
func TestTinyNemotron(t *testing.T) {
	dir := testutil.Fixture(t, "tiny-nemotron")
	m, err := model.Load(dir, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	kinds := ""
	for _, b := range m.Config.Blocks {
		kinds += b.Attn.String() + "/" + b.FFN.String() + " "
	}
	const wantKinds = "grouped/gated skipped/gated linear/gated grouped/skipped grouped/linear skipped/skipped grouped/gated "
	if kinds != wantKinds {
		t.Fatalf("blocks %q, want %q", kinds, wantKinds)
	}
	if got := m.Config.KVHeads(); got[0] != 4 || got[3] != 1 || got[4] != 8 || got[6] != 2 || m.Config.Blocks[6].FFNWidth != 768 {
		t.Fatalf("KV heads %v, blocks %+v", got, m.Config.Blocks)
	}
	t.Run("safetensors", func(t *testing.T) { checkNemotron(t, m) })

	tok, err := tokenizer.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny-nemotron-f32.gguf")
	if err := quantize.WriteFile(path, m, tok, quantize.Options{Type: tensor.F32}); err != nil {
		t.Fatal(err)
	}
	g, err := model.Load(path, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !equalBlocks(g.Config.Blocks, m.Config.Blocks) || g.Config.RopeScaling.Type != "llama3" {
		t.Fatalf("GGUF config %+v, want the blocks %+v", g.Config, m.Config.Blocks)
	}
	t.Run("gguf", func(t *testing.T) { checkNemotron(t, g) })
}

func equalBlocks(a, b []model.Block) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func nemotronArgmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// TestRealNemotronConfigs parses the real Llama-Nemotron configs (and 51B's derived block
// list) and checks the figures of shared/models/README.md.
func TestRealNemotronConfigs(t *testing.T) {
	models := filepath.Join(filepath.Dir(testutil.Fixtures(t)), "models")
	cases := []struct {
		file               string
		paramsLo, paramsHi int64
		grouped, linear    int
		kvF16              int
	}{
		{"Llama-3_3-Nemotron-Super-49B-v1.config.json", 49.865e9, 49.875e9, 49, 0, 200704},
		{"Llama-3_1-Nemotron-Ultra-253B-v1.config.json", 253.395e9, 253.405e9, 64, 0, 64 * 2 * 8 * 128 * 2},
		{"Llama-3_1-Nemotron-51B-Instruct.block_configs.derived.json", 51.495e9, 51.505e9, 54, 18, -1},
	}
	for _, tc := range cases {
		b, err := os.ReadFile(filepath.Join(models, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		c, err := model.ParseConfig(tc.file, b)
		if err != nil {
			t.Fatal(err)
		}
		grouped, linear := 0, 0
		for _, b := range c.Blocks {
			switch b.Attn {
			case model.AttnGrouped:
				grouped++
			case model.AttnLinear:
				linear++
			}
		}
		p := c.Params()
		t.Logf("%s: %d parameters, %d grouped, %d linear attentions, %d KV bytes a token at f16", tc.file, p, grouped, linear, c.KVBytesPerToken(2))
		if p < tc.paramsLo || p > tc.paramsHi || grouped != tc.grouped || linear != tc.linear || (tc.kvF16 > 0 && c.KVBytesPerToken(2) != tc.kvF16) {
			t.Errorf("%s: figures differ from the README's", tc.file)
		}
	}
}
