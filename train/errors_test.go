package train

import (
	"math"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestErrors: bad configurations and batches are errors naming what is wrong, never a
// panic.
func TestErrors(t *testing.T) {
	p := smallPreset(t)
	m := loadPreset(t, p, 3, tensor.F32)
	for _, c := range []struct {
		cfg  LoRAConfig
		want string
	}{
		{LoRAConfig{R: 0, Alpha: 1, Targets: []string{"q_proj"}}, "rank"},
		{LoRAConfig{R: MaxRank + 1, Alpha: 1, Targets: []string{"q_proj"}}, "rank"},
		{LoRAConfig{R: 2, Alpha: math.NaN(), Targets: []string{"q_proj"}}, "alpha"},
		{LoRAConfig{R: 2, Alpha: 1}, "no LoRA targets"},
		{LoRAConfig{R: 2, Alpha: 1, Targets: []string{"q_proj", "qkv_proj"}}, `"qkv_proj" is not a projection name`},
	} {
		if _, err := New(m, c.cfg, 1); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
	// A model without linear blocks has no linear_attn.
	p2 := p
	p2.Blocks = p.Blocks[:2]
	p2.Layers = 2
	m2 := loadPreset(t, p2, 3, tensor.F32)
	if _, err := New(m2, LoRAConfig{R: 2, Alpha: 1, Targets: []string{"q_proj", "linear_attn"}}, 1); err == nil || !strings.Contains(err.Error(), `"linear_attn": no layer`) {
		t.Errorf("linear_attn on a model without linear attention: %v", err)
	}

	n, err := New(m, LoRAConfig{R: 2, Alpha: 1, Targets: []string{"q_proj", "down_proj"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	long := make([]int, m.Config.ContextLength()+1)
	for _, c := range []struct {
		batch []Example
		want  string
	}{
		{nil, "empty batch"},
		{[]Example{{}}, "example 0 has no tokens"},
		{[]Example{{Tokens: []int{1, 2}, Loss: []bool{true}}, {Tokens: []int{1, 2, 3}, Loss: []bool{true}}}, "example 1 has 3 tokens and 1 loss flags"},
		{[]Example{{Tokens: []int{1, 96}, Loss: []bool{true}}}, "id 96 outside the vocabulary"},
		{[]Example{{Tokens: []int{-1, 2}, Loss: []bool{true}}}, "id -1 outside"},
		{[]Example{{Tokens: long, Loss: make([]bool, len(long)-1)}}, "more than the model's context"},
	} {
		if _, _, err := n.Step(c.batch, false); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Step: %v, want an error containing %q", err, c.want)
		}
		if _, _, err := n.Loss(c.batch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Loss: %v, want an error containing %q", err, c.want)
		}
	}
	// No counted tokens: a zero loss over zero tokens, not an error.
	if l, c, err := n.Step([]Example{{Tokens: []int{5}, Loss: []bool{}}, {Tokens: []int{3, 4}, Loss: []bool{false}}}, true); err != nil || l != 0 || c != 0 {
		t.Errorf("Step with nothing counted = %v, %d, %v", l, c, err)
	}
}

// TestNewParams: names, shapes, order and PEFT's initialisation.
func TestNewParams(t *testing.T) {
	m := loadPreset(t, smallPreset(t), 3, tensor.F32)
	n, err := New(m, LoRAConfig{R: 4, Alpha: 16, Targets: []string{"down_proj", "q_proj", "linear_mlp"}}, 42)
	if err != nil {
		t.Fatal(err)
	}
	if n.Scale() != 4 {
		t.Errorf("Scale = %v, want 16/4", n.Scale())
	}
	n2, _ := New(m, LoRAConfig{R: 4, Alpha: 16, RSLoRA: true, Targets: []string{"q_proj"}}, 42)
	if n2.Scale() != 8 {
		t.Errorf("RSLoRA Scale = %v, want 16/√4", n2.Scale())
	}
	var names []string
	for _, p := range n.Params() {
		names = append(names, p.Name)
		bound := 1 / math.Sqrt(float64(p.Cols))
		for _, v := range p.W {
			if isB(p) && v != 0 || !isB(p) && (math.Abs(float64(v)) > bound || v == 0) {
				t.Fatalf("%s: value %v (B must start at zero, A within ±%v)", p.Name, v, bound)
			}
		}
		if len(p.W) != p.Rows*p.Cols || len(p.G) != len(p.W) {
			t.Fatalf("%s: %d values and %d gradients for [%d, %d]", p.Name, len(p.W), len(p.G), p.Rows, p.Cols)
		}
	}
	want := []string{
		"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
		"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
		"base_model.model.model.layers.0.mlp.down_proj.lora_A.weight",
		"base_model.model.model.layers.0.mlp.down_proj.lora_B.weight",
		"base_model.model.model.layers.1.mlp.down_proj.lora_A.weight",
	}
	if strings.Join(names[:5], " ") != strings.Join(want, " ") {
		t.Errorf("Params begin %q, want %q", names[:5], want)
	}
	if !strings.Contains(strings.Join(names, " "), "layers.4.mlp.linear_mlp.lora_B.weight") {
		t.Errorf("no linear_mlp adapter in layer 4: %q", names)
	}
	q := n.Params()[0]
	if q.Rows != 4 || q.Cols != 32 || n.Params()[1].Rows != 32 || n.Params()[1].Cols != 4 {
		t.Errorf("q_proj shapes: A [%d,%d], B [%d,%d]", q.Rows, q.Cols, n.Params()[1].Rows, n.Params()[1].Cols)
	}
	cfg := n.Config()
	cfg.Targets[0] = "changed"
	if n.Config().Targets[0] != "down_proj" {
		t.Error("Config shares its Targets slice")
	}
}
