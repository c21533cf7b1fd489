package model

import (
	"errors"
	"fmt"
	"strings"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// This file is the model's side of LoRA adapters: low-rank updates of the projections,
// y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ, added at run time to the rows whose adapter has them (never
// merged into the stored weights, whatever their type), or merged for writing out. The
// lora package reads adapter files and builds Adapters with NewAdapter and Add.

// Proj names a projection of a decoder block that an adapter may change.
type Proj uint8

// The projections; the weight table (weights.go) names each and its Layer field.
const (
	ProjQ Proj = iota
	ProjK
	ProjV
	ProjO
	ProjAttnLinear
	ProjGate
	ProjUp
	ProjDown
	ProjFFNLinear
	NumProj // the number of projections
)

// projField returns the Layer field of projection p.
func projField(ly *Layer, p Proj) **tensor.Tensor { return projWeights[p].mat(ly) }

// LoRATarget is one projection of one layer that an adapter may change.
type LoRATarget struct {
	Layer int
	Proj  Proj
	// HF and GGUF are the weight's names ("model.layers.3.self_attn.q_proj.weight",
	// "blk.3.attn_q.weight").
	HF, GGUF string
	Out, In  int // the weight's shape
	// RopeHeads is the number of heads RoPE rotates in this projection's output rows
	// (queries and keys), whose row order differs between Hugging Face and GGUF files;
	// 0 for the others.
	RopeHeads int
}

// Module is the target's Hugging Face module name: its weight name without ".weight"
// ("model.layers.3.self_attn.q_proj"), as PEFT names what it adapts.
func (t LoRATarget) Module() string { return strings.TrimSuffix(t.HF, ".weight") }

// LoRATargets lists the projections of c's layers, in file order.
func (c *Config) LoRATargets() []LoRATarget {
	var out []LoRATarget
	for l, b := range c.Blocks {
		for _, w := range layerWeights {
			if w.mat == nil {
				continue
			}
			p := w.proj
			s := w.shape(c, b)
			if s == nil {
				continue
			}
			t := LoRATarget{Layer: l, Proj: p, HF: hfLayer(l, w.hf), GGUF: ggufLayer(l, w.gguf), Out: s[0], In: s[1]}
			if w.ropeHeads != nil {
				t.RopeHeads = w.ropeHeads(c, b)
			}
			out = append(out, t)
		}
	}
	return out
}

// Delta is one low-rank update of a projection: y += Scale·(x·Aᵀ)·Bᵀ.
type Delta struct {
	Rank  int
	Scale float32
	A     []float32 // [Rank, In], row-major
	BT    []float32 // Bᵀ: [Rank, Out], row-major (B is [Out, Rank])
}

// Adapter is a set of low-rank updates for the projections of one model shape: one
// adapter file, or several combined. Forward adds them to the rows that choose it. An
// Adapter is not changed once built, so that Forward may read it while others are built.
type Adapter struct {
	// Name identifies the adapter in messages (and, in the server, in requests).
	Name   string
	cfg    *Config
	deltas [][NumProj][]*Delta // by layer and projection
	n      int
}

// NewAdapter returns an empty adapter for models of configuration cfg.
func NewAdapter(cfg *Config, name string) *Adapter {
	return &Adapter{Name: name, cfg: cfg, deltas: make([][NumProj][]*Delta, cfg.Layers)}
}

// Len is the number of low-rank updates the adapter holds.
func (a *Adapter) Len() int { return a.n }

// Add adds the update s·B·A to target t: a is [rank, t.In] and b is [t.Out, rank], both
// row-major, with b's rows in the order of the model's own weight (a query or key
// projection's rows as Config.RopeInterleaved says).
func (a *Adapter) Add(t LoRATarget, rank int, A, B []float32, scale float32) error {
	if t.Layer < 0 || t.Layer >= len(a.deltas) || t.Proj >= NumProj {
		return fmt.Errorf("adapter %s: target %s outside the model", a.Name, t.HF)
	}
	if rank <= 0 || len(A) != rank*t.In || len(B) != rank*t.Out {
		return fmt.Errorf("adapter %s: %s: rank %d with A of %d values and B of %d (want %d and %d)", a.Name, t.HF, rank, len(A), len(B), rank*t.In, rank*t.Out)
	}
	bt := make([]float32, len(B))
	for o := 0; o < t.Out; o++ {
		for j := 0; j < rank; j++ {
			bt[j*t.Out+o] = B[o*rank+j]
		}
	}
	d := &Delta{Rank: rank, Scale: scale, A: A, BT: bt}
	a.deltas[t.Layer][t.Proj] = append(a.deltas[t.Layer][t.Proj], d)
	a.n++
	return nil
}

// CombineAdapters returns an adapter applying every update of the given ones (all built
// for the same configuration); nil ones are skipped.
func CombineAdapters(name string, as ...*Adapter) (*Adapter, error) {
	var out *Adapter
	for _, a := range as {
		if a == nil {
			continue
		}
		if out == nil {
			out = NewAdapter(a.cfg, name)
		} else if !sameShape(out.cfg, a.cfg) {
			return nil, fmt.Errorf("adapters %s and %s are for models of different shapes", as[0].Name, a.Name)
		}
		for l := range a.deltas {
			for p := range a.deltas[l] {
				out.deltas[l][p] = append(out.deltas[l][p], a.deltas[l][p]...)
				out.n += len(a.deltas[l][p])
			}
		}
	}
	if out == nil {
		return nil, errors.New("no adapters to combine")
	}
	return out, nil
}

// sameShape reports whether two configurations have the same projections.
func sameShape(a, b *Config) bool {
	if a == b {
		return true
	}
	if a.Layers != b.Layers || a.Hidden != b.Hidden || a.Heads != b.Heads || a.HeadDim != b.HeadDim || len(a.Blocks) != len(b.Blocks) {
		return false
	}
	for l := range a.Blocks {
		if a.Blocks[l] != b.Blocks[l] {
			return false
		}
	}
	return true
}

// SetAdapter sets the adapter applied to every row whose Batch.Adapter entry is nil (nil:
// none), as `decilm run --lora` does.
func (m *Model) SetAdapter(a *Adapter) error {
	if a != nil && !sameShape(a.cfg, m.Config) {
		return fmt.Errorf("adapter %s was built for a model of another shape", a.Name)
	}
	m.mu.Lock()
	m.adapter = a
	m.mu.Unlock()
	return nil
}

// Adapter returns the adapter SetAdapter set.
func (m *Model) Adapter() *Adapter {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.adapter
}

// rowAdapters fills m.scratch.ad with each row's adapter (nil for none) and reports
// whether any row has one; it checks each adapter's shape once.
func (m *Model) rowAdapters(b *Batch, n int) (bool, error) {
	sc := &m.scratch
	sc.ad = sc.ad[:0]
	any := false
	for i := 0; i < n; i++ {
		a := m.adapter
		if b.Adapter != nil && b.Adapter[i] != nil {
			a = b.Adapter[i]
		}
		if a != nil && a.n == 0 {
			a = nil
		}
		if a != nil && (i == 0 || a != sc.ad[i-1]) && !sameShape(a.cfg, m.Config) {
			return false, fmt.Errorf("forward: row %d: adapter %s was built for a model of another shape", i, a.Name)
		}
		sc.ad = append(sc.ad, a)
		any = any || a != nil
	}
	return any, nil
}

// addLoRA adds to y (n rows of out values) the updates of projection p of layer l, for
// the rows whose adapter has one, from the projection's input x (n rows of in values).
func (m *Model) addLoRA(l int, p Proj, x []float32, in int, y []float32, out int, n int) {
	sc := &m.scratch
	if !sc.anyAd {
		return
	}
	m.rows(n, func(i int) {
		a := sc.ad[i]
		if a == nil {
			return
		}
		xi, yi := x[i*in:(i+1)*in], y[i*out:(i+1)*out]
		for _, d := range a.deltas[l][p] {
			applyDelta(d, xi, yi, in, out)
		}
	})
}

// applyDelta adds d.Scale·B·(A·x) to y for one row.
func applyDelta(d *Delta, x, y []float32, in, out int) {
	var buf [64]float32
	t := buf[:0]
	if d.Rank > len(buf) {
		t = make([]float32, 0, d.Rank)
	}
	for j := 0; j < d.Rank; j++ {
		t = append(t, d.Scale*kernel.Dot(d.A[j*in:(j+1)*in], x))
	}
	for j, tj := range t {
		kernel.Axpy(tj, d.BT[j*out:(j+1)*out], y)
	}
}

// MergeAdapter adds every update of a into the model's weights, W += s·B·A, computed in
// float64 per element from the decoded weight and stored as float32, whatever the
// weight's type (the writer rounds to the output type once). The model must not be
// running Forward; it is meant for writing the merged weights out (decilm merge-lora).
func (m *Model) MergeAdapter(a *Adapter) error {
	if !sameShape(a.cfg, m.Config) {
		return fmt.Errorf("adapter %s was built for a model of another shape", a.Name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for l := range a.deltas {
		for p := Proj(0); p < NumProj; p++ {
			ds := a.deltas[l][p]
			if len(ds) == 0 {
				continue
			}
			f := projField(&m.Layers[l], p)
			merged, err := mergeDeltas(*f, ds)
			if err != nil {
				return fmt.Errorf("adapter %s: layer %d: %w", a.Name, l, err)
			}
			*f = merged
		}
	}
	return nil
}

// mergeDeltas returns w + Σ s·B·A as a new tensor.
func mergeDeltas(w *tensor.Tensor, ds []*Delta) (*tensor.Tensor, error) {
	if w == nil {
		return nil, errors.New("the adapter changes a projection the model does not have")
	}
	rows, cols := w.Rows(), w.Cols()
	dt := tensor.F32
	rb, err := dt.RowBytes(cols)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", w.Name, err)
	}
	out := &tensor.Tensor{Name: w.Name, DType: dt, Shape: append([]int(nil), w.Shape...), Data: make([]byte, rows*rb)}
	row := make([]float32, cols)
	acc := make([]float64, cols)
	for r := 0; r < rows; r++ {
		if err := tensor.DecodeRow(row, w.Row(r), w.DType); err != nil {
			return nil, fmt.Errorf("%s: %w", w.Name, err)
		}
		for c, v := range row {
			acc[c] = float64(v)
		}
		for _, d := range ds {
			for j := 0; j < d.Rank; j++ {
				bj := float64(d.Scale) * float64(d.BT[j*rows+r])
				if bj == 0 {
					continue
				}
				aj := d.A[j*cols : (j+1)*cols]
				for c := range acc {
					acc[c] += bj * float64(aj[c])
				}
			}
		}
		for c, v := range acc {
			row[c] = float32(v)
		}
		if err := tensor.EncodeRow(out.Data[r*rb:(r+1)*rb], row, dt); err != nil {
			return nil, fmt.Errorf("%s: %w", w.Name, err)
		}
	}
	return out, nil
}
