package finetune_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/finetune"
)

func TestSaveAdapterPEFTLayout(t *testing.T) {
	dir := t.TempDir()
	ps := []*finetune.Param{
		{Name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", Rows: 2, Cols: 3, W: []float32{1, 2, 3, 4, 5, -6}},
		{Name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", Rows: 4, Cols: 2, W: []float32{0, 0.5, 0, 0, 0, 0, 0, -1e-3}},
	}
	cfg := finetune.LoRAConfig{R: 2, Alpha: 32, Targets: []string{"q_proj", "v_proj"}}
	if err := finetune.SaveAdapter(dir, ps, cfg, "Deci/DeciLM-7B-instruct"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, finetune.AdapterFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Parse("adapter", b)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Tensors) != 2 {
		t.Fatalf("metadata %v, %d tensors", f.Metadata, len(f.Tensors))
	}
	for i, tt := range f.Tensors {
		p := ps[i]
		if tt.Name != p.Name || tt.Shape[0] != p.Rows || tt.Shape[1] != p.Cols || tt.DType.String() != "f32" {
			t.Errorf("tensor %d is %s %s %v; want %s [%d %d] f32", i, tt.Name, tt.DType, tt.Shape, p.Name, p.Rows, p.Cols)
		}
		for j, w := range p.W {
			if got := math.Float32frombits(binary.LittleEndian.Uint32(tt.Data[4*j:])); got != w {
				t.Errorf("%s[%d] = %g, want %g", p.Name, j, got, w)
			}
		}
	}
	cj, err := os.ReadFile(filepath.Join(dir, finetune.AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(cj, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2.0, "lora_alpha": 32.0, "use_rslora": false,
		"lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": false, "base_model_name_or_path": "Deci/DeciLM-7B-instruct",
		"inference_mode": true, "use_dora": false,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if tm, _ := m["target_modules"].([]any); len(tm) != 2 || tm[0] != "q_proj" || tm[1] != "v_proj" {
		t.Errorf("target_modules = %v", m["target_modules"])
	}
	if err := finetune.SaveAdapter(dir, []*finetune.Param{{Name: "w", Rows: 1, Cols: 1, W: []float32{1}}}, cfg, ""); err == nil {
		t.Error("a parameter not named as PEFT names LoRA weights was saved")
	}
}
