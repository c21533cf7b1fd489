package decilm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tensor"
)

// DefaultDraftMax bounds the tokens drafted per step when Draft.Max is 0.
const DefaultDraftMax = 8

// maxDraftMax bounds Draft.Max: a verification Forward has Max+1 rows.
const maxDraftMax = 256

// Draft configures speculative decoding for GenerateOptions: a cheap drafter proposes
// several tokens, the model checks them all in one batched Forward and keeps the longest
// run it agrees with, plus one token of its own. Greedy output is the same token for
// token as without a draft, and sampled output has the same distribution (the drafted
// tokens go through the rejection rule of sample.Sampler.Verify on the sampler's own
// processed distribution). Set Model, NGram or both (the model drafts where prompt
// lookup finds nothing).
type Draft struct {
	// Model is a draft model with the same vocabulary as the target (see
	// CheckSameVocab), such as a smaller model of the family or the target's own
	// weights at a lower type (LoadDraft with "self:q4_0"). It may be shared between
	// generations, which use it one at a time.
	Model *Model
	// NGram drafts by prompt lookup: the tokens that followed the latest earlier
	// occurrence of the context's last few tokens (llama.cpp's --lookup). Free to
	// compute, it pays off where the output repeats the input (summaries, edits, code).
	NGram bool
	// Max bounds the tokens drafted per step (0: DefaultDraftMax). The length drafted
	// adapts to how many were accepted: it grows while whole drafts are accepted and
	// falls back to just past the accepted run otherwise.
	Max int
}

// LoadDraft returns the draft model that spec names for target: "self:TYPE" (TYPE
// q4_0, q8_0, f16 or bf16) quantizes the target's weights to TYPE in memory, a second
// copy beside the first; anything else is a checkpoint path opened with opts, which must
// share the target's vocabulary. Close the returned model when done with it.
func LoadDraft(ctx context.Context, target *Model, spec string, opts Options) (*Model, error) {
	if spec == "" {
		return nil, errors.New("draft model: empty name")
	}
	if t, ok := strings.CutPrefix(spec, "self:"); ok {
		return target.Requantize(ctx, t)
	}
	d, err := Load(ctx, spec, opts)
	if err != nil {
		return nil, fmt.Errorf("draft model: %w", err)
	}
	if err := CheckSameVocab(target, d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Requantize returns a copy of m whose weight matrices are stored as typ ("q4_0",
// "q8_0", "f16", "bf16" or "f32"), built in memory by the quantize package's rules (a
// Q4_0 copy keeps the output projection at Q8_0, and rows that are not whole blocks fall
// back to F16). It shares m's tokenizer, template and EOS set. The copy is a draft model
// for speculative decoding: a Q4_0 copy of a BF16 model reads a quarter of its bytes per
// token and agrees with it on most tokens.
func (m *Model) Requantize(ctx context.Context, typ string) (*Model, error) {
	d, err := tensor.ParseDType(typ)
	if err != nil {
		return nil, fmt.Errorf("self:%s: %w", typ, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := quantize.Write(&buf, m.Net, m.Tokenizer, quantize.Options{Type: d, Name: m.Name}); err != nil {
		return nil, fmt.Errorf("self:%s: %w", typ, err)
	}
	name := m.Name + ":" + strings.ToLower(typ)
	f, err := gguf.Parse(name, buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("self:%s: %w", typ, err)
	}
	ck := &checkpoint.Checkpoint{Path: name, Format: checkpoint.GGUF, GGUF: f, Tensors: map[string]*tensor.Tensor{}}
	for _, t := range f.Tensors {
		ck.Tensors[t.Name] = t
		ck.Names = append(ck.Names, t.Name)
	}
	net, err := model.FromCheckpoint(ck, model.Options{Threads: m.Net.Pool().Threads()})
	if err != nil {
		return nil, fmt.Errorf("self:%s: %w", typ, err)
	}
	return &Model{Name: name, Net: net, Tokenizer: m.Tokenizer, Template: m.Template, EOS: m.EOS, Defaults: m.Defaults}, nil
}

// CheckSameVocab reports whether draft can draft for target: the same vocabulary size
// and, for every id, the same piece. The error names the first difference.
func CheckSameVocab(target, draft *Model) error {
	if tv, dv := target.Net.Config.Vocab, draft.Net.Config.Vocab; tv != dv {
		return fmt.Errorf("draft model %s: vocabulary of %d tokens, the model %s has %d", draft.Name, dv, target.Name, tv)
	}
	tt, dt := target.Tokenizer, draft.Tokenizer
	if tt == dt {
		return nil
	}
	if tn, dn := tt.VocabSize(), dt.VocabSize(); tn != dn {
		return fmt.Errorf("draft model %s: tokenizer has %d pieces, the model %s's has %d", draft.Name, dn, target.Name, tn)
	}
	for id := 0; id < tt.VocabSize(); id++ {
		if a, b := tt.Piece(id), dt.Piece(id); a != b {
			return fmt.Errorf("draft model %s: token %d is %q, in the model %s it is %q (the vocabularies differ)", draft.Name, id, b, target.Name, a)
		}
	}
	return nil
}

// drafter proposes tokens for generateDraft.
type drafter struct {
	max   int
	ngram bool
	m     *Model // nil: no draft model
	s     *sample.Sampler
	cache *model.Cache
	limit int   // positions the draft cache holds
	fed   []int // the tokens in the draft cache, in order
	b     model.Batch
	qs    []sample.Dist
	seq   []int // hist and the tokens drafted so far
	out   []int
	qout  []*sample.Dist
}

// newDrafter checks d and prepares its drafter for sequences of up to maxLen tokens,
// caching the draft model's keys and values in type ct as the target does (in f16 when
// the draft model cannot use ct).
func (m *Model) newDrafter(d *Draft, so sample.Options, maxLen int, ct model.CacheType) (*drafter, error) {
	if d.Max < 0 || d.Max > maxDraftMax {
		return nil, fmt.Errorf("draft: Max = %d, want 0 to %d (0: %d)", d.Max, maxDraftMax, DefaultDraftMax)
	}
	if d.Model == nil && !d.NGram {
		return nil, errors.New("draft: neither a draft model nor n-gram drafting is set")
	}
	dr := &drafter{max: d.Max, ngram: d.NGram, m: d.Model}
	if dr.max == 0 {
		dr.max = DefaultDraftMax
	}
	if d.Model != nil {
		if err := CheckSameVocab(m, d.Model); err != nil {
			return nil, err
		}
		so.Seed ^= draftSeedMix
		s, err := sample.New(so)
		if err != nil {
			return nil, err
		}
		dr.s = s
		dr.limit = min(maxLen, d.Model.Net.Config.ContextLength())
		if ct.Check(d.Model.Net.Config) != nil {
			ct = model.CacheF16
		}
		if dr.cache, err = model.NewTypedCache(d.Model.Net.Config, dr.limit, ct); err != nil {
			return nil, fmt.Errorf("draft: %w", err)
		}
	}
	return dr, nil
}

// prefill runs all but the last prompt token through the draft model, so that the first
// draft starts from there.
func (d *drafter) prefill(ctx context.Context, prompt []int) error {
	if d.m == nil {
		return nil
	}
	_, err := d.feed(ctx, prompt[:min(len(prompt)-1, d.limit)], false)
	return err
}

// feed brings the draft cache to hold toks, running only what it does not already hold,
// and returns the logits after the last token when want is set (running that token again
// if the cache held it already).
func (d *drafter) feed(ctx context.Context, toks []int, want bool) ([]float32, error) {
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
		if logits, err = d.m.Net.Forward(&d.b, d.cache); err != nil {
			return nil, fmt.Errorf("draft model: %w", err)
		}
	}
	return logits, nil
}

// draft proposes up to k tokens after hist, with the distribution each was drawn from
// (nil: a point mass, as for prompt lookup). Prompt lookup goes first where it is on; the
// draft model drafts when it finds nothing. The slices are reused by the next call.
func (d *drafter) draft(ctx context.Context, hist []int, k int) ([]int, []*sample.Dist, error) {
	d.out, d.qout = d.out[:0], d.qout[:0]
	if d.ngram {
		if t := lookup(hist, k); len(t) > 0 {
			d.out = append(d.out, t...)
			for range t {
				d.qout = append(d.qout, nil)
			}
			return d.out, d.qout, nil
		}
	}
	if d.m == nil {
		return nil, nil, nil
	}
	k = min(k, d.limit-len(hist)+1) // the last draft is never fed
	if k <= 0 {
		return nil, nil, nil
	}
	if len(d.qs) < k {
		d.qs = append(d.qs, make([]sample.Dist, k-len(d.qs))...)
	}
	vocab := d.m.Net.Config.Vocab
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
		if logits, err = d.m.Net.Forward(&d.b, d.cache); err != nil {
			err = fmt.Errorf("draft model: %w", err)
		}
	}
}

// lookup is prompt-lookup drafting: it finds the latest earlier occurrence in hist of
// hist's last n tokens, for n from 3 down to 2, and returns up to k of the tokens that
// followed it (nil when there is none).
func lookup(hist []int, k int) []int {
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
