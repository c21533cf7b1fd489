package model

import (
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestProjTable: the projections' PEFT names, parents and Layer fields, as Hugging Face's
// DeciLM and Nemotron-NAS modules name them.
func TestProjTable(t *testing.T) {
	var ly Layer
	tests := []struct {
		p              Proj
		module, parent string
		f              **tensor.Tensor
	}{
		{ProjQ, "q_proj", "self_attn", &ly.Q},
		{ProjK, "k_proj", "self_attn", &ly.K},
		{ProjV, "v_proj", "self_attn", &ly.V},
		{ProjO, "o_proj", "self_attn", &ly.O},
		{ProjAttnLinear, "linear_attn", "self_attn", &ly.AttnLinear},
		{ProjGate, "gate_proj", "mlp", &ly.Gate},
		{ProjUp, "up_proj", "mlp", &ly.Up},
		{ProjDown, "down_proj", "mlp", &ly.Down},
		{ProjFFNLinear, "linear_mlp", "mlp", &ly.FFNLinear},
	}
	if got := Projs(); len(got) != len(tests) || int(NumProj) != len(tests) {
		t.Fatalf("Projs() = %v (NumProj %d), want %d projections", got, NumProj, len(tests))
	}
	for i, tc := range tests {
		if got := Projs()[i]; got != tc.p {
			t.Errorf("Projs()[%d] = %v, want %v", i, got, tc.p)
		}
		if tc.p.Module() != tc.module || tc.p.Parent() != tc.parent || tc.p.String() != tc.module {
			t.Errorf("%d: Module %q Parent %q String %q, want %q %q", tc.p, tc.p.Module(), tc.p.Parent(), tc.p.String(), tc.module, tc.parent)
		}
		if p, ok := ProjByModule(tc.module); !ok || p != tc.p {
			t.Errorf("ProjByModule(%q) = %v, %v", tc.module, p, ok)
		}
		if projField(&ly, tc.p) != tc.f {
			t.Errorf("%v: projField is not its Layer field", tc.p)
		}
		w := &tensor.Tensor{Name: tc.module}
		*tc.f = w
		if tc.p.Weight(&ly) != w {
			t.Errorf("%v: Weight does not read its Layer field", tc.p)
		}
		if got := ProjModules()[i]; got != tc.module {
			t.Errorf("ProjModules()[%d] = %q, want %q", i, got, tc.module)
		}
	}
	if _, ok := ProjByModule("qkv_proj"); ok {
		t.Error("ProjByModule accepts qkv_proj")
	}
	if NumProj.Weight(&ly) != nil || NumProj.Module() != "" || NumProj.String() != "Proj(9)" {
		t.Error("an out-of-range Proj is not handled")
	}
}
