package testutil

import (
	"math"
	"testing"
)

func TestChiSquare(t *testing.T) {
	// Equal samples: statistic 0; a category under 10 draws is pooled.
	a := map[int]int{0: 50, 1: 40, 2: 3}
	if x, df := TwoSampleChiSquare(a, a); x != 0 || df != 2 {
		t.Errorf("equal samples: x %v df %d, want 0 and 2", x, df)
	}
	// (60-40)²/100 + (40-60)²/100 = 8, one degree of freedom.
	if x, df := TwoSampleChiSquare(map[int]int{0: 60, 1: 40}, map[int]int{0: 40, 1: 60}); x != 8 || df != 1 {
		t.Errorf("x %v df %d, want 8 and 1", x, df)
	}
	// Tables: P(χ²₁ > 3.841) = 0.05, P(χ²₁₀ > 18.307) = 0.05, P(χ²₁₀ > 23.209) = 0.01.
	for _, c := range []struct {
		x    float64
		df   int
		want float64
		tol  float64
	}{{3.841, 1, 0.05, 0.01}, {18.307, 10, 0.05, 0.002}, {23.209, 10, 0.01, 0.001}} {
		if p := ChiSquareUpper(c.x, c.df); math.Abs(p-c.want) > c.tol {
			t.Errorf("ChiSquareUpper(%v, %d) = %v, want %v ± %v", c.x, c.df, p, c.want, c.tol)
		}
	}
}
