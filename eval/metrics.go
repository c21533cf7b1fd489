package eval

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"unicode/utf8"
)

func expNeg(x float64) float64 { return math.Exp(-x) }

// argmax returns the index of the largest value, the first one on ties; a NaN wins, as
// with numpy.argmax.
func argmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if math.IsNaN(x) {
			return i
		}
		if x > xs[best] {
			best = i
		}
	}
	return best
}

// Outcome is one item's scoring: its requests' results and the per-item metric values.
type Outcome struct {
	// LogLikelihoods and IsGreedy hold one entry per request (per choice).
	LogLikelihoods []float64
	IsGreedy       []bool
	// Pred is the argmax of the log-likelihoods; PredNorm of the log-likelihoods divided
	// by each choice's length in characters (multiple-choice tasks only, else -1).
	Pred, PredNorm int
	// Values maps each of the task's metrics to this item's value: acc and acc_norm are 0
	// or 1, mc2 is a probability mass, perplexity is the item's log-likelihood.
	Values map[string]float64
}

// Score computes an item's metrics from the results of its requests (in the order
// Requests returned them), as lm-evaluation-harness's process_results does:
//   - multiple choice: acc = 1 if argmax(LL) is gold; acc_norm = 1 if argmax(LL / number
//     of characters of the choice, without the leading space) is gold; ties go to the
//     first choice;
//   - TruthfulQA mc2: acc = Σ over true answers of exp(LL) / Σ over all answers of exp(LL);
//   - Winogrande (MultipleInput): acc = 1 if the context with the gold option gives the
//     shared continuation the highest LL;
//   - LAMBADA (Loglikelihood): acc = 1 if the continuation is the greedy one; perplexity
//     records the LL, aggregated as exp(−mean).
func (t *Task) Score(it *Item, res []Result) (Outcome, error) {
	want := len(it.Choices)
	if t.Kind == Loglikelihood {
		want = 1
	}
	if len(res) != want {
		return Outcome{}, fmt.Errorf("%s: %d results for %d requests", t.Name, len(res), want)
	}
	o := Outcome{Pred: -1, PredNorm: -1, Values: map[string]float64{}}
	o.LogLikelihoods = make([]float64, len(res))
	o.IsGreedy = make([]bool, len(res))
	for i, r := range res {
		o.LogLikelihoods[i] = r.LogLikelihood
		o.IsGreedy[i] = r.IsGreedy
	}
	if t.Kind == Loglikelihood {
		o.Values["perplexity"] = res[0].LogLikelihood
		o.Values["acc"] = b2f(res[0].IsGreedy)
		return o, nil
	}
	lls := o.LogLikelihoods
	o.Pred = argmax(lls)
	if t.MC2 {
		o.Values["acc"] = mc2(lls, it.Labels)
		return o, nil
	}
	o.Values["acc"] = b2f(o.Pred == it.Gold)
	if t.Kind == MultipleChoice {
		norm := make([]float64, len(lls))
		for i, ll := range lls {
			norm[i] = ll / float64(utf8.RuneCountInString(it.Choices[i]))
		}
		o.PredNorm = argmax(norm)
		o.Values["acc_norm"] = b2f(o.PredNorm == it.Gold)
	}
	return o, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// mc2 is the normalised probability mass of the choices labelled 1. It subtracts the
// largest log-likelihood before exponentiating, which changes nothing mathematically but
// keeps long answers (LL < −745) from underflowing to 0/0 as numpy's plain exp would.
func mc2(lls []float64, labels []int) float64 {
	m := math.Inf(-1)
	for _, ll := range lls {
		m = math.Max(m, ll)
	}
	var all, tru float64
	for i, ll := range lls {
		p := math.Exp(ll - m)
		all += p
		if i < len(labels) && labels[i] == 1 {
			tru += p
		}
	}
	return tru / all
}

// Metric is one aggregated metric of a task.
type Metric struct {
	// Name is the metric: acc, acc_norm or perplexity (TruthfulQA mc2 reports its
	// probability mass as acc, as the harness does).
	Name string
	// Value is the mean over items, or for perplexity exp(−mean log-likelihood).
	Value float64
	// Stderr is the standard error of Value: for means the closed form sample standard
	// deviation / √n (what lm-evaluation-harness reports for them); for perplexity the
	// standard deviation of a bootstrap (see Bootstrap). NaN when it cannot be computed
	// (fewer than two items, or bootstrap disabled).
	Stderr float64
}

// DefaultBootstrapIters is lm-evaluation-harness's default bootstrap_iters.
const DefaultBootstrapIters = 100000

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sampleStddev is the standard deviation with Bessel's correction; NaN below two values.
func sampleStddev(xs []float64) float64 {
	if len(xs) < 2 {
		return math.NaN()
	}
	mu := mean(xs)
	var s float64
	for _, x := range xs {
		s += (x - mu) * (x - mu)
	}
	return math.Sqrt(s / float64(len(xs)-1))
}

// MeanStderr is lm-evaluation-harness's stderr for mean metrics: sample stddev / √n.
func MeanStderr(xs []float64) float64 {
	return sampleStddev(xs) / math.Sqrt(float64(len(xs)))
}

// PerplexityOf aggregates per-item log-likelihoods: exp(−mean).
func PerplexityOf(lls []float64) float64 { return expNeg(mean(lls)) }

// Bootstrap estimates the standard error of f(xs) as lm-evaluation-harness's
// bootstrap_stderr does, and draws the same numbers: iters resamples (a multiple of 1000
// is used; fewer than 1000 makes one chunk of iters) in chunks of at most 1000, chunk i
// resampling with random.Random(i).choices(xs, k=len(xs)); the result is the sample
// standard deviation of the iters values of f. Chunks run in parallel; the result does
// not depend on how many. Returns NaN when iters <= 0 or xs has fewer than two values.
func Bootstrap(f func([]float64) float64, xs []float64, iters int) float64 {
	if iters <= 0 || len(xs) < 2 {
		return math.NaN()
	}
	chunk := min(1000, iters)
	nchunks := iters / chunk
	res := make([]float64, nchunks*chunk)
	workers := min(runtime.GOMAXPROCS(0), nchunks)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float64, len(xs))
			for c := range next {
				rnd := newPyRandom(uint32(c))
				for j := range chunk {
					for k := range buf {
						buf[k] = xs[rnd.choiceIndex(len(xs))]
					}
					res[c*chunk+j] = f(buf)
				}
			}
		}()
	}
	for c := range nchunks {
		next <- c
	}
	close(next)
	wg.Wait()
	return sampleStddev(res)
}

// Aggregate combines per-item values of one metric: perplexity as exp(−mean) with a
// bootstrap stderr of bootIters resamples, every other metric as the mean with the
// closed-form stderr.
func Aggregate(name string, vals []float64, bootIters int) Metric {
	if len(vals) == 0 {
		return Metric{Name: name, Value: math.NaN(), Stderr: math.NaN()}
	}
	if name == "perplexity" {
		return Metric{Name: name, Value: PerplexityOf(vals), Stderr: Bootstrap(PerplexityOf, vals, bootIters)}
	}
	return Metric{Name: name, Value: mean(vals), Stderr: MeanStderr(vals)}
}
