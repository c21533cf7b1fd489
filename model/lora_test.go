package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestApplyDelta checks one row's low-rank update, y += s·B·(A·x), against a float64
// reference on random shapes with ragged edges and ranks beyond the stack buffer.
func TestApplyDelta(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{1, 1, 1}, {7, 5, 3}, {33, 17, 8}, {128, 96, 64}, {65, 130, 70}, {9, 300, 129}} {
		in, out, r := sh[0], sh[1], sh[2]
		A, B, x, y := make([]float32, r*in), make([]float32, out*r), make([]float32, in), make([]float32, out)
		for _, v := range [][]float32{A, B, x, y} {
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		cfg := &Config{Layers: 1, Blocks: []Block{{}}}
		a := NewAdapter(cfg, "t")
		if err := a.Add(LoRATarget{Proj: ProjV, Out: out, In: in, HF: "v"}, r, A, B, 0.375); err != nil {
			t.Fatal(err)
		}
		want := make([]float64, out)
		for o := range want {
			var s float64
			for j := 0; j < r; j++ {
				var ax float64
				for c := 0; c < in; c++ {
					ax += float64(A[j*in+c]) * float64(x[c])
				}
				s += float64(B[o*r+j]) * ax
			}
			want[o] = float64(y[o]) + 0.375*s
		}
		applyDelta(a.deltas[0][ProjV][0], x, y, in, out)
		for o := range want {
			if d := math.Abs(float64(y[o]) - want[o]); d > 1e-4*math.Max(1, math.Abs(want[o])) {
				t.Fatalf("in %d out %d rank %d: y[%d] = %g, want %g", in, out, r, o, y[o], want[o])
			}
		}
	}
}

// TestMergeDeltas: merging into a BF16 weight decodes it, adds s·B·A in float64 and stores
// float32.
func TestMergeDeltas(t *testing.T) {
	rows, cols, r := 5, 7, 2
	w := &tensor.Tensor{Name: "w", DType: tensor.BF16, Shape: []int{rows, cols}, Data: make([]byte, 2*rows*cols)}
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i%5) - 1.5
	}
	if err := tensor.EncodeRow(w.Data, vals, tensor.BF16); err != nil {
		t.Fatal(err)
	}
	A := []float32{1, 2, 3, 4, 5, 6, 7, -1, -2, -3, -4, -5, -6, -7}
	B := []float32{1, 0, 0, 1, 1, 1, 0.5, -0.5, 2, 3}
	cfg := &Config{Layers: 1, Blocks: []Block{{}}}
	a := NewAdapter(cfg, "t")
	if err := a.Add(LoRATarget{Proj: ProjO, Out: rows, In: cols, HF: "o"}, r, A, B, 0.25); err != nil {
		t.Fatal(err)
	}
	m, err := mergeDeltas(w, a.deltas[0][ProjO])
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, rows*cols)
	if err := tensor.DecodeRow(got, m.Data, m.DType); err != nil || m.DType != tensor.F32 {
		t.Fatalf("%v %v", m.DType, err)
	}
	for o := 0; o < rows; o++ {
		for c := 0; c < cols; c++ {
			want := float64(vals[o*cols+c])
			for j := 0; j < r; j++ {
				want += 0.25 * float64(B[o*r+j]) * float64(A[j*cols+c])
			}
			if float64(got[o*cols+c]) != float64(float32(want)) {
				t.Errorf("[%d,%d] = %g, want %g", o, c, got[o*cols+c], want)
			}
		}
	}
	if err := a.Add(LoRATarget{Proj: ProjO, Out: rows, In: cols, HF: "o"}, 3, A, B, 1); err == nil {
		t.Error("Add accepted a rank that does not fit A and B")
	}
}
