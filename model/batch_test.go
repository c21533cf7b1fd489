package model_test

import (
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
)

// TestBatchInvariance: a sequence's logits are bit-identical whether it runs alone or with
// other sequences in the same Forward calls (prefill and decode), so greedy outputs do not
// depend on what else the server or the evaluator is running.
func TestBatchInvariance(t *testing.T) {
	m, err := model.Load(testmodel.Synth(t, "tiny", 1234), model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	V := m.Config.Vocab
	prompt := []int{1, 450, 4996, 17354, 1701, 29916}
	other := []int{1, 306, 763, 304, 1708, 263, 3017, 411}

	// Alone: prefill, then two decode steps.
	c := model.NewCache(m.Config, 32)
	var b model.Batch
	for p, tok := range prompt {
		b.Add(0, p, tok, true)
	}
	out, err := m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	alone := append([]float32(nil), out...)
	b.Reset()
	b.Add(0, len(prompt), 9, true)
	out, err = m.Forward(&b, c)
	if err != nil {
		t.Fatal(err)
	}
	aloneDecode := append([]float32(nil), out...)

	// Busy: another sequence's rows before and after ours, in the same calls.
	c2 := model.NewCache(m.Config, 32)
	b.Reset()
	for p, tok := range other[:4] {
		b.Add(7, p, tok, true)
	}
	for p, tok := range prompt {
		b.Add(3, p, tok, true)
	}
	for p, tok := range other[4:] {
		b.Add(7, 4+p, tok, true)
	}
	out, err = m.Forward(&b, c2)
	if err != nil {
		t.Fatal(err)
	}
	busy := out[4*V : (4+len(prompt))*V]
	for i := range alone {
		if alone[i] != busy[i] {
			t.Fatalf("prefill logit %d: alone %g, in a batch %g", i, alone[i], busy[i])
		}
	}
	b.Reset()
	b.Add(7, len(other), 11, true)
	b.Add(3, len(prompt), 9, true)
	out, err = m.Forward(&b, c2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aloneDecode {
		if aloneDecode[i] != out[V+i] {
			t.Fatalf("decode logit %d: alone %g, in a batch %g", i, aloneDecode[i], out[V+i])
		}
	}
}
