package eval

import (
	"slices"
	"testing"
)

// The expected values were printed by CPython 3.11's random module, e.g.
// python3 -c "import random; r=random.Random(1234); print(r.sample(range(2251),5))".
func TestPyRandomMatchesCPython(t *testing.T) {
	r := newPyRandom(1234)
	wantSamples := [][]int{{1805, 478, 30, 371, 143}, {343, 403, 1452, 969, 71}, {126, 64, 1417, 1983, 1898}}
	for i, want := range wantSamples {
		if got := r.sample(2251, 5); !slices.Equal(got, want) {
			t.Fatalf("sample %d: got %v, want %v", i, got, want)
		}
	}
	tests := []struct {
		n, k int
		want []int
	}{
		{10, 3, []int{2, 1, 9}}, // pool algorithm
		{100, 26, []int{91, 14, 1, 64, 62, 31, 8, 85, 69, 59, 93, 76, 86, 11, 65, 74, 5, 34, 71, 89, 38, 61, 45, 82, 94, 25}},
		{39905, 11, []int{29713, 34744, 1264, 33298, 4626, 378, 21856, 9422, 30987, 24729, 10951}},
	}
	for _, tt := range tests {
		if got := r.sample(tt.n, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("sample(%d,%d) = %v, want %v", tt.n, tt.k, got, tt.want)
		}
	}

	r = newPyRandom(0)
	for i, want := range []float64{0.8444218515250481, 0.7579544029403025, 0.420571580830845} {
		if got := r.random(); got != want {
			t.Errorf("Random(0) draw %d = %v, want %v", i, got, want)
		}
	}

	r = newPyRandom(7)
	var got []int
	for range 6 {
		got = append(got, r.choiceIndex(5153))
	}
	if want := []int{1668, 777, 3354, 373, 2761, 1884}; !slices.Equal(got, want) {
		t.Errorf("Random(7).choices(range(5153), k=6) = %v, want %v", got, want)
	}
	if g := r.getrandbits(32); g != 249103477 {
		t.Errorf("getrandbits(32) after choices = %d, want 249103477", g)
	}
	if g := newPyRandom(4294967295).getrandbits(32); g != 2728839433 {
		t.Errorf("Random(2**32-1).getrandbits(32) = %d, want 2728839433", g)
	}
}
