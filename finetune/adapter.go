package finetune

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/tensor"
)

// AdapterConfig is adapter_config.json as Hugging Face PEFT writes it for a LoRA adapter
// (LoraConfig.to_dict, keys sorted), so that peft.PeftModel.from_pretrained and this
// project load it alike. Keys PEFT added in later releases are left out: older releases
// refuse keys they do not know, newer ones take their defaults.
type AdapterConfig struct {
	AlphaPattern        map[string]float64 `json:"alpha_pattern"`
	AutoMapping         any                `json:"auto_mapping"`
	BaseModelNameOrPath string             `json:"base_model_name_or_path"`
	Bias                string             `json:"bias"`
	FanInFanOut         bool               `json:"fan_in_fan_out"`
	InferenceMode       bool               `json:"inference_mode"`
	InitLoraWeights     bool               `json:"init_lora_weights"`
	LayersPattern       any                `json:"layers_pattern"`
	LayersToTransform   any                `json:"layers_to_transform"`
	LoraAlpha           json.Number        `json:"lora_alpha"`
	LoraDropout         json.Number        `json:"lora_dropout"` // a float as Python writes it: "0.0"
	ModulesToSave       any                `json:"modules_to_save"`
	PeftType            string             `json:"peft_type"`
	R                   int                `json:"r"`
	RankPattern         map[string]int     `json:"rank_pattern"`
	Revision            any                `json:"revision"`
	TargetModules       []string           `json:"target_modules"`
	TaskType            string             `json:"task_type"`
	UseDora             bool               `json:"use_dora"`
	UseRSLoRA           bool               `json:"use_rslora"`
}

// NewAdapterConfig returns the PEFT configuration of a LoRA adapter of cfg on base.
func NewAdapterConfig(cfg LoRAConfig, base string) AdapterConfig {
	alpha := json.Number(fmt.Sprint(cfg.Alpha))
	if cfg.Alpha == math.Trunc(cfg.Alpha) && math.Abs(cfg.Alpha) < 1<<53 {
		alpha = json.Number(fmt.Sprint(int64(cfg.Alpha))) // PEFT's lora_alpha is an int
	}
	return AdapterConfig{
		AlphaPattern:        map[string]float64{},
		BaseModelNameOrPath: base,
		Bias:                "none",
		InferenceMode:       true,
		InitLoraWeights:     true,
		LoraAlpha:           alpha,
		LoraDropout:         "0.0",
		PeftType:            "LORA",
		R:                   cfg.R,
		RankPattern:         map[string]int{},
		TargetModules:       append([]string{}, cfg.Targets...),
		TaskType:            "CAUSAL_LM",
		UseRSLoRA:           cfg.RSLoRA,
	}
}

// SaveAdapter writes the adapter into dir as PEFT does: adapter_config.json and
// adapter_model.safetensors, which holds each parameter in float32 under its PEFT name
// (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight, no ".default"), with
// metadata {"format": "pt"}. Each file is written atomically.
func SaveAdapter(dir string, params []*Param, cfg LoRAConfig, base string) error {
	for _, p := range params {
		if !strings.HasSuffix(p.Name, ".lora_A.weight") && !strings.HasSuffix(p.Name, ".lora_B.weight") {
			return fmt.Errorf("finetune: parameter %q is not named as PEFT names LoRA weights (…lora_A.weight, …lora_B.weight)", p.Name)
		}
	}
	cj, err := json.MarshalIndent(NewAdapterConfig(cfg, base), "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteBytes(filepath.Join(dir, AdapterConfigFile), append(cj, '\n'), 0o644); err != nil {
		return err
	}
	descs := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		descs[i] = &tensor.Tensor{Name: p.Name, DType: tensor.F32, Shape: []int{p.Rows, p.Cols}}
	}
	return atomicfile.WriteFile(filepath.Join(dir, AdapterFile), 0o644, func(w io.Writer) error {
		return safetensors.WriteStream(w, descs, map[string]string{"format": "pt"}, func(i int, w io.Writer) error {
			return writeF32(w, params[i].W)
		})
	})
}
