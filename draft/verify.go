package draft

import (
	"fmt"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// Verifier checks drafted tokens against the target model, keeping its distributions
// between calls. The zero value is ready to use; it is not safe for concurrent use.
type Verifier struct {
	ps   []sample.Dist
	hist []int
	out  []int
}

// Verify checks drafts, drawn after hist from the distributions qs (nil entries: point
// masses), against the target's logits: rows holds len(drafts)+1 rows of vocab logits,
// row j those after hist and drafts[:j] (the first row is the one plain decoding samples
// hist's next token from). The drafts are checked in order with s.Verify on s's processed
// distribution of each row (its penalties see the drafted history); the result is the
// accepted drafts followed by one token of the target's own: the replacement of the first
// rejected draft or, when all were accepted, a token drawn from the last row. acc is the
// number of drafts accepted, so toks has acc+1 tokens and toks[j] was chosen from row j.
// The slice is reused by the next call.
func (v *Verifier) Verify(s *sample.Sampler, rows []float32, vocab int, hist, drafts []int, qs []*sample.Dist) (toks []int, acc int, err error) {
	if len(rows) < (len(drafts)+1)*vocab {
		return nil, 0, fmt.Errorf("draft: %d logits for %d drafts of a %d-token vocabulary", len(rows), len(drafts), vocab)
	}
	if len(v.ps) < len(drafts)+1 {
		v.ps = append(v.ps, make([]sample.Dist, len(drafts)+1-len(v.ps))...)
	}
	v.hist = append(v.hist[:0], hist...)
	v.out = v.out[:0]
	for j := 0; j <= len(drafts); j++ {
		p := &v.ps[j]
		if err := s.Dist(p, rows[j*vocab:(j+1)*vocab], v.hist); err != nil {
			return nil, 0, err
		}
		if j == len(drafts) {
			v.out = append(v.out, s.Draw(p))
			break
		}
		t, ok := s.Verify(p, qs[j], drafts[j])
		v.out = append(v.out, t)
		if !ok {
			break
		}
		acc++
		v.hist = append(v.hist, t)
	}
	return v.out, acc, nil
}

// Length chooses how many tokens to draft: it grows by half (at least one) after a round
// whose drafts were all accepted and drops to one past the accepted run after a
// rejection, within [1, max]. After four rounds in a row with nothing accepted it drafts
// nothing for a while (16 tokens, doubling up to 128 while the drafts keep failing), then
// tries one token again, so that a drafter that never agrees costs little.
type Length struct {
	k, max          int
	misses          int // rounds in a row with nothing accepted
	pause, pauseLen int
}

// NewLength returns a Length drafting at most limit tokens, starting at half of that.
func NewLength(limit int) *Length {
	return &Length{k: max(1, limit/2), max: limit, pauseLen: 16}
}

// Next is the length of the next draft (0: a plain step).
func (d *Length) Next() int {
	if d.pause > 0 {
		d.pause--
		if d.pause == 0 {
			d.k = 1
		}
		return 0
	}
	return d.k
}

// Update records a round that drafted n tokens and had acc accepted (n = 0: a round
// without drafts, which changes nothing).
func (d *Length) Update(n, acc int) {
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

// Room bounds the tokens a sequence of histLen tokens (the last not yet fed), with left
// more tokens to generate, may draft in one round: none past the tokens still wanted, so
// that the cache never holds more positions than the sequence's budget reserves, and,
// with dynamic NTK RoPE, none whose row would see a longer sequence than plain decoding
// does (its base grows with the sequence past MaxPositions, so rows must not run ahead
// there).
func Room(cfg *model.Config, histLen, left int) int {
	k := left - 1
	if cfg.RopeScaling.Type == "dynamic" {
		k = min(k, cfg.MaxPositions-histLen)
	}
	return max(k, 0)
}
