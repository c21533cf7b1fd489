package sample

import (
	"math"
	"testing"
)

func TestLogSoftmax(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		want   []float64 // log-probabilities, worked out by hand
	}{
		{"1:3", []float32{0, float32(math.Log(3))}, []float64{math.Log(0.25), math.Log(0.75)}},
		{"uniform", []float32{5, 5, 5, 5}, []float64{-math.Log(4), -math.Log(4), -math.Log(4), -math.Log(4)}},
		{"huge logits do not overflow", []float32{1000, 1000}, []float64{-math.Ln2, -math.Ln2}},
		{"very negative logits do not underflow", []float32{-800, -800 + 1.0986123}, []float64{math.Log(0.25), math.Log(0.75)}},
		{"-Inf", []float32{float32(math.Inf(-1)), 0}, []float64{math.Inf(-1), 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LogSoftmax(nil, tt.logits)
			for i := range tt.want {
				if g := float64(got[i]); !(g == tt.want[i] || math.Abs(g-tt.want[i]) < 1e-4) {
					t.Fatalf("LogSoftmax = %v, want %v", got, tt.want)
				}
			}
		})
	}
	// In place, reusing dst.
	l := []float32{0, float32(math.Log(3))}
	if got := LogSoftmax(l, l); &got[0] != &l[0] || math.Abs(float64(l[1])-math.Log(0.75)) > 1e-6 {
		t.Fatalf("in-place LogSoftmax = %v", l)
	}
	if lse := LogSumExp(nil); !math.IsInf(lse, -1) {
		t.Fatalf("LogSumExp(nil) = %v, want -Inf", lse)
	}
	if lse := LogSumExp([]float32{0, float32(math.NaN())}); !math.IsNaN(lse) {
		t.Fatalf("LogSumExp with NaN = %v, want NaN", lse)
	}
}

func TestTopLogprobs(t *testing.T) {
	// Probabilities 0.1, 0.4, 0.2, 0.3, 0.0 (masked), with a tie below.
	logits := []float32{float32(math.Log(0.1)), float32(math.Log(0.4)), float32(math.Log(0.2)),
		float32(math.Log(0.3)), float32(math.Inf(-1))}
	got := TopLogprobs(logits, 3)
	want := []struct {
		id int
		p  float64
	}{{1, 0.4}, {3, 0.3}, {2, 0.2}}
	if len(got) != len(want) {
		t.Fatalf("TopLogprobs = %v", got)
	}
	for i, w := range want {
		if got[i].Token != w.id || math.Abs(float64(got[i].Logprob)-math.Log(w.p)) > 1e-6 {
			t.Fatalf("TopLogprobs = %v, want %v", got, want)
		}
	}
	if got := TopLogprobs(logits, 10); len(got) != 5 || got[4].Token != 4 || !math.IsInf(float64(got[4].Logprob), -1) {
		t.Fatalf("TopLogprobs(k > n) = %v", got)
	}
	if got := TopLogprobs([]float32{1, 2, 2, 1}, 2); got[0].Token != 1 || got[1].Token != 2 {
		t.Fatalf("ties: TopLogprobs = %v, want tokens 1, 2", got)
	}
	if got := TopLogprobs(logits, 0); got != nil {
		t.Fatalf("TopLogprobs(k=0) = %v, want nil", got)
	}
}
