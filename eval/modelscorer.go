package eval

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/decilm/decilm/model"
)

// ModelScorer is the Scorer backed by the transformer. Requests that share a context are
// scored with the context computed once: its keys and values are copied into one cache
// sequence per continuation, which then reads only its own tokens. Many requests advance
// together, as rows of one Forward call.
type ModelScorer struct {
	Net *model.Model
	// Rows bounds the rows of one Forward call (default 512).
	Rows int
	// Groups bounds the contexts kept in the cache at once (default 32).
	Groups int
	// NoShare computes every request's context separately (to measure what sharing saves).
	NoShare bool
}

type scoreGroup struct {
	context []int
	members []int // indices into reqs
}

// LogLikelihood implements Scorer.
func (s *ModelScorer) LogLikelihood(ctx context.Context, reqs []TokenRequest) ([]Result, error) {
	rows, groupsMax := s.Rows, s.Groups
	if rows <= 0 {
		rows = 512
	}
	if groupsMax <= 0 {
		groupsMax = 32
	}
	cfg := s.Net.Config
	var groups []*scoreGroup
	byKey := map[string]*scoreGroup{}
	maxLen := 0
	for i, r := range reqs {
		if len(r.Context) == 0 || len(r.Continuation) == 0 {
			return nil, fmt.Errorf("score request %d: empty context or continuation", i)
		}
		for _, t := range append(append([]int(nil), r.Context...), r.Continuation...) {
			if t < 0 || t >= cfg.Vocab {
				return nil, fmt.Errorf("score request %d: token %d outside the vocabulary", i, t)
			}
		}
		maxLen = max(maxLen, len(r.Context)+len(r.Continuation)-1)
		key := tokensKey(r.Context)
		if s.NoShare {
			key = strconv.Itoa(i)
		}
		g, ok := byKey[key]
		if !ok {
			g = &scoreGroup{context: r.Context}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.members = append(g.members, i)
	}
	out := make([]Result, len(reqs))
	cache := model.NewCache(cfg, maxLen)
	for start := 0; start < len(groups); start += groupsMax {
		if err := s.scoreGroups(ctx, cache, groups[start:min(start+groupsMax, len(groups))], reqs, out, rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func tokensKey(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strconv.Itoa(id))
		b.WriteByte(',')
	}
	return b.String()
}

// rowLogProb returns log p(target) and whether target is the argmax of logits.
func rowLogProb(logits []float32, target int) (float64, bool) {
	mx := logits[0]
	arg := 0
	for i, v := range logits {
		if v > mx {
			mx, arg = v, i
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	return float64(logits[target]-mx) - math.Log(sum), arg == target
}

// pending is a run of rows of one cache sequence still to be computed.
type pending struct {
	seq, pos int
	tokens   []int
	// onLogits receives the logits of each row flagged (rows of the run with want[i]).
	want     func(i int) bool
	onLogits func(i int, logits []float32)
}

// runRows feeds the runs through Forward calls of at most maxRows rows.
func (s *ModelScorer) runRows(ctx context.Context, cache *model.Cache, runs []*pending, maxRows int) error {
	var b model.Batch
	type ref struct {
		run *pending
		i   int
	}
	var refs []ref
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		logits, err := s.Net.Forward(&b, cache)
		if err != nil {
			return err
		}
		V := s.Net.Config.Vocab
		for k, r := range refs {
			r.run.onLogits(r.i, logits[k*V:(k+1)*V])
		}
		b.Reset()
		refs = refs[:0]
		return nil
	}
	for _, r := range runs {
		for i, t := range r.tokens {
			want := r.want(i)
			b.Add(r.seq, r.pos+i, t, want)
			if want {
				refs = append(refs, ref{r, i})
			}
			if b.Len() >= maxRows {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

func (s *ModelScorer) scoreGroups(ctx context.Context, cache *model.Cache, groups []*scoreGroup, reqs []TokenRequest, out []Result, maxRows int) error {
	// Phase 1: each context in its own sequence; keep the last row's log-probabilities
	// of every member's first continuation token.
	var runs []*pending
	for gi, g := range groups {
		g := g
		n := len(g.context)
		runs = append(runs, &pending{seq: gi, pos: 0, tokens: g.context,
			want: func(i int) bool { return i == n-1 },
			onLogits: func(_ int, logits []float32) {
				for _, m := range g.members {
					lp, greedy := rowLogProb(logits, reqs[m].Continuation[0])
					out[m] = Result{LogLikelihood: lp, IsGreedy: greedy}
				}
			}})
	}
	if err := s.runRows(ctx, cache, runs, maxRows); err != nil {
		return err
	}
	// Phase 2: each continuation (beyond its first token) in a sequence that starts from a
	// copy of its context's keys and values.
	runs = runs[:0]
	next := len(groups)
	for gi, g := range groups {
		for _, m := range g.members {
			cont := reqs[m].Continuation
			if len(cont) < 2 {
				continue
			}
			seq := next
			next++
			if err := cache.CopyPrefix(seq, gi, len(g.context)); err != nil {
				return err
			}
			m := m
			runs = append(runs, &pending{seq: seq, pos: len(g.context), tokens: cont[:len(cont)-1],
				want: func(int) bool { return true },
				onLogits: func(i int, logits []float32) {
					lp, greedy := rowLogProb(logits, cont[i+1])
					out[m].LogLikelihood += lp
					out[m].IsGreedy = out[m].IsGreedy && greedy
				}})
		}
	}
	err := s.runRows(ctx, cache, runs, maxRows)
	for _, seq := range cache.Sequences() {
		cache.Free(seq)
	}
	return err
}
