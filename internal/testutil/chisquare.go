package testutil

import "math"

// TwoSampleChiSquare is the chi-square statistic comparing two samples of equal size over
// the same categories, Σ (a−b)²/(a+b), and its degrees of freedom; categories with fewer
// than 10 draws in both samples together are pooled into one.
func TwoSampleChiSquare(a, b map[int]int) (x float64, df int) {
	keys := map[int]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	pa, pb, cats := 0, 0, 0
	for k := range keys {
		if a[k]+b[k] < 10 {
			pa, pb = pa+a[k], pb+b[k]
			continue
		}
		d := float64(a[k] - b[k])
		x += d * d / float64(a[k]+b[k])
		cats++
	}
	if pa+pb > 0 {
		d := float64(pa - pb)
		x += d * d / float64(pa+pb)
		cats++
	}
	return x, max(cats-1, 1)
}

// ChiSquareUpper is the upper tail probability of a chi-square statistic with df degrees
// of freedom (Wilson–Hilferty approximation).
func ChiSquareUpper(x float64, df int) float64 {
	k := float64(df)
	z := (math.Cbrt(x/k) - (1 - 2/(9*k))) / math.Sqrt(2/(9*k))
	return 0.5 * math.Erfc(z/math.Sqrt2)
}
