package sample

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ln returns float32 logits whose softmax is probs (probs need not sum to 1).
func ln(probs ...float64) []float32 {
	out := make([]float32, len(probs))
	for i, p := range probs {
		out[i] = float32(math.Log(p))
	}
	return out
}

// dist runs the filtering pipeline and returns the final distribution as
// token -> probability.
func dist(t *testing.T, o Options, logits []float32, history []int) map[int]float64 {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	c, greedy, err := s.filter(logits, history)
	if err != nil {
		t.Fatalf("filter: %v", err)
	}
	if greedy >= 0 {
		return map[int]float64{greedy: 1}
	}
	z := 0.0
	for _, x := range c {
		z += x.w
	}
	m := map[int]float64{}
	for _, x := range c {
		m[int(x.id)] = x.w / z
	}
	return m
}

func checkDist(t *testing.T, got map[int]float64, want map[int]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("kept tokens %v, want %v", got, want)
	}
	for id, p := range want {
		g, ok := got[id]
		if !ok || math.Abs(g-p) > 1e-6 {
			t.Fatalf("distribution %v, want %v (token %d)", got, want, id)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	tests := []struct {
		name  string
		o     Options
		field string // "" = valid
	}{
		{"zero", Options{}, ""},
		{"default", DefaultOptions(), ""},
		{"top-p 1", Options{Temperature: 1, TopP: 1}, ""},
		{"ban", Options{LogitBias: map[int]float32{3: float32(math.Inf(-1))}}, ""},
		{"whole history", Options{RepeatLastN: -1, RepeatPenalty: 1.1}, ""},
		{"negative temperature", Options{Temperature: -0.1}, "Temperature"},
		{"NaN temperature", Options{Temperature: nan}, "Temperature"},
		{"Inf temperature", Options{Temperature: inf}, "Temperature"},
		{"negative top-k", Options{TopK: -1}, "TopK"},
		{"top-p above 1", Options{TopP: 1.5}, "TopP"},
		{"negative top-p", Options{TopP: -0.5}, "TopP"},
		{"NaN top-p", Options{TopP: nan}, "TopP"},
		{"min-p above 1", Options{MinP: 2}, "MinP"},
		{"negative repeat penalty", Options{RepeatPenalty: -1}, "RepeatPenalty"},
		{"repeat last n", Options{RepeatLastN: -2}, "RepeatLastN"},
		{"NaN frequency", Options{FrequencyPenalty: nan}, "FrequencyPenalty"},
		{"Inf presence", Options{PresencePenalty: inf}, "PresencePenalty"},
		{"negative bias id", Options{LogitBias: map[int]float32{-1: 1}}, "LogitBias[-1]"},
		{"+Inf bias", Options{LogitBias: map[int]float32{7: inf}}, "LogitBias[7]"},
		{"NaN bias", Options{LogitBias: map[int]float32{7: nan}}, "LogitBias[7]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.o)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "Options."+tt.field) {
				t.Fatalf("New: error %v, want one naming Options.%s", err, tt.field)
			}
		})
	}
}

// Hand-computed distributions: each case states the logits as
// probabilities and the distribution that must survive the filters.
func TestFilters(t *testing.T) {
	tests := []struct {
		name    string
		o       Options
		logits  []float32
		history []int
		want    map[int]float64
	}{
		// Top-p: the smallest set, taken from the most likely down, whose
		// mass is >= p. Probabilities 0.1, 0.4, 0.2, 0.3.
		{"top-p 0.6 keeps 0.4+0.3", Options{Temperature: 1, TopP: 0.6}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 4.0 / 7, 3: 3.0 / 7}},
		{"top-p 0.7 exact boundary", Options{Temperature: 1, TopP: 0.7}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 4.0 / 7, 3: 3.0 / 7}},
		{"top-p 0.71 needs a third", Options{Temperature: 1, TopP: 0.71}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 4.0 / 9, 3: 3.0 / 9, 2: 2.0 / 9}},
		{"top-p 0.4 keeps one", Options{Temperature: 1, TopP: 0.4}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 1}},
		{"top-p 0.05 keeps one", Options{Temperature: 1, TopP: 0.05}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 1}},
		{"top-p 0.95", Options{Temperature: 1, TopP: 0.95}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{0: 0.1, 1: 0.4, 2: 0.2, 3: 0.3}},
		{"top-p off", Options{Temperature: 1, TopP: 1}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{0: 0.1, 1: 0.4, 2: 0.2, 3: 0.3}},
		// Top-p after temperature: T=0.5 squares the probabilities,
		// 0.01, 0.16, 0.04, 0.09 (sum 0.30): 0.16+0.09 = 0.25/0.30 >= 0.8.
		{"top-p after temperature", Options{Temperature: 0.5, TopP: 0.8}, ln(0.1, 0.4, 0.2, 0.3), nil,
			map[int]float64{1: 16.0 / 25, 3: 9.0 / 25}},
		// Top-k: logits 1, 5, 3, 5, 2 (ties at 5 go to the lower id).
		{"top-k 2", Options{Temperature: 1, TopK: 2}, []float32{1, 5, 3, 5, 2}, nil,
			map[int]float64{1: 0.5, 3: 0.5}},
		{"top-k 1 tie", Options{Temperature: 1, TopK: 1}, []float32{1, 5, 3, 5, 2}, nil,
			map[int]float64{1: 1}},
		{"top-k 3", Options{Temperature: 1, TopK: 3}, []float32{1, 5, 3, 5, 2}, nil,
			map[int]float64{1: 1 / (2 + math.Exp(-2)), 3: 1 / (2 + math.Exp(-2)), 2: math.Exp(-2) / (2 + math.Exp(-2))}},
		{"top-k above vocab", Options{Temperature: 1, TopK: 10}, ln(0.25, 0.75), nil,
			map[int]float64{0: 0.25, 1: 0.75}},
		// Min-p: probabilities 0.5, 0.25, 0.2, 0.05; the cut is MinP*0.5.
		{"min-p 0.45", Options{Temperature: 1, MinP: 0.45}, ln(0.5, 0.25, 0.2, 0.05), nil,
			map[int]float64{0: 2.0 / 3, 1: 1.0 / 3}},
		{"min-p 0.11", Options{Temperature: 1, MinP: 0.11}, ln(0.5, 0.25, 0.2, 0.05), nil,
			map[int]float64{0: 0.5 / 0.95, 1: 0.25 / 0.95, 2: 0.2 / 0.95}},
		{"min-p 0.09", Options{Temperature: 1, MinP: 0.09}, ln(0.5, 0.25, 0.2, 0.05), nil,
			map[int]float64{0: 0.5, 1: 0.25, 2: 0.2, 3: 0.05}},
		// Min-p after temperature: T=2 gives weights sqrt(p/0.5) = 1, 0.707,
		// 0.632, 0.316; MinP 0.5 keeps the first three.
		{"min-p after temperature", Options{Temperature: 2, MinP: 0.5}, ln(0.5, 0.25, 0.2, 0.05), nil,
			map[int]float64{
				0: 1 / (1 + math.Sqrt(0.5) + math.Sqrt(0.4)),
				1: math.Sqrt(0.5) / (1 + math.Sqrt(0.5) + math.Sqrt(0.4)),
				2: math.Sqrt(0.4) / (1 + math.Sqrt(0.5) + math.Sqrt(0.4))}},
		// Top-k, then top-p on the renormalised rest, then min-p.
		{"top-k then top-p", Options{Temperature: 1, TopK: 3, TopP: 0.6}, ln(0.1, 0.4, 0.2, 0.3), nil,
			// top-3: 0.4, 0.3, 0.2 (sum 0.9); 0.4+0.3 = 0.7/0.9 = 0.78 >= 0.6
			map[int]float64{1: 4.0 / 7, 3: 3.0 / 7}},
		{"top-p then min-p", Options{Temperature: 1, TopP: 0.95, MinP: 0.6}, ln(0.1, 0.4, 0.2, 0.3), nil,
			// min-p cut 0.6*0.4 = 0.24 leaves 0.4 and 0.3
			map[int]float64{1: 4.0 / 7, 3: 3.0 / 7}},
		// Temperature alone: logits 0, ln 2 at T = 0.5 give weights 1, 4.
		{"temperature 0.5", Options{Temperature: 0.5}, []float32{0, float32(math.Ln2)}, nil,
			map[int]float64{0: 0.2, 1: 0.8}},
		{"temperature 2", Options{Temperature: 2}, []float32{0, float32(2 * math.Ln2)}, nil,
			map[int]float64{0: 1.0 / 3, 1: 2.0 / 3}},
		// Greedy and its tie rule.
		{"greedy", Options{}, []float32{1, 3, 2}, nil, map[int]float64{1: 1}},
		{"greedy tie to lowest id", Options{}, []float32{1, 3, 3, 2}, nil, map[int]float64{1: 1}},
		// Logit bias changes the argmax / bans tokens.
		{"bias flips greedy", Options{LogitBias: map[int]float32{0: 2.5, 99: 5}}, []float32{1, 3, 2}, nil,
			map[int]float64{0: 1}},
		{"bias ban", Options{Temperature: 1, LogitBias: map[int]float32{1: float32(math.Inf(-1))}}, ln(0.25, 0.5, 0.25), nil,
			map[int]float64{0: 0.5, 2: 0.5}},
		{"bias +ln3", Options{Temperature: 1, LogitBias: map[int]float32{0: float32(math.Log(3))}}, ln(0.25, 0.75), nil,
			map[int]float64{0: 0.5, 1: 0.5}},
		{"-Inf logit stays out", Options{Temperature: 1}, []float32{float32(math.Inf(-1)), 0, 0}, nil,
			map[int]float64{1: 0.5, 2: 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDist(t, dist(t, tt.o, tt.logits, tt.history), tt.want)
		})
	}
}

// processed returns the logits after bias and penalties (steps 1-3).
func processed(t *testing.T, o Options, logits []float32, history []int) []float32 {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.filter(logits, history); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), s.buf[:len(logits)]...)
}

func TestPenalties(t *testing.T) {
	logits := []float32{2, -2, 1, 0.5, 3}
	tests := []struct {
		name    string
		o       Options
		history []int
		want    []float32
	}{
		{"repeat: divide positive, multiply negative",
			Options{RepeatPenalty: 2}, []int{0, 1, 1},
			[]float32{1, -4, 1, 0.5, 3}},
		{"repeat: once per distinct token",
			Options{RepeatPenalty: 2}, []int{0, 0, 0, 0},
			[]float32{1, -2, 1, 0.5, 3}},
		{"repeat: window of 2",
			Options{RepeatPenalty: 2, RepeatLastN: 2}, []int{0, 4, 1, 1},
			[]float32{2, -4, 1, 0.5, 3}},
		{"repeat: default window is 64",
			Options{RepeatPenalty: 2}, append([]int{0}, make([]int, 64)...), // 65 zeros: id 0 in window
			[]float32{1, -2, 1, 0.5, 3}},
		{"repeat: whole history",
			Options{RepeatPenalty: 2, RepeatLastN: -1}, append([]int{4}, make([]int, 100)...),
			[]float32{1, -2, 1, 0.5, 1.5}},
		{"repeat: outside the 64 window",
			Options{RepeatPenalty: 2}, append([]int{4}, make([]int, 64)...),
			[]float32{1, -2, 1, 0.5, 3}},
		{"frequency: per occurrence",
			Options{FrequencyPenalty: 0.5}, []int{0, 1, 1, 1},
			[]float32{1.5, -3.5, 1, 0.5, 3}},
		{"presence: once",
			Options{PresencePenalty: 1}, []int{0, 1, 1, 1},
			[]float32{1, -3, 1, 0.5, 3}},
		{"all three",
			Options{RepeatPenalty: 2, FrequencyPenalty: 0.25, PresencePenalty: 0.5}, []int{0, 1, 1},
			// id0: 2/2 - 0.25 - 0.5; id1: -2*2 - 0.5 - 0.5
			[]float32{0.25, -5, 1, 0.5, 3}},
		{"negative penalties reward",
			Options{FrequencyPenalty: -1, PresencePenalty: -0.5}, []int{2, 2},
			[]float32{2, -2, 3.5, 0.5, 3}},
		{"out of range history ignored",
			Options{RepeatPenalty: 2}, []int{-1, 5, 1000},
			[]float32{2, -2, 1, 0.5, 3}},
		{"bias before penalty",
			Options{RepeatPenalty: 2, LogitBias: map[int]float32{1: 4}}, []int{1},
			// -2 + 4 = 2, then divided by 2
			[]float32{2, 1, 1, 0.5, 3}},
		{"off",
			Options{RepeatPenalty: 1}, []int{0, 1, 2, 3, 4},
			[]float32{2, -2, 1, 0.5, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := processed(t, tt.o, logits, tt.history)
			for i := range got {
				if math.Abs(float64(got[i]-tt.want[i])) > 1e-6 {
					t.Fatalf("logits %v, want %v", got, tt.want)
				}
			}
		})
	}
	// The counts are cleared between calls: a second call with no history
	// leaves the logits alone.
	s, _ := New(Options{FrequencyPenalty: 1})
	s.filter(logits, []int{0, 0})
	s.filter(logits, nil)
	for i, l := range s.buf[:len(logits)] {
		if l != logits[i] {
			t.Fatalf("second call: logits %v, want %v", s.buf[:len(logits)], logits)
		}
	}
}

// chiSquare draws n tokens and returns Pearson's statistic against want.
func chiSquare(t *testing.T, o Options, logits []float32, want []float64, n int) float64 {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(logits))
	for range n {
		id, err := s.Sample(logits, nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[id]++
	}
	chi := 0.0
	for i, p := range want {
		e := p * float64(n)
		if e == 0 {
			if counts[i] != 0 {
				t.Fatalf("token %d has probability 0 but was drawn %d times", i, counts[i])
			}
			continue
		}
		d := float64(counts[i]) - e
		chi += d * d / e
	}
	return chi
}

// softmax is the reference, written independently of the package (math.Exp).
func softmax(logits []float32, temp float64) []float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, float64(l))
	}
	out := make([]float64, len(logits))
	sum := 0.0
	for i, l := range logits {
		out[i] = math.Exp((float64(l) - m) / temp)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// Sampling at temperature 1 follows softmax(logits): Pearson's chi-square
// over 20000 seeded draws of an 8-token vocabulary must stay below 24.32,
// the 0.999 quantile of chi-square with 7 degrees of freedom. The seeds are
// fixed, so the test is deterministic; a sampler that draws from the wrong
// distribution (e.g. off by a temperature of 1.1) fails it by far.
func TestChiSquare(t *testing.T) {
	logits := []float32{0.5, -1, 2, 0, 1, -0.5, 1.5, -2}
	const n = 20000
	for _, seed := range []uint64{1, 2, 3} {
		chi := chiSquare(t, Options{Temperature: 1, Seed: seed}, logits, softmax(logits, 1), n)
		t.Logf("seed %d: chi-square %.2f (df 7, limit 24.32)", seed, chi)
		if chi > 24.32 {
			t.Errorf("seed %d: chi-square %.2f > 24.32: draws do not follow softmax(logits)", seed, chi)
		}
	}
	// Temperature 0.7 with top-k 4: softmax(l/0.7) over the 4 best logits
	// (2, 1.5, 1, 0.5: ids 2, 6, 4, 0), df 3, 0.999 quantile 16.27.
	want := make([]float64, len(logits))
	top := softmax([]float32{2, 1.5, 1, 0.5}, 0.7)
	for i, id := range []int{2, 6, 4, 0} {
		want[id] = top[i]
	}
	chi := chiSquare(t, Options{Temperature: 0.7, TopK: 4, Seed: 9}, logits, want, n)
	t.Logf("top-k 4, T 0.7: chi-square %.2f (df 3, limit 16.27)", chi)
	if chi > 16.27 {
		t.Errorf("top-k 4, T 0.7: chi-square %.2f > 16.27", chi)
	}
	// Top-p 0.6 over probabilities 0.1, 0.4, 0.2, 0.3 keeps tokens 1 and 3
	// with 4/7 and 3/7; tokens 0 and 2 must never be drawn. df 1, 0.999
	// quantile 10.83.
	chi = chiSquare(t, Options{Temperature: 1, TopP: 0.6, Seed: 11}, ln(0.1, 0.4, 0.2, 0.3), []float64{0, 4.0 / 7, 0, 3.0 / 7}, n)
	t.Logf("top-p 0.6: chi-square %.2f (df 1, limit 10.83)", chi)
	if chi > 10.83 {
		t.Errorf("top-p 0.6: chi-square %.2f > 10.83", chi)
	}
	// The test has power: a wrong temperature is rejected.
	if chi := chiSquare(t, Options{Temperature: 1.15, Seed: 1}, logits, softmax(logits, 1), n); chi < 24.32 {
		t.Errorf("temperature 1.15 passed the temperature-1 test (chi-square %.2f)", chi)
	}
}

func TestReproducible(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(rnd.NormFloat64() * 2)
	}
	run := func(seed uint64) []int {
		o := DefaultOptions()
		o.Seed = seed
		o.RepeatPenalty = 1.1
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		var hist []int
		for range 300 {
			id, err := s.Sample(logits, hist)
			if err != nil {
				t.Fatal(err)
			}
			hist = append(hist, id)
		}
		return hist
	}
	a, b, c := run(7), run(7), run(8)
	same := func(x, y []int) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Fatalf("seed 7 gave two different sequences:\n%v\n%v", a, b)
	}
	if same(a, c) {
		t.Fatalf("seeds 7 and 8 gave the same sequence")
	}
	// Reseed restarts the stream.
	s, _ := New(Options{Temperature: 1, Seed: 7})
	first, _ := s.Sample(logits, nil)
	second, _ := s.Sample(logits, nil)
	s.Reseed(7)
	if again, _ := s.Sample(logits, nil); again != first {
		t.Fatalf("after Reseed: %d, want %d", again, first)
	}
	_ = second
}

func TestSampleErrors(t *testing.T) {
	s, _ := New(Options{Temperature: 1})
	g, _ := New(Options{})
	ninf := float32(math.Inf(-1))
	tests := []struct {
		name   string
		s      *Sampler
		logits []float32
		want   string
	}{
		{"empty", s, nil, "empty logits"},
		{"NaN", s, []float32{0, float32(math.NaN())}, "token 1 is NaN"},
		{"+Inf", g, []float32{float32(math.Inf(1))}, "token 0 is +Inf"},
		{"all masked", s, []float32{ninf, ninf}, ErrNoCandidates.Error()},
		{"all masked greedy", g, []float32{ninf}, ErrNoCandidates.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.s.Sample(tt.logits, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := s.Sample([]float32{ninf, ninf}, nil); !errors.Is(err, ErrNoCandidates) {
		t.Fatalf("errors.Is(%v, ErrNoCandidates) = false", err)
	}
}

func TestVocabularyChanges(t *testing.T) {
	s, _ := New(Options{Temperature: 1, RepeatPenalty: 1.3, TopK: 3})
	for _, n := range []int{5, 40, 3, 40, 1} {
		logits := make([]float32, n)
		for i := range logits {
			logits[i] = float32(i % 7)
		}
		id, err := s.Sample(logits, []int{0, 1, 2, 39, 4})
		if err != nil || id < 0 || id >= n {
			t.Fatalf("vocabulary %d: Sample = %d, %v", n, id, err)
		}
	}
}

func TestSampleNoAllocs(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(rnd.NormFloat64() * 3)
	}
	hist := make([]int, 200)
	for i := range hist {
		hist[i] = rnd.IntN(32000)
	}
	o := DefaultOptions()
	o.RepeatPenalty, o.FrequencyPenalty, o.PresencePenalty = 1.1, 0.1, 0.1
	o.LogitBias = map[int]float32{5: 1}
	s, _ := New(o)
	s.Sample(logits, hist)
	if a := testing.AllocsPerRun(20, func() { s.Sample(logits, hist) }); a != 0 {
		t.Fatalf("Sample allocates %v times per call", a)
	}
}

// expNeg and expPoly must agree with math.Exp to within 2e-15 relative
// error (measured: under 5e-16).
func TestExpNeg(t *testing.T) {
	for x := 0.0; x > -700; x -= 0.0137 {
		want := math.Exp(x)
		if got := expNeg(x); math.Abs(got-want) > 2e-15*want {
			t.Fatalf("expNeg(%v) = %v, want %v", x, got, want)
		}
		if got := expPoly(x); math.Abs(got-want) > 2e-15*want {
			t.Fatalf("expPoly(%v) = %v, want %v", x, got, want)
		}
	}
	for _, x := range []float64{math.Inf(-1), -800, math.NaN()} {
		if got := expNeg(x); got != 0 {
			t.Fatalf("expNeg(%v) = %v, want 0", x, got)
		}
	}
	if got := expNeg(0); got != 1 {
		t.Fatalf("expNeg(0) = %v, want 1", got)
	}
}

// The selection helpers must pick the same set as a full sort.
func TestSelectAgainstSort(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for iter := range 300 {
		n := 1 + rnd.IntN(300)
		c := make([]cand, n)
		for i := range c {
			// Few distinct values, to exercise ties.
			c[i] = cand{id: int32(i), logit: float32(rnd.IntN(1 + iter%20))}
			c[i].w = math.Exp(float64(c[i].logit))
		}
		sorted := append([]cand(nil), c...)
		for i := 1; i < len(sorted); i++ { // insertion sort: independent of slices.SortFunc
			for j := i; j > 0 && better(&sorted[j], &sorted[j-1]); j-- {
				sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
			}
		}
		k := 1 + rnd.IntN(n)
		x := append([]cand(nil), c...)
		selectTopK(x, k)
		if !sameIDs(x[:k], sorted[:k]) {
			t.Fatalf("n=%d k=%d: top-k picked %v, want %v", n, k, x[:k], sorted[:k])
		}
		total := 0.0
		for _, y := range c {
			total += y.w
		}
		need := rnd.Float64() * total
		want := 0
		for acc := 0.0; want < n && (want == 0 || acc < need); want++ {
			acc += sorted[want].w
		}
		x = append(x[:0], c...)
		got := selectMass(x, need)
		if got != want || !sameIDs(x[:got], sorted[:want]) {
			t.Fatalf("n=%d need=%v: top-p kept %d, want %d", n, need, got, want)
		}
	}
}

func sameIDs(a, b []cand) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[int32]bool{}
	for _, x := range a {
		seen[x.id] = true
	}
	for _, x := range b {
		if !seen[x.id] {
			return false
		}
	}
	return true
}

func BenchmarkSample(b *testing.B) {
	rnd := rand.New(rand.NewPCG(7, 8))
	logits := make([]float32, 32000)
	for i := range logits {
		logits[i] = float32(rnd.NormFloat64() * 3)
	}
	hist := make([]int, 64)
	for i := range hist {
		hist[i] = rnd.IntN(32000)
	}
	cases := []struct {
		name string
		o    Options
	}{
		{"greedy", Options{}},
		{"temperature", Options{Temperature: 0.8}},
		{"top-p", Options{Temperature: 0.8, TopP: 0.95}},
		{"top-p-0.5", Options{Temperature: 0.8, TopP: 0.5}},
		{"default", DefaultOptions()},
		{"default+penalties", Options{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, RepeatPenalty: 1.1, FrequencyPenalty: 0.2, PresencePenalty: 0.2}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s, _ := New(c.o)
			b.SetBytes(int64(4 * len(logits)))
			b.ReportAllocs()
			for b.Loop() {
				s.Sample(logits, hist)
			}
		})
	}
}
