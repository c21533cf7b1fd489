package train

import (
	"math"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// FuzzStep feeds batches decoded from arbitrary bytes (token ids anywhere in a byte's
// range around the vocabulary, lengths from 0 to past the context, any loss flags) to Step
// and Loss: each must return an error or a finite loss, never panic.
func FuzzStep(f *testing.F) {
	m := loadPreset(f, smallPreset(f), 5, tensor.Q8_0)
	n, err := New(m, LoRAConfig{R: 2, Alpha: 2, Targets: []string{"q_proj", "linear_attn", "down_proj", "linear_mlp"}}, 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{3, 1, 2, 3, 7})
	f.Add([]byte{0})
	f.Add([]byte{2, 200, 5, 1, 90, 95, 255})
	f.Add([]byte{1, 129, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		var batch []Example
		for len(data) > 0 && len(batch) < 4 {
			l := int(data[0])
			data = data[1:]
			e := Example{Tokens: make([]int, 0, l)}
			for i := 0; i < l; i++ {
				tok := i
				if i < len(data) {
					tok = int(data[i]) - 8 // some below 0, some at or above the vocabulary (96)
				}
				e.Tokens = append(e.Tokens, tok)
				if i > 0 {
					e.Loss = append(e.Loss, tok%3 != 0)
				}
			}
			data = data[min(l, len(data)):]
			batch = append(batch, e)
		}
		for _, ckpt := range []bool{false, true} {
			if l, c, err := n.Step(batch, ckpt); err == nil && (math.IsNaN(l) || math.IsInf(l, 0) || c < 0) {
				t.Fatalf("Step = %v, %d", l, c)
			}
		}
		if l, _, err := n.Loss(batch); err == nil && (math.IsNaN(l) || math.IsInf(l, 0)) {
			t.Fatalf("Loss = %v", l)
		}
	})
}
