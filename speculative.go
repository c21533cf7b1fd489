package decilm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
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
	if len(prompt) == 0 {
		return nil, errors.New("generate: empty prompt")
	}
	cfg := m.Net.Config
	limit := cfg.ContextLength()
	if len(prompt) >= limit {
		return nil, fmt.Errorf("%w: %d prompt tokens, context holds %d", ErrContextLength, len(prompt), limit)
	}
	maxNew := limit - len(prompt)
	if o.MaxTokens > 0 && o.MaxTokens < maxNew {
		maxNew = o.MaxTokens
	}
	sampler, err := sample.New(o.Sampling)
	if err != nil {
		return nil, err
	}
	dr, err := m.newDrafter(o.Draft, o.Sampling, len(prompt)+maxNew)
	if err != nil {
		return nil, err
	}
	res := &Result{PromptTokens: len(prompt)}
	cache := model.NewCache(cfg, len(prompt)+maxNew)
	var b model.Batch
	start := time.Now()
	var logits []float32
	for i := 0; i < len(prompt); i += prefillChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.Reset()
		end := min(i+prefillChunk, len(prompt))
		for p := i; p < end; p++ {
			b.Add(0, p, prompt[p], p == len(prompt)-1)
		}
		if logits, err = m.Net.Forward(&b, cache); err != nil {
			return nil, err
		}
	}
	if err := dr.prefill(ctx, prompt); err != nil {
		return nil, err
	}
	res.PrefillTime = time.Since(start)
	start = time.Now()
	defer func() { res.GenerateTime = time.Since(start) }()

	out := newTokenSink(m, prompt, o, res)
	hist := append([]int(nil), prompt...)
	first, err := sampler.Sample(logits[:cfg.Vocab], hist)
	if err != nil {
		return nil, err
	}
	pending := []int{first}
	var ps []sample.Dist
	ctl := newDraftLen(dr.max)
	for {
		for _, t := range pending {
			done, err := out.add(t)
			if err != nil {
				return nil, err
			}
			if done {
				return res, nil
			}
			hist = append(hist, t)
		}
		if len(res.Tokens) >= maxNew {
			return out.finish("length")
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

// tokenSink takes generated tokens one by one, as the plain decoding loop does: EOS,
// OnToken, streaming decoder, stop strings and the result's text.
type tokenSink struct {
	m    *Model
	o    GenerateOptions
	res  *Result
	dec  *tokenizer.StreamDecoder
	stop *sample.StopMatcher
	text strings.Builder
}

func newTokenSink(m *Model, prompt []int, o GenerateOptions, res *Result) *tokenSink {
	s := &tokenSink{m: m, o: o, res: res, stop: sample.NewStopMatcher(o.Stop...)}
	if len(prompt) == 1 && prompt[0] == m.Net.Config.BOS {
		s.dec = m.Tokenizer.NewDecoder()
	} else {
		s.dec = m.Tokenizer.NewContinuationDecoder()
	}
	return s
}

func (s *tokenSink) emit(text string) error {
	if text == "" {
		return nil
	}
	s.text.WriteString(text)
	if s.o.OnText != nil {
		return s.o.OnText(text)
	}
	return nil
}

// add takes the next token; done reports that generation has ended (EOS or a stop
// string), with the result complete.
func (s *tokenSink) add(t int) (done bool, err error) {
	if !s.o.IgnoreEOS && s.m.isEOS(t) {
		_, err := s.finish("stop")
		return true, err
	}
	s.res.Tokens = append(s.res.Tokens, t)
	if s.o.OnToken != nil {
		if err := s.o.OnToken(t); err != nil {
			return true, err
		}
	}
	piece, err := s.dec.Add(t)
	if err != nil {
		return true, err
	}
	out, stopped := s.stop.Push(piece)
	if err := s.emit(out); err != nil {
		return true, err
	}
	if stopped {
		s.res.Text = s.text.String()
		s.res.FinishReason = "stop"
		return true, nil
	}
	return false, nil
}

// finish flushes the decoder and the stop matcher and completes the result.
func (s *tokenSink) finish(reason string) (*Result, error) {
	rest, _ := s.stop.Push(s.dec.Flush())
	if !s.stop.Stopped() {
		rest += s.stop.Flush()
	}
	if err := s.emit(rest); err != nil {
		return nil, err
	}
	s.res.Text = s.text.String()
	s.res.FinishReason = reason
	return s.res, nil
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
