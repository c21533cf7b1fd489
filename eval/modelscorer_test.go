package eval_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/eval"
	"github.com/decilm/decilm/model"
)

// bruteForce scores one request by running context+continuation as a single sequence
// from scratch and summing log-softmax values in float64.
func bruteForce(t *testing.T, net *model.Model, r eval.TokenRequest) (float64, bool) {
	t.Helper()
	all := append(append([]int(nil), r.Context...), r.Continuation...)
	var b model.Batch
	for p, tok := range all[:len(all)-1] {
		b.Add(0, p, tok, p >= len(r.Context)-1)
	}
	logits, err := net.Forward(&b, model.NewCache(net.Config, len(all)))
	if err != nil {
		t.Fatal(err)
	}
	V := net.Config.Vocab
	var ll float64
	greedy := true
	for i, target := range r.Continuation {
		row := logits[i*V : (i+1)*V]
		mx, arg := math.Inf(-1), 0
		for j, v := range row {
			if float64(v) > mx {
				mx, arg = float64(v), j
			}
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		ll += float64(row[target]) - mx - math.Log(s)
		greedy = greedy && arg == target
	}
	return ll, greedy
}

// TestModelScorer: shared-context scoring, per-request scoring and a lone request all give
// the brute-force log-likelihood (to 1e-5 + 2e-6 relative: a sum of float32 log-softmax
// terms, computed from keys cached in different chunks), in batches of every size.
func TestModelScorer(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	randToks := func(n int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = 3 + rng.IntN(500)
		}
		return s
	}
	var reqs []eval.TokenRequest
	for g := 0; g < 12; g++ {
		c := append([]int{1}, randToks(5+rng.IntN(40))...)
		for k := 0; k < 1+rng.IntN(4); k++ {
			reqs = append(reqs, eval.TokenRequest{Context: c, Continuation: randToks(1 + rng.IntN(6))})
		}
	}
	want := make([]float64, len(reqs))
	wantGreedy := make([]bool, len(reqs))
	for i, r := range reqs {
		want[i], wantGreedy[i] = bruteForce(t, m.Net, r)
	}
	for _, sc := range []*eval.ModelScorer{
		{Net: m.Net},
		{Net: m.Net, NoShare: true},
		{Net: m.Net, Rows: 7, Groups: 3},
		{Net: m.Net, Rows: 1, Groups: 1},
	} {
		got, err := sc.LogLikelihood(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range reqs {
			if math.Abs(got[i].LogLikelihood-want[i]) > 1e-5+2e-6*math.Abs(want[i]) || got[i].IsGreedy != wantGreedy[i] {
				t.Fatalf("scorer %+v request %d: %v, brute force %g greedy %v", *sc, i, got[i], want[i], wantGreedy[i])
			}
		}
		// The same request alone.
		alone, err := sc.LogLikelihood(context.Background(), reqs[5:6])
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(alone[0].LogLikelihood-got[5].LogLikelihood) > 1e-5 {
			t.Fatalf("request 5 alone %g, in the batch %g", alone[0].LogLikelihood, got[5].LogLikelihood)
		}
	}
}
