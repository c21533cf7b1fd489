package sample

import (
	"math/bits"
	"slices"
)

// cand is one token still in the running: its id, its processed logit and
// (once computed) its unnormalised probability weight exp((logit-max)/T).
type cand struct {
	id    int32
	logit float32
	w     float64
}

// better is the strict total order used everywhere: higher logit first,
// equal logits broken by the lower token id. Because it is total, every
// selection below has exactly one answer whatever the algorithm's path.
func better(a, b *cand) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

// compareCand orders by better, for slices.SortFunc.
func compareCand(a, b cand) int {
	switch {
	case better(&a, &b):
		return -1
	case better(&b, &a):
		return 1
	}
	return 0
}

// partition rearranges c around a median-of-three pivot and returns its
// final index m: every c[:m] is better than c[m], which is better than every
// c[m+1:]. len(c) must be at least 1.
func partition(c []cand) int {
	n := len(c)
	last := n - 1
	if n >= 3 {
		mid := n / 2
		// Order c[0], c[mid], c[last] so that the median lands in c[mid].
		if better(&c[mid], &c[0]) {
			c[mid], c[0] = c[0], c[mid]
		}
		if better(&c[last], &c[mid]) {
			c[last], c[mid] = c[mid], c[last]
			if better(&c[mid], &c[0]) {
				c[mid], c[0] = c[0], c[mid]
			}
		}
		c[mid], c[last] = c[last], c[mid]
	}
	pivot := c[last]
	store := 0
	for i := 0; i < last; i++ {
		if better(&c[i], &pivot) {
			c[i], c[store] = c[store], c[i]
			store++
		}
	}
	c[store], c[last] = c[last], c[store]
	return store
}

// selectTopK rearranges c so that c[:k] holds its k best candidates (in no
// particular order). Expected O(len(c)); after 2·log2(n) unlucky partitions
// it falls back to sorting what is left, so the worst case is O(n log n).
func selectTopK(c []cand, k int) {
	if k <= 0 || k >= len(c) {
		return
	}
	lo, hi := 0, len(c)
	budget := 2 * bits.Len(uint(len(c)))
	for hi-lo > 1 {
		if budget == 0 {
			slices.SortFunc(c[lo:hi], compareCand)
			return
		}
		budget--
		m := lo + partition(c[lo:hi])
		switch {
		case m == k || m == k-1:
			return
		case m < k:
			lo = m + 1
		default:
			hi = m
		}
	}
}

// selectMass rearranges c and returns n such that c[:n] is the smallest set
// of best candidates whose weights add up to at least need: the nucleus of
// top-p sampling. At least one candidate is always kept. Expected
// O(len(c)) (a quickselect that recurses on mass instead of on a count);
// worst case O(n log n) through the same fallback as selectTopK.
func selectMass(c []cand, need float64) int {
	if len(c) <= 1 || need <= 0 {
		return min(len(c), 1)
	}
	lo, hi := 0, len(c)
	budget := 2 * bits.Len(uint(len(c)))
	// Invariant: c[:lo] are kept and are better than everything in c[lo:hi];
	// need is what c[lo:] still has to supply; c[hi:] are dropped.
	for hi-lo > 16 && budget > 0 {
		budget--
		m := lo + partition(c[lo:hi])
		var g float64
		for i := lo; i < m; i++ {
			g += c[i].w
		}
		if g >= need {
			hi = m
			continue
		}
		need -= g + c[m].w
		if need <= 0 {
			return m + 1
		}
		lo = m + 1
	}
	slices.SortFunc(c[lo:hi], compareCand)
	for i := lo; i < hi; i++ {
		need -= c[i].w
		if need <= 0 {
			return i + 1
		}
	}
	return max(hi, 1)
}
