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
// in the real configs' layout (TestEOSTokenIDsRealConfigs reads the real files under the
// oracle tag): 2 for the Llama-2 vocabulary of DeciLM, and for the Llama-3.1 vocabulary of
// Nemotron-NAS and Llama-3.2 the list of the Super-49B and Ultra-253B configs in
// shared/models (<|end_of_text|>, <|eom_id|>, <|eot_id|>).
func TestEOSTokenIDsPresetConfigs(t *testing.T) {
	llama3 := []int{128001, 128008, 128009}
	for _, name := range synth.PresetNames() {
		want := []int{2}
		if strings.Contains(name, "nemotron") || strings.HasPrefix(name, "llama-3") {
			want = llama3
		}
		ids, err := EOSTokenIDs(synth.Presets[name].ConfigJSON(), nil)
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("%s: EOSTokenIDs = %v, %v; want %v", name, ids, err, want)
		}
	}
}
