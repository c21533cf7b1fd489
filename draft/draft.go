// Package draft is speculative decoding's drafting layer, shared by the root package's
// Generate (one sequence) and by engine (one drafter per slot of the batch): a Drafter
// proposes tokens after a sequence's context, from a draft model with its own KV cache,
// by prompt lookup (n-gram), or both; a Length adapts how many tokens to draft to the
// acceptance rate; and a Verifier checks the drafts against the target model's logits
// with sample.Sampler.Verify, so that greedy output is the target's own token for token
// and sampled output is distributed as without drafts.
//
// It sits beside gen, below the root package and engine, and knows the model only as a
// *model.Model: loading a draft model, building a self:TYPE copy and checking that the
// vocabularies agree are the root package's (decilm.LoadDraft, decilm.CheckSameVocab).
package draft

import (
	"context"
	"errors"
	"fmt"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// DefaultMax bounds the tokens drafted per step when Config.Max is 0.
const DefaultMax = 8

// MaxMax bounds Config.Max: a verification Forward has Max+1 rows per sequence.
const MaxMax = 256

// seedMix decorrelates the draft model's random stream from the target's.
const seedMix = 0x5DEECE66D2545F49

// prefillChunk bounds the rows of one Forward call of the draft model.
const prefillChunk = 512

// Config says how to draft.
type Config struct {
	// Model is the draft model (nil: none). Its vocabulary must be the target's; the
	// caller checks that. It may be the target's own Model: its Forward runs on the
	// drafter's own cache.
	Model *model.Model
	// NGram drafts by prompt lookup (see Lookup); where both are set, the draft model
	// drafts when prompt lookup finds nothing.
	NGram bool
	// Max bounds the tokens drafted per step (0: DefaultMax).
	Max int
	// CacheType is how the draft model's KV cache stores keys and values (float16 where
	// the draft model cannot use it).
	CacheType model.CacheType
}

// Check validates c and returns it with Max filled in.
func (c Config) Check() (Config, error) {
	if c.Max < 0 || c.Max > MaxMax {
		return c, fmt.Errorf("draft: Max = %d, want 0 to %d (0: %d)", c.Max, MaxMax, DefaultMax)
	}
	if c.Model == nil && !c.NGram {
		return c, errors.New("draft: neither a draft model nor n-gram drafting is set")
	}
	if c.Max == 0 {
		c.Max = DefaultMax
	}
	if c.Model != nil && c.CacheType.Check(c.Model.Config) != nil {
		c.CacheType = model.CacheF16
	}
	return c, nil
}

// BytesPerToken is the draft model's KV-cache memory per position of one sequence (0
// without a draft model), for a caller that budgets memory per token.
func (c Config) BytesPerToken() int64 {
	if c.Model == nil {
		return 0
	}
	ct := c.CacheType
	if ct.Check(c.Model.Config) != nil {
		ct = model.CacheF16
	}
	return model.KVBytesPerToken(c.Model.Config, ct)
}

// Drafter proposes tokens for one sequence at a time. Its draft-model cache holds the
// tokens it was last fed; each Draft call brings it to the given context by running only
// what it does not already hold (so the next sequence on the same drafter reuses a shared
// prefix, as a prompt cache does). It is not safe for concurrent use.
type Drafter struct {
	c     Config
	s     *sample.Sampler // draws the draft model's tokens
	cache *model.Cache
	limit int   // positions the draft cache holds
	fed   []int // the tokens in the draft cache, in order
	b     model.Batch
	qs    []sample.Dist
	seq   []int // the context and the tokens drafted so far
	out   []int
	qout  []*sample.Dist
}

// New returns a drafter for sequences of up to maxLen tokens whose target samples with
// so (the draft model samples with the same options and a different seed). c must have
// passed Check.
func New(c Config, so sample.Options, maxLen int) (*Drafter, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	d := &Drafter{c: c}
	if c.Model == nil {
		return d, nil
	}
	if err := d.Reset(so); err != nil {
		return nil, err
	}
	d.limit = min(maxLen, c.Model.Config.ContextLength())
	if d.cache, err = model.NewTypedCache(c.Model.Config, d.limit, c.CacheType); err != nil {
		return nil, fmt.Errorf("draft: %w", err)
	}
	return d, nil
}

// Max is the most tokens the drafter proposes per step.
func (d *Drafter) Max() int { return d.c.Max }

// Reset gives the draft model a new random stream for a new sequence sampled with so;
// what the cache holds stays for reuse.
func (d *Drafter) Reset(so sample.Options) error {
	if d.c.Model == nil {
		return nil
	}
	so.Seed ^= seedMix
	s, err := sample.New(so)
	if err != nil {
		return err
	}
	d.s = s
	return nil
}

// Prefill runs all but the last prompt token through the draft model, so that the first
// Draft starts from there.
func (d *Drafter) Prefill(ctx context.Context, prompt []int) error {
	if d.c.Model == nil || len(prompt) == 0 {
		return nil
	}
	_, err := d.feed(ctx, prompt[:min(len(prompt)-1, d.limit)], false)
	return err
}

// Truncate forgets the draft cache's positions n and beyond.
func (d *Drafter) Truncate(n int) {
	if d.cache == nil || n >= len(d.fed) {
		return
	}
	n = max(n, 0)
	d.cache.Truncate(0, n)
	d.fed = d.fed[:n]
}

// Free empties the draft cache and releases its memory.
func (d *Drafter) Free() {
	if d.cache == nil {
		return
	}
	d.cache.Free(0)
	d.fed = d.fed[:0]
}

// Reserve allocates the draft cache's room for n positions up front.
func (d *Drafter) Reserve(n int) {
	if d.cache != nil {
		d.cache.Reserve(0, min(n, d.limit))
	}
}

// Bytes is the memory the draft cache holds.
func (d *Drafter) Bytes() int64 {
	if d.cache == nil {
		return 0
	}
	return d.cache.SeqBytes(0)
}

// feed brings the draft cache to hold toks, running only what it does not already hold,
// and returns the logits after the last token when want is set (running that token again
// if the cache held it already).
func (d *Drafter) feed(ctx context.Context, toks []int, want bool) ([]float32, error) {
	c := 0
	for c < len(d.fed) && c < len(toks) && d.fed[c] == toks[c] {
		c++
	}
	if want && c == len(toks) {
		c--
	}
	d.cache.Truncate(0, c)
	d.fed = append(d.fed[:c], toks[c:]...)
	var logits []float32
	for i := c; i < len(toks); i += prefillChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d.b.Reset()
		end := min(i+prefillChunk, len(toks))
		for p := i; p < end; p++ {
			d.b.Add(0, p, toks[p], want && p == len(toks)-1)
		}
		var err error
		if logits, err = d.c.Model.Forward(&d.b, d.cache); err != nil {
			d.Free() // the cache may hold part of the chunk
			return nil, fmt.Errorf("draft model: %w", err)
		}
	}
	return logits, nil
}

// Draft proposes up to k tokens after hist, with the distribution each was drawn from
// (nil: a point mass, as for prompt lookup). Prompt lookup goes first where it is on; the
// draft model drafts when it finds nothing. The slices are reused by the next call.
func (d *Drafter) Draft(ctx context.Context, hist []int, k int) ([]int, []*sample.Dist, error) {
	d.out, d.qout = d.out[:0], d.qout[:0]
	if k <= 0 {
		return nil, nil, nil
	}
	if d.c.NGram {
		if t := Lookup(hist, k); len(t) > 0 {
			d.out = append(d.out, t...)
			for range t {
				d.qout = append(d.qout, nil)
			}
			return d.out, d.qout, nil
		}
	}
	if d.c.Model == nil {
		return nil, nil, nil
	}
	k = min(k, d.limit-len(hist)+1) // the last draft is never fed
	if k <= 0 {
		return nil, nil, nil
	}
	if len(d.qs) < k {
		d.qs = append(d.qs, make([]sample.Dist, k-len(d.qs))...)
	}
	vocab := d.c.Model.Config.Vocab
	d.seq = append(d.seq[:0], hist...)
	logits, err := d.feed(ctx, hist, true)
	for j := 0; ; j++ {
		if err != nil {
			return nil, nil, err
		}
		q := &d.qs[j]
		if err := d.s.Dist(q, logits[:vocab], d.seq); err != nil {
			return nil, nil, fmt.Errorf("draft model: %w", err)
		}
		t := d.s.Draw(q)
		d.out = append(d.out, t)
		d.qout = append(d.qout, q)
		if j == k-1 {
			return d.out, d.qout, nil
		}
		d.seq = append(d.seq, t)
		d.fed = append(d.fed, t)
		d.b.Reset()
		d.b.Add(0, len(d.seq)-1, t, true)
		if logits, err = d.c.Model.Forward(&d.b, d.cache); err != nil {
			d.Free()
			err = fmt.Errorf("draft model: %w", err)
		}
	}
}

// Lookup is prompt-lookup drafting (llama.cpp's --lookup): it finds the latest earlier
// occurrence in hist of hist's last n tokens, for n from 3 down to 2, and returns up to k
// of the tokens that followed it (nil when there is none). The result aliases hist.
func Lookup(hist []int, k int) []int {
	const maxN, minN = 3, 2
	for n := min(maxN, len(hist)-1); n >= minN; n-- {
		tail := hist[len(hist)-n:]
	search:
		for i := len(hist) - n - 1; i >= 0; i-- {
			for j := range n {
				if hist[i+j] != tail[j] {
					continue search
				}
			}
			return hist[i+n : min(i+n+k, len(hist))]
		}
	}
	return nil
}
