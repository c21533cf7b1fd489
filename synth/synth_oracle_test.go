//go:build oracle

package synth

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
)

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
