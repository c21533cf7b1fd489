package eval

import (
	"context"
	"fmt"
	"math"
	"strings"
)

const testBOS = 1

// byteTok is a byte-level tokenizer: token = byte + 3, BOS = 1. Its tokens can be decoded
// back, which lets fake scorers look requests up by their text.
type byteTok struct{}

func (byteTok) Encode(text string, addBOS bool) []int {
	var ids []int
	if addBOS {
		ids = append(ids, testBOS)
	}
	for _, b := range []byte(text) {
		ids = append(ids, int(b)+3)
	}
	return ids
}

func decodeBytes(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		if id >= 3 {
			b.WriteByte(byte(id - 3))
		}
	}
	return b.String()
}

// wordTok mimics SentencePiece's word pieces: a token is a run of spaces and newlines
// followed by a run of letters/punctuation, so " yes" is one token and "is " splits into
// "is" and " ". Tokens are numbered in order of first appearance; BOS = 1.
type wordTok struct{ vocab map[string]int }

func newWordTok() *wordTok { return &wordTok{vocab: map[string]int{}} }

func (w *wordTok) pieces(text string) []string {
	var out []string
	i := 0
	for i < len(text) {
		j := i
		for j < len(text) && (text[j] == ' ' || text[j] == '\n') {
			j++
		}
		for j < len(text) && text[j] != ' ' && text[j] != '\n' {
			j++
		}
		out = append(out, text[i:j])
		i = j
	}
	return out
}

func (w *wordTok) Encode(text string, addBOS bool) []int {
	var ids []int
	if addBOS {
		ids = append(ids, testBOS)
	}
	for _, p := range w.pieces(text) {
		id, ok := w.vocab[p]
		if !ok {
			id = len(w.vocab) + 10
			w.vocab[p] = id
		}
		ids = append(ids, id)
	}
	return ids
}

// tableScorer answers byteTok requests from a table keyed by "context|continuation"
// (BOS dropped); missing entries are an error.
type tableScorer map[string]Result

func (s tableScorer) LogLikelihood(_ context.Context, reqs []TokenRequest) ([]Result, error) {
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		key := decodeBytes(r.Context) + "|" + decodeBytes(r.Continuation)
		res, ok := s[key]
		if !ok {
			return nil, fmt.Errorf("no entry for %q", key)
		}
		out[i] = res
	}
	return out, nil
}

// hashScorer gives every request a deterministic pseudo log-likelihood from its tokens
// alone, so it is batch-independent; greedy when the hash is even.
type hashScorer struct{ calls, reqs int }

func (h *hashScorer) LogLikelihood(_ context.Context, reqs []TokenRequest) ([]Result, error) {
	h.calls++
	h.reqs += len(reqs)
	out := make([]Result, len(reqs))
	for i, r := range reqs {
		x := uint64(1469598103934665603)
		for _, t := range append(append([]int{}, r.Context...), r.Continuation...) {
			x = (x ^ uint64(t)) * 1099511628211
		}
		out[i] = Result{LogLikelihood: -float64(len(r.Continuation)) * (0.5 + float64(x%1000)/1000), IsGreedy: x%2 == 0}
	}
	return out, nil
}

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func (w *wordTok) decode(ids []int) []string {
	inv := map[int]string{testBOS: "<s>"}
	for p, id := range w.vocab {
		inv[id] = p
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = inv[id]
	}
	return out
}
