// Package draft is speculative decoding's drafting layer, shared by the root package's
// Generate (one slot) and by engine (a slot per sequence of the batch): a Drafter
// proposes tokens after each slot's context, from a draft model with a KV cache of a
// sequence per slot (all slots drafted together), by prompt lookup (n-gram), or both; a Length adapts how many tokens to draft to the
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

// Drafter proposes tokens for up to Slots sequences at once, one per slot. Each slot
// holds the draft model's keys and values of the tokens it was last fed (one sequence of
// one shared cache); each Draft call brings every slot to its sequence's context by
// running only what the slot does not already hold (so the next sequence on a slot reuses
// a shared prefix, as a prompt cache does), and drafts for all of them together: one
// draft-model Forward per drafted position, with a row for every sequence still drafting.
// It is not safe for concurrent use.
type Drafter struct {
	c     Config
	cache *model.Cache
	limit int // positions a slot holds
	slots []slot
	b     model.Batch
	act   []*Request // the requests the draft model drafts for, this call
}

// slot is one sequence's drafting state.
type slot struct {
	s      *sample.Sampler // draws the draft model's tokens
	fed    []int           // the tokens in the slot's cache, in order
	seq    []int           // the context and the tokens drafted so far
	qs     []sample.Dist
	logits []float32 // the draft model's logits after seq
	k      int       // tokens to draft this call
}

// Request asks a Drafter for up to K tokens after Hist in Slot; Draft fills Tokens and
// Dists (the distribution each token was drawn from; nil: a point mass, as for prompt
// lookup), reusing their memory, valid until the next Draft call.
type Request struct {
	Slot   int
	Hist   []int
	K      int
	Tokens []int
	Dists  []*sample.Dist
}

// New returns a drafter for slots sequences of up to maxLen tokens each. Each slot's
// draft model samples as Reset said (greedily until then).
func New(c Config, slots, maxLen int) (*Drafter, error) {
	c, err := c.Check()
	if err != nil {
		return nil, err
	}
	if slots < 1 {
		return nil, fmt.Errorf("draft: %d slots", slots)
	}
	d := &Drafter{c: c, slots: make([]slot, slots)}
	if c.Model == nil {
		return d, nil
	}
	for i := range d.slots {
		if err := d.Reset(i, sample.Options{}); err != nil {
			return nil, err
		}
	}
	d.limit = min(maxLen, c.Model.Config.ContextLength())
	if d.cache, err = model.NewTypedCache(c.Model.Config, d.limit, c.CacheType); err != nil {
		return nil, fmt.Errorf("draft: %w", err)
	}
	return d, nil
}

// Max is the most tokens the drafter proposes per step.
func (d *Drafter) Max() int { return d.c.Max }

// Reset gives slot's draft model a new random stream for a new sequence sampled with so
// (the same options as the target, another seed); what the slot holds stays for reuse.
func (d *Drafter) Reset(slot int, so sample.Options) error {
	if d.c.Model == nil {
		return nil
	}
	so.Seed ^= seedMix
	s, err := sample.New(so)
	if err != nil {
		return err
	}
	d.slots[slot].s = s
	return nil
}

// Prefill runs all but the last prompt token through slot's draft cache, so that the
// first Draft starts from there.
func (d *Drafter) Prefill(ctx context.Context, slot int, prompt []int) error {
	if d.c.Model == nil || len(prompt) == 0 {
		return nil
	}
	r := Request{Slot: slot, Hist: prompt[:min(len(prompt)-1, d.limit)]}
	return d.feed(ctx, []*Request{&r}, false)
}

// Truncate forgets slot's positions n and beyond.
func (d *Drafter) Truncate(slot, n int) {
	sl := &d.slots[slot]
	if d.cache == nil || n >= len(sl.fed) {
		return
	}
	n = max(n, 0)
	d.cache.Truncate(slot, n)
	sl.fed = sl.fed[:n]
}

// Free empties slot and releases its memory.
func (d *Drafter) Free(slot int) {
	if d.cache == nil {
		return
	}
	d.cache.Free(slot)
	d.slots[slot].fed = d.slots[slot].fed[:0]
}

// Reserve allocates slot's room for n positions up front.
func (d *Drafter) Reserve(slot, n int) {
	if d.cache != nil {
		d.cache.Reserve(slot, min(n, d.limit))
	}
}

// Bytes is the memory slot holds.
func (d *Drafter) Bytes(slot int) int64 {
	if d.cache == nil {
		return 0
	}
	return d.cache.SeqBytes(slot)
}

// feed brings each request's slot to hold its Hist, running only what the slot does not
// already hold, all requests' rows together in Forward calls of up to prefillChunk rows;
// with want, each slot's logits after its last token are kept (running that token again
// if the slot held it already). On an error every slot fed is emptied.
func (d *Drafter) feed(ctx context.Context, rs []*Request, want bool) error {
	type todo struct {
		r    *Request
		next int // the next position to feed
	}
	var left []todo
	for _, r := range rs {
		sl := &d.slots[r.Slot]
		c := 0
		for c < len(sl.fed) && c < len(r.Hist) && sl.fed[c] == r.Hist[c] {
			c++
		}
		if want && c == len(r.Hist) {
			c--
		}
		d.cache.Truncate(r.Slot, c)
		sl.fed = append(sl.fed[:c], r.Hist[c:]...)
		if c < len(r.Hist) {
			left = append(left, todo{r, c})
		}
	}
	fail := func(err error) error {
		for _, r := range rs {
			d.Free(r.Slot)
		}
		return err
	}
	for len(left) > 0 {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		d.b.Reset()
		var got []*Request // requests whose last row is in this batch, in row order
		for i := range left {
			t := &left[i]
			for ; t.next < len(t.r.Hist) && d.b.Len() < prefillChunk; t.next++ {
				last := want && t.next == len(t.r.Hist)-1
				d.b.Add(t.r.Slot, t.next, t.r.Hist[t.next], last)
				if last {
					got = append(got, t.r)
				}
			}
		}
		logits, err := d.c.Model.Forward(&d.b, d.cache)
		if err != nil {
			return fail(fmt.Errorf("draft model: %w", err))
		}
		d.keep(got, logits)
		rest := left[:0]
		for _, t := range left {
			if t.next < len(t.r.Hist) {
				rest = append(rest, t)
			}
		}
		left = rest
	}
	return nil
}

// keep copies the logits rows of a Forward, one per request in order, to their slots.
func (d *Drafter) keep(rs []*Request, logits []float32) {
	V := d.c.Model.Config.Vocab
	for i, r := range rs {
		sl := &d.slots[r.Slot]
		sl.logits = append(sl.logits[:0], logits[i*V:(i+1)*V]...)
	}
}

// Draft fills every request's Tokens and Dists with up to K tokens after its Hist.
// Prompt lookup goes first where it is on; the draft model drafts where it finds nothing,
// for all such requests together. On an error every slot that drafted is emptied.
func (d *Drafter) Draft(ctx context.Context, rs []Request) error {
	d.act = d.act[:0]
	for i := range rs {
		r := &rs[i]
		r.Tokens, r.Dists = r.Tokens[:0], r.Dists[:0]
		if r.K <= 0 {
			continue
		}
		if d.c.NGram {
			if t := Lookup(r.Hist, r.K); len(t) > 0 {
				r.Tokens = append(r.Tokens, t...)
				for range t {
					r.Dists = append(r.Dists, nil)
				}
				continue
			}
		}
		if d.c.Model == nil {
			continue
		}
		sl := &d.slots[r.Slot]
		sl.k = min(r.K, d.limit-len(r.Hist)+1) // the last draft is never fed
		if sl.k <= 0 || len(r.Hist) == 0 {
			continue
		}
		if len(sl.qs) < sl.k {
			sl.qs = append(sl.qs, make([]sample.Dist, sl.k-len(sl.qs))...)
		}
		sl.seq = append(sl.seq[:0], r.Hist...)
		d.act = append(d.act, r)
	}
	if len(d.act) == 0 {
		return nil
	}
	if err := d.feed(ctx, d.act, true); err != nil {
		return err
	}
	V := d.c.Model.Config.Vocab
	fail := func(err error) error {
		for _, r := range d.act {
			d.Free(r.Slot)
		}
		return err
	}
	for j := 0; ; j++ {
		d.b.Reset()
		var got []*Request
		for _, r := range d.act {
			sl := &d.slots[r.Slot]
			if j >= sl.k {
				continue
			}
			q := &sl.qs[j]
			if err := sl.s.Dist(q, sl.logits[:V], sl.seq); err != nil {
				return fail(fmt.Errorf("draft model: %w", err))
			}
			t := sl.s.Draw(q)
			r.Tokens = append(r.Tokens, t)
			r.Dists = append(r.Dists, q)
			if j == sl.k-1 {
				continue
			}
			sl.seq = append(sl.seq, t)
			sl.fed = append(sl.fed, t)
			d.b.Add(r.Slot, len(sl.seq)-1, t, true)
			got = append(got, r)
		}
		if len(got) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		logits, err := d.c.Model.Forward(&d.b, d.cache)
		if err != nil {
			return fail(fmt.Errorf("draft model: %w", err))
		}
		d.keep(got, logits)
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
