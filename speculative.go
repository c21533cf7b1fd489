package decilm

import (
	"context"
	"time"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// draftSeedMix decorrelates the draft model's random stream from the target's.
const draftSeedMix = 0x5DEECE66D2545F49

// generateDraft is GenerateTokens with speculative decoding (o.Draft set). Each round the
// drafter proposes k tokens after the context; one Forward of k+1 rows (the context's last
// token, then the drafts) gives the target's logits at every drafted position; the drafts
// are checked in order with sample.Sampler.Verify on the target's processed distribution,
// and the round ends with the replacement of the first rejected draft or, when all were
// accepted, a token drawn from the last row. The cache is then cut back to the accepted
// tokens.
//
// Invariant between rounds: the cache holds every token of hist but the last, whose
// logits are the next round's first row. A round with k = 0 is one plain decoding step.
func (m *Model) generateDraft(ctx context.Context, prompt []int, o GenerateOptions) (*Result, error) {
	r, err := m.begin(ctx, prompt, o)
	if err != nil {
		return nil, err
	}
	cfg, res, sampler, cache, logits, maxNew := r.cfg, r.res, r.st.Sampler(), r.cache, r.logits, r.st.Budget()
	dr, err := m.newDrafter(o.Draft, o.Sampling, len(prompt)+maxNew, o.CacheType)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := dr.prefill(ctx, prompt); err != nil {
		return nil, err
	}
	res.PrefillTime += time.Since(start)
	start = time.Now()
	defer func() { res.GenerateTime = time.Since(start) }()

	var b model.Batch
	hist := append([]int(nil), prompt...)
	first, err := sampler.Sample(logits[:cfg.Vocab], hist)
	if err != nil {
		return nil, err
	}
	pending := []int{first}
	var ps []sample.Dist
	ctl := newDraftLen(dr.max)
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
		// Draft k tokens: no more than are still wanted, and with dynamic NTK RoPE none
		// whose row would see a longer sequence than plain decoding does (its base grows
		// with the sequence past MaxPositions, so rows must not run ahead there).
		k := min(ctl.next(), maxNew-len(res.Tokens)-1)
		if cfg.RopeScaling.Type == "dynamic" {
			k = min(k, cfg.MaxPositions-len(hist))
		}
		var drafts []int
		var qs []*sample.Dist
		if k > 0 {
			if drafts, qs, err = dr.draft(ctx, hist, k); err != nil {
				return nil, err
			}
		}
		n := len(hist)
		b.Reset()
		b.Add(0, n-1, hist[n-1], true)
		for j, t := range drafts {
			b.Add(0, n+j, t, true)
		}
		if logits, err = m.Net.Forward(&b, cache); err != nil {
			return nil, err
		}
		if len(ps) < len(drafts)+1 {
			ps = append(ps, make([]sample.Dist, len(drafts)+1-len(ps))...)
		}
		pending = pending[:0]
		acc := 0
		for j := 0; j <= len(drafts); j++ {
			p := &ps[j]
			if err := sampler.Dist(p, logits[j*cfg.Vocab:(j+1)*cfg.Vocab], append(hist, drafts[:j]...)); err != nil {
				return nil, err
			}
			if j == len(drafts) {
				pending = append(pending, sampler.Draw(p))
				break
			}
			t, ok := sampler.Verify(p, qs[j], drafts[j])
			pending = append(pending, t)
			if !ok {
				break
			}
			acc++
		}
		hist = hist[:n] // append above may have written past n; hist grows in the loop at the top
		cache.Truncate(0, n+acc)
		res.Drafted += len(drafts)
		res.Accepted += acc
		ctl.update(len(drafts), acc)
	}
}

// draftLen chooses how many tokens to draft: it grows by half (at least one) after a
// round whose drafts were all accepted and drops to one past the accepted run after a
// rejection, within [1, max]. After four rounds in a row with nothing accepted it drafts
// nothing for a while (16 tokens, doubling up to 128 while the drafts keep failing), then
// tries one token again, so that a drafter that never agrees costs little.
type draftLen struct {
	k, max          int
	misses          int // rounds in a row with nothing accepted
	pause, pauseLen int
}

func newDraftLen(limit int) *draftLen {
	return &draftLen{k: max(1, limit/2), max: limit, pauseLen: 16}
}

// next is the length of the next draft (0: a plain step).
func (d *draftLen) next() int {
	if d.pause > 0 {
		d.pause--
		if d.pause == 0 {
			d.k = 1
		}
		return 0
	}
	return d.k
}

// update records a round that drafted n tokens and had acc accepted (n = 0: a round
// without drafts, which changes nothing).
func (d *draftLen) update(n, acc int) {
	if n == 0 {
		return
	}
	switch {
	case acc == n:
		d.k = min(d.max, d.k+max(1, d.k/2))
	default:
		d.k = max(1, acc+1)
	}
	if acc > 0 {
		d.misses, d.pauseLen = 0, 16
		return
	}
	d.misses++
	if d.misses >= 4 {
		d.misses = 0
		d.pause = d.pauseLen
		d.pauseLen = min(2*d.pauseLen, 128)
	}
}
