package decilm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/draft"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
)

// DefaultDraftMax bounds the tokens drafted per step when Draft.Max is 0.
const DefaultDraftMax = draft.DefaultMax

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

// Config checks d against the target m and returns the drafting layer's configuration
// (package draft, defaults filled in), caching the draft model's keys and values in type
// ct as the target does (in f16 where the draft model cannot use ct). Generate and
// engine both draft with it.
func (d *Draft) Config(m *Model, ct model.CacheType) (draft.Config, error) {
	c := draft.Config{NGram: d.NGram, Max: d.Max, CacheType: ct}
	if d.Model != nil {
		if err := CheckSameVocab(m, d.Model); err != nil {
			return c, err
		}
		c.Model = d.Model.Net
	}
	return c.Check()
}
