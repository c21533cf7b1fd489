package sample

import (
	"math"
	"slices"
)

// LogSumExp returns log(Σ exp(logits[i])) computed in float64 with the
// maximum subtracted first, so large logits do not overflow. The
// log-probability of token i is then logits[i] - LogSumExp(logits). It
// returns -Inf for an empty slice or when every logit is -Inf, and NaN if
// any logit is NaN.
func LogSumExp(logits []float32) float64 {
	m := math.Inf(-1)
	for _, l := range logits {
		if l != l {
			return math.NaN()
		}
		m = max(m, float64(l))
	}
	if math.IsInf(m, 0) {
		return m
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l) - m)
	}
	return m + math.Log(sum)
}

// LogSoftmax writes the log-softmax of logits (log-probabilities, computed
// in float64) into dst, growing it if its capacity is too small, and returns
// it. dst may be logits itself to work in place.
func LogSoftmax(dst, logits []float32) []float32 {
	lse := LogSumExp(logits)
	if cap(dst) < len(logits) {
		dst = make([]float32, len(logits))
	}
	dst = dst[:len(logits)]
	for i, l := range logits {
		dst[i] = float32(float64(l) - lse)
	}
	return dst
}

// TokenLogprob is a token id with its log-probability.
type TokenLogprob struct {
	Token   int
	Logprob float32
}

// TopLogprobs returns the k most likely tokens of softmax(logits) with their
// log-probabilities, most likely first, equal logits ordered by lower id.
// It returns fewer than k entries when logits is shorter, and nil for
// k <= 0. It runs in O(n + k log k) time.
func TopLogprobs(logits []float32, k int) []TokenLogprob {
	k = min(k, len(logits))
	if k <= 0 {
		return nil
	}
	lse := LogSumExp(logits)
	c := make([]cand, len(logits))
	for i, l := range logits {
		c[i] = cand{id: int32(i), logit: l}
		if l != l { // NaN sorts last
			c[i].logit = float32(math.Inf(-1))
		}
	}
	selectTopK(c, k)
	c = c[:k]
	slices.SortFunc(c, compareCand)
	out := make([]TokenLogprob, k)
	for i, x := range c {
		out[i] = TokenLogprob{Token: int(x.id), Logprob: float32(float64(logits[x.id]) - lse)}
	}
	return out
}
