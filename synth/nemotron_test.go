package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/decilm/decilm/model"
)

// TestTinyNemotronMatchesFixture regenerates the tiny-nemotron fixture checkpoint (seed
// 4321) and compares its sha256 with the one its GENERATOR.md gives.
func TestTinyNemotronMatchesFixture(t *testing.T) {
	h := sha256.New()
	if err := Presets["tiny-nemotron"].WriteSafetensors(h, 4321, nil); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	const want = "aeca3988c08caa7e0a43778c35f29c843b8479881c1cb0d3e04e22a928d0dc44"
	if got != want {
		t.Fatalf("sha256 %s, want %s", got, want)
	}
}

// TestNemotronPresets checks the real models' shapes against the figures of
// shared/models/README.md (parameters, attention kinds, KV bytes per token) and that
// FirstLayers keeps the first blocks.
func TestNemotronPresets(t *testing.T) {
	cases := []struct {
		preset                 string
		paramsLo, paramsHi     int64 // the README rounds to 10M
		grouped, linear, kvF16 int
	}{
		{"nemotron-super-49b", 49.865e9, 49.875e9, 49, 0, 200704},
		{"nemotron-ultra-253b", 253.395e9, 253.405e9, 64, 0, 64 * 2 * 8 * 128 * 2},
		{"nemotron-51b", 51.495e9, 51.505e9, 54, 18, -1},
	}
	for _, tc := range cases {
		c, err := model.ParseConfig(tc.preset, Presets[tc.preset].ConfigJSON())
		if err != nil {
			t.Fatalf("%s: %v", tc.preset, err)
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
		if p := c.Params(); p < tc.paramsLo || p > tc.paramsHi || grouped != tc.grouped || linear != tc.linear ||
			(tc.kvF16 > 0 && c.KVBytesPerToken(2) != tc.kvF16) {
			t.Errorf("%s: %d parameters, %d grouped and %d linear attentions, %d KV bytes a token at f16", tc.preset, p, grouped, linear, c.KVBytesPerToken(2))
		}
	}
	s := Presets["nemotron-super-49b"].FirstLayers(8)
	c, err := model.ParseConfig("slice", s.ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	if c.Layers != 8 || c.Blocks[6].Attn != model.AttnNone || c.Blocks[0].FFNWidth != 14336 || s.Name != "nemotron-super-49b-L8" {
		t.Errorf("first 8 layers of Super-49B: %+v", c.Blocks)
	}
	l, err := model.ParseConfig("llama-3.2-1b", Presets["llama-3.2-1b"].ConfigJSON())
	if err != nil {
		t.Fatal(err)
	}
	// Llama-3.2-1B: 1,235,814,400 parameters (tied embeddings).
	if l.Params() != 1235814400 || !l.TieEmbeddings || l.RopeScaling.Type != "llama3" || l.RopeScaling.Factor != 32 || l.Arch != "llama" {
		t.Errorf("llama-3.2-1b: %d parameters, %+v", l.Params(), l)
	}
}
