package decilm

import (
	"context"
	"time"

	"github.com/decilm/decilm/draft"
	"github.com/decilm/decilm/model"
)

// generateDraft is GenerateTokens with speculative decoding (o.Draft set). Each round the
// drafter proposes k tokens after the context; one Forward of k+1 rows (the context's last
// token, then the drafts) gives the target's logits at every drafted position; the drafts
// are checked in order by draft.Verifier on the target's processed distribution, and the
// round ends with the replacement of the first rejected draft or, when all were accepted,
// a token drawn from the last row. The cache is then cut back to the accepted tokens.
//
// Invariant between rounds: the cache holds every token of hist but the last, whose
// logits are the next round's first row. A round with k = 0 is one plain decoding step.
func (m *Model) generateDraft(ctx context.Context, prompt []int, o GenerateOptions) (*Result, error) {
	dc, err := o.Draft.Config(m, o.CacheType)
	if err != nil {
		return nil, err
	}
	r, err := m.begin(ctx, prompt, o)
	if err != nil {
		return nil, err
	}
	cfg, res, sampler, cache, logits, maxNew := r.cfg, r.res, r.st.Sampler(), r.cache, r.logits, r.st.Budget()
	dr, err := draft.New(dc, 1, len(prompt)+maxNew)
	if err != nil {
		return nil, err
	}
	if err := dr.Reset(0, o.Sampling); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := dr.Prefill(ctx, 0, prompt); err != nil {
		return nil, err
	}
	res.PrefillTime += time.Since(start)
	start = time.Now()
	defer func() { res.GenerateTime = time.Since(start) }()

	var b model.Batch
	var v draft.Verifier
	dreq := []draft.Request{{}}
	hist := append([]int(nil), prompt...)
	first, err := sampler.Sample(logits[:cfg.Vocab], hist)
	if err != nil {
		return nil, err
	}
	pending := []int{first}
	ctl := draft.NewLength(dr.Max())
	for {
		if maxNew == 0 {
			_, err := r.apply(r.st.Finish("length"))
			return r.result(err)
		}
		for _, t := range pending {
			step, err := r.st.Add(t, nil)
			if err != nil {
				return nil, err
			}
			if done, err := r.apply(step); done || err != nil {
				return r.result(err)
			}
			hist = append(hist, t)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dreq[0].Hist, dreq[0].K = hist, min(ctl.Next(), draft.Room(cfg, len(hist), maxNew-len(res.Tokens)))
		if err := dr.Draft(ctx, dreq); err != nil {
			return nil, err
		}
		drafts, qs := dreq[0].Tokens, dreq[0].Dists
		n := len(hist)
		b.Reset()
		b.Add(0, n-1, hist[n-1], true)
		for j, t := range drafts {
			b.Add(0, n+j, t, true)
		}
		if logits, err = m.Net.Forward(&b, cache); err != nil {
			return nil, err
		}
		toks, acc, err := v.Verify(sampler, logits, cfg.Vocab, hist, drafts, qs)
		if err != nil {
			return nil, err
		}
		pending = append(pending[:0], toks...)
		cache.Truncate(0, n+acc)
		res.Drafted += len(drafts)
		res.Accepted += acc
		ctl.Update(len(drafts), acc)
	}
}
