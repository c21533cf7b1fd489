package sample

import (
	"slices"
	"strings"
	"testing"

	"github.com/decilm/decilm/synth"
)

func TestEOSTokenIDs(t *testing.T) {
	cfg := []byte(`{"bos_token_id": 1, "eos_token_id": 2}`)
	tests := []struct {
		name    string
		config  []byte
		gen     []byte
		want    []int
		wantErr string
	}{
		{"config only", cfg, nil, []int{2}, ""},
		{"generation config wins", cfg, []byte(`{"eos_token_id": [2, 32000]}`), []int{2, 32000}, ""},
		{"generation config without eos", cfg, []byte(`{"do_sample": true}`), []int{2}, ""},
		{"null in generation config", cfg, []byte(`{"eos_token_id": null}`), []int{2}, ""},
		{"none anywhere", []byte(`{}`), nil, nil, ""},
		{"no files", nil, nil, nil, ""},
		{"bad generation config", cfg, []byte(`{`), nil, "generation_config.json"},
		{"string id", []byte(`{"eos_token_id": "2"}`), nil, nil, "config.json: eos_token_id"},
		{"negative", []byte(`{"eos_token_id": [-1]}`), nil, nil, "-1 is negative"},
		{"fraction", []byte(`{"eos_token_id": 2.5}`), nil, nil, "eos_token_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EOSTokenIDs(tt.config, tt.gen)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("EOSTokenIDs = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func FuzzEOSTokenIDs(f *testing.F) {
	f.Add([]byte(`{"eos_token_id": 2}`), []byte(`{"eos_token_id": [2, 3]}`))
	f.Add([]byte(`{"eos_token_id": null}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, config, gen []byte) {
		ids, err := EOSTokenIDs(config, gen)
		if err == nil {
			for _, id := range ids {
				if id < 0 {
					t.Fatalf("negative id %d accepted", id)
				}
			}
		}
	})
}

// TestEOSTokenIDsPresetConfigs reads eos_token_id from the synth presets' configs, written
// in the real DeciLM configs' layout (TestEOSTokenIDsRealConfigs reads the real files under
// the oracle tag).
func TestEOSTokenIDsPresetConfigs(t *testing.T) {
	for _, name := range synth.PresetNames() {
		ids, err := EOSTokenIDs(synth.Presets[name].ConfigJSON(), nil)
		if err != nil || !slices.Equal(ids, []int{2}) {
			t.Errorf("%s: EOSTokenIDs = %v, %v; want [2]", name, ids, err)
		}
	}
}
