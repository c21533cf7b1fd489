package sample

import (
	"math"
	"math/rand/v2"
	"testing"
)

// chiSquareP returns the upper tail probability of a chi-square statistic x with df
// degrees of freedom (the Wilson–Hilferty normal approximation, good to a few per cent of
// p for df >= 3, which is all a pass/fail threshold of 1e-3 needs).
func chiSquareP(x float64, df int) float64 {
	k := float64(df)
	z := (math.Cbrt(x/k) - (1 - 2/(9*k))) / math.Sqrt(2/(9*k))
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// goodnessOfFit returns Pearson's chi-square p-value for observed counts against the
// probabilities want (categories with an expected count below 5 are pooled).
func goodnessOfFit(counts map[int]int, want map[int]float64, n int) (p float64, df int) {
	var x, poolE float64
	poolO := 0
	cats := 0
	for id, pr := range want {
		e := pr * float64(n)
		if e < 5 {
			poolE += e
			poolO += counts[id]
			continue
		}
		d := float64(counts[id]) - e
		x += d * d / e
		cats++
	}
	for id, c := range counts {
		if _, ok := want[id]; !ok && c > 0 {
			return 0, cats // a token outside the support
		}
	}
	if poolE > 0 {
		d := float64(poolO) - poolE
		x += d * d / max(poolE, 1e-9)
		cats++
	}
	return chiSquareP(x, max(cats-1, 1)), cats - 1
}

// randomLogits returns n logits with a few dominant tokens, as language models have.
func randomLogits(r *rand.Rand, n int) []float32 {
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 2)
	}
	return l
}

func distMap(d *Dist) map[int]float64 {
	m := map[int]float64{}
	for _, id := range d.Support {
		m[int(id)] = d.P[id]
	}
	return m
}

// TestDistMatchesFilter: Dist is exactly the distribution of the filtering pipeline, for
// every option the sampler has, and a point mass in greedy mode.
func TestDistMatchesFilter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	opts := []Options{
		{},
		{Temperature: 1},
		{Temperature: 0.7, TopK: 5},
		{Temperature: 1.3, TopP: 0.8},
		{Temperature: 1, MinP: 0.1},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.3, FrequencyPenalty: 0.2, PresencePenalty: 0.1},
		{Temperature: 1, LogitBias: map[int]float32{3: float32(math.Inf(-1)), 7: 5}},
		{RepeatPenalty: 2},
	}
	var d Dist
	for i, o := range opts {
		for _, n := range []int{1, 7, 100} {
			logits := randomLogits(r, n)
			hist := []int{0, 3, 3, 5, n - 1}
			s, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Dist(&d, logits, hist); err != nil {
				t.Fatal(err)
			}
			want := dist(t, o, logits, hist)
			checkDist(t, distMap(&d), want)
			sum := 0.0
			for _, p := range d.P {
				sum += p
			}
			if math.Abs(sum-1) > 1e-12 || len(d.P) != n {
				t.Fatalf("options %d, n %d: probabilities sum to %v over %d tokens", i, n, sum, len(d.P))
			}
			if s.Greedy() {
				g, _ := s.Sample(logits, hist)
				if s.Draw(&d) != g {
					t.Fatalf("options %d: greedy Draw %d, Sample %d", i, s.Draw(&d), g)
				}
			}
		}
	}
}

// TestDistReuse: a Dist refilled for a smaller or larger vocabulary keeps no stale mass.
func TestDistReuse(t *testing.T) {
	s, _ := New(Options{Temperature: 1})
	var d Dist
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{50, 10, 80, 80, 3} {
		if err := s.Dist(&d, randomLogits(r, n), nil); err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, p := range d.P {
			sum += p
		}
		if len(d.P) != n || math.Abs(sum-1) > 1e-12 {
			t.Fatalf("n %d: %d probabilities summing to %v", n, len(d.P), sum)
		}
	}
}

// TestDrawDistribution: Draw samples from the Dist (goodness of fit, fixed seeds).
func TestDrawDistribution(t *testing.T) {
	s, _ := New(Options{Temperature: 1, TopK: 12, Seed: 7})
	var d Dist
	if err := s.Dist(&d, randomLogits(rand.New(rand.NewPCG(5, 6)), 64), nil); err != nil {
		t.Fatal(err)
	}
	const n = 40000
	counts := map[int]int{}
	for range n {
		counts[s.Draw(&d)]++
	}
	if p, df := goodnessOfFit(counts, distMap(&d), n); p < 1e-3 {
		t.Fatalf("Draw: chi-square p = %.3g (df %d) < 1e-3", p, df)
	}
}

// TestVerifyDistribution: a token drawn from q and passed through Verify is distributed
// as p (the point of the rejection rule), for drafts close to p, far from it, with
// disjoint supports and as a point mass (q = nil); the acceptance rate is Σ min(p, q).
// Chi-square goodness of fit against p with fixed seeds, threshold p-value 1e-3.
func TestVerifyDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const vocab, n = 48, 40000
	base := randomLogits(r, vocab)
	near := append([]float32(nil), base...)
	for i := range near {
		near[i] += float32(r.NormFloat64() * 0.3)
	}
	far := randomLogits(r, vocab)
	cases := []struct {
		name   string
		po, qo Options
		q      []float32 // nil: a point mass on token x
		x      int       // -1: p's most likely token
	}{
		{"near", Options{Temperature: 1}, Options{Temperature: 1}, near, 0},
		{"far", Options{Temperature: 1}, Options{Temperature: 1}, far, 0},
		{"top-k disjoint", Options{Temperature: 1, TopK: 4}, Options{Temperature: 1, TopK: 4}, far, 0},
		{"top-p, min-p, penalties", Options{Temperature: 0.8, TopP: 0.9, MinP: 0.02, RepeatPenalty: 1.5}, Options{Temperature: 1.2}, near, 0},
		{"point mass", Options{Temperature: 1}, Options{}, nil, 5},
		{"point mass on the mode", Options{Temperature: 1}, Options{}, nil, -1},
		{"point mass outside top-k", Options{Temperature: 1, TopK: 3}, Options{}, nil, 5},
	}
	hist := []int{1, 2, 5}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps, _ := New(c.po)
			ps.Reseed(uint64(100 + ci))
			var p, q Dist
			if err := ps.Dist(&p, base, hist); err != nil {
				t.Fatal(err)
			}
			var qs *Sampler
			if c.q != nil {
				qs, _ = New(c.qo)
				qs.Reseed(uint64(200 + ci))
				if err := qs.Dist(&q, c.q, hist); err != nil {
					t.Fatal(err)
				}
			}
			if c.x < 0 {
				c.x = argmax(&p)
			}
			counts := map[int]int{}
			accepted := 0
			for range n {
				x, qp := c.x, (*Dist)(nil)
				if qs != nil {
					x, qp = qs.Draw(&q), &q
				}
				tok, ok := ps.Verify(&p, qp, x)
				if ok {
					accepted++
					if tok != x {
						t.Fatalf("accepted %d but returned %d", x, tok)
					}
				}
				counts[tok]++
			}
			pv, df := goodnessOfFit(counts, distMap(&p), n)
			if pv < 1e-3 {
				t.Fatalf("chi-square p = %.3g (df %d) < 1e-3: Verify's output is not distributed as p", pv, df)
			}
			want := 0.0
			for id := range vocab {
				qq := 0.0
				if qs != nil {
					qq = q.Prob(id)
				} else if id == c.x {
					qq = 1
				}
				want += math.Min(p.Prob(id), qq)
			}
			got := float64(accepted) / n
			if math.Abs(got-want) > 5*math.Sqrt(want*(1-want)/n)+1e-9 {
				t.Fatalf("acceptance rate %.4f, want Σ min(p, q) = %.4f", got, want)
			}
			t.Logf("p-value %.3g (df %d), acceptance %.3f (expected %.3f)", pv, df, got, want)
		})
	}
}

// TestVerifyGreedy: in greedy mode Verify accepts exactly the argmax and otherwise returns
// it, without touching the random stream.
func TestVerifyGreedy(t *testing.T) {
	s, _ := New(Options{Seed: 3})
	logits := []float32{0.1, 2, 2, -1} // tie: the lower id wins
	var p Dist
	if err := s.Dist(&p, logits, nil); err != nil {
		t.Fatal(err)
	}
	before := s.rng
	for x := range 4 {
		tok, ok := s.Verify(&p, nil, x)
		if tok != 1 || ok != (x == 1) {
			t.Fatalf("Verify(x=%d) = %d, %v; want 1, %v", x, tok, ok, x == 1)
		}
	}
	if s.rng != before {
		t.Fatal("greedy Verify used the random stream")
	}
}
