package lora_test

import (
	"fmt"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/lora/loratest"
	"github.com/decilm/decilm/model"
)

// BenchmarkDecodeStep measures one decode step of 8 sequences on the synth tiny model
// without an adapter, with one rank-16 adapter on every projection for all rows, and with
// half the rows on it.
func BenchmarkDecodeStep(b *testing.B) {
	m, err := model.Load(testmodel.Synth(b, "tiny", 1), model.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	all := []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
	a, err := lora.Load(loratest.Random(b, m.Config, 1, all, 16, 32), m.Config, 1)
	if err != nil {
		b.Fatal(err)
	}
	const seqs, ctx = 8, 64
	for _, mode := range []string{"none", "all-rows", "half-rows"} {
		b.Run(mode, func(b *testing.B) {
			c := model.NewCache(m.Config, ctx+b.N+1)
			var batch model.Batch
			for s := 0; s < seqs; s++ {
				for p := 0; p < ctx; p++ {
					batch.Add(s, p, 100+p, false)
				}
			}
			if _, err := m.Forward(&batch, c); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				batch.Reset()
				for s := 0; s < seqs; s++ {
					batch.Add(s, ctx+i, 200, true)
					switch {
					case mode == "all-rows", mode == "half-rows" && s%2 == 0:
						batch.Adapter = append(batch.Adapter, a)
					default:
						batch.Adapter = append(batch.Adapter, nil)
					}
				}
				if _, err := m.Forward(&batch, c); err != nil {
					b.Fatal(fmt.Sprint(err))
				}
			}
		})
	}
}
