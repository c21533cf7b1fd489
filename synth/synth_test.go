package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
)

// TestTinyMatchesFixture regenerates the tiny-decilm fixture checkpoint and compares its
// sha256 with the one GENERATOR.md gives (computed by the fixture's own generator).
func TestTinyMatchesFixture(t *testing.T) {
	h := sha256.New()
	if err := Presets["tiny"].WriteSafetensors(h, 1234, nil); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	const want = "97f3431aebecc62d50dff9184eebd1cf4558a47e6e1eaccbd5cd41cf9d5f4c48"
	if got != want {
		t.Fatalf("sha256 %s, want %s", got, want)
	}
}

// TestPresetConfigs checks every preset's config parses and matches the real models'
// parameter counts where known.
func TestPresetConfigs(t *testing.T) {
	want := map[string]int64{"decilm-6b": 5717102592, "decilm-7b": 7043551232}
	for _, name := range PresetNames() {
		p := Presets[name]
		c, err := model.ParseConfig(name, p.ConfigJSON())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if w, ok := want[name]; ok && c.Params() != w {
			t.Errorf("%s: %d parameters, want %d", name, c.Params(), w)
		}
	}
}

// TestRealConfigs parses the real DeciLM configs and checks the presets share their shape.
func TestRealConfigs(t *testing.T) {
	for preset, dir := range map[string]string{"decilm-6b": "DeciLM-6b-instruct", "decilm-7b": "DeciLM-7B-instruct"} {
		path := filepath.Join(filepath.Dir(testutil.Fixtures(t)), "models", dir, "config.json")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		real, err := model.ParseConfig(path, b)
		if err != nil {
			t.Fatal(err)
		}
		syn, _ := model.ParseConfig(preset, Presets[preset].ConfigJSON())
		if !reflect.DeepEqual(real.KVHeads(), syn.KVHeads()) || real.Params() != syn.Params() ||
			!reflect.DeepEqual(real.RopeScaling, syn.RopeScaling) || real.MaxPositions != syn.MaxPositions {
			t.Errorf("%s: preset %+v differs from the real config %+v", preset, syn, real)
		}
	}
}
