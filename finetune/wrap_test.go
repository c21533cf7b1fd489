package finetune_test

import (
	"testing"

	"github.com/decilm/decilm/finetune"
)

// The types below mirror train.Param, train.Example and train.LoRAConfig: a net written with
// them becomes a Trainable through Wrap, as *train.Net does.
type (
	mirrorParam struct {
		Name       string
		Rows, Cols int
		W, G       []float32
	}
	mirrorExample struct {
		Tokens []int
		Loss   []bool
	}
	mirrorConfig struct {
		R       int
		Alpha   float64
		RSLoRA  bool
		Targets []string
	}
	mirrorNet struct {
		ps   []*mirrorParam
		seen [][]int
	}
)

func (n *mirrorNet) Params() []*mirrorParam { return n.ps }
func (n *mirrorNet) ZeroGrad() {
	for _, p := range n.ps {
		clear(p.G)
	}
}
func (n *mirrorNet) Step(b []mirrorExample, _ bool) (float64, int, error) {
	for _, ex := range b {
		n.seen = append(n.seen, ex.Tokens)
	}
	n.ps[0].G[0] += 2
	return 1.5, len(b), nil
}
func (n *mirrorNet) Loss(b []mirrorExample) (float64, int, error) { return 0.5, len(b), nil }
func (n *mirrorNet) Scale() float64                               { return 2 }
func (n *mirrorNet) Config() mirrorConfig {
	return mirrorConfig{R: 1, Alpha: 2, Targets: []string{"q_proj"}}
}

func TestWrap(t *testing.T) {
	n := &mirrorNet{ps: []*mirrorParam{{Name: "a.lora_A.weight", Rows: 1, Cols: 2, W: []float32{1, 2}, G: make([]float32, 2)}}}
	tr := finetune.Wrap(n) // the type arguments are inferred from the methods
	ps := tr.Params()
	if len(ps) != 1 || ps[0].Name != "a.lora_A.weight" || ps[0].Rows != 1 || ps[0].Cols != 2 {
		t.Fatalf("Params = %+v", ps)
	}
	ps[0].W[1] = 5 // the optimiser writes through the shared slice
	if n.ps[0].W[1] != 5 {
		t.Error("W is not shared with the wrapped net")
	}
	s, c, err := tr.Step([]finetune.Example{{Tokens: []int{1, 2}, Loss: []bool{true}}, {Tokens: []int{3, 4}, Loss: []bool{true}}}, true)
	if err != nil || s != 1.5 || c != 2 || len(n.seen) != 2 || n.seen[1][0] != 3 {
		t.Fatalf("Step = %v, %v, %v; seen %v", s, c, err, n.seen)
	}
	if ps[0].G[0] != 2 {
		t.Error("G is not shared with the wrapped net")
	}
	tr.ZeroGrad()
	if ps[0].G[0] != 0 {
		t.Error("ZeroGrad did not reach the wrapped net")
	}
	if cfg := tr.Config(); cfg.R != 1 || cfg.Alpha != 2 || cfg.Targets[0] != "q_proj" || tr.Scale() != 2 {
		t.Errorf("Config = %+v, Scale = %v", cfg, tr.Scale())
	}
	if s, c, _ := tr.Loss([]finetune.Example{{}}); s != 0.5 || c != 1 {
		t.Errorf("Loss = %v, %v", s, c)
	}
}
