package engine

import (
	"context"
	"fmt"

	"github.com/decilm/decilm/draft"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// Speculative decoding in the engine (Options.Draft). One draft.Drafter has a slot per
// engine slot (a sequence of the draft model's KV cache). Each step, every decoding
// sequence that no grammar or min_tokens constrains drafts up to its adaptive length of
// tokens, all of them together (one draft-model Forward per drafted position); its decode row and one row per drafted token go into the step's single
// Forward beside the other sequences' rows and the prefill chunks; the drafts are then
// checked by draft.Verifier with the sequence's own sampler, the accepted ones and the
// target's own next token go through the generation state one by one (so stop strings,
// end of sequence, stop tokens, logprobs and the budget act as without drafts), and the
// target cache is cut back to the accepted tokens. Constrained sequences decode plainly:
// their masks depend on each token accepted before.
//
// Memory: a sequence's reservation counts the draft model's KV bytes per token beside
// the target's (Engine.KVBytesPerToken is their sum), for the same positions, so the
// budget's admission covers both caches; drafts never run past the positions the budget
// reserves (draft.Room).

// SpecStats counts speculative decoding since the start (vLLM's spec_decode counters).
type SpecStats struct {
	// Drafts counts the rounds in which a sequence verified at least one drafted token,
	// DraftTokens the tokens drafted, Accepted those accepted.
	Drafts, DraftTokens, Accepted int64
	// AcceptedPerPos[i] counts the rounds whose drafted token i (from 0) was accepted.
	AcceptedPerPos []int64
}

// seqSpec is one sequence's speculative state.
type seqSpec struct {
	len    *draft.Length
	drafts []int
	qs     []*sample.Dist
	req    draft.Request // what the drafter is asked this step
}

// specSlots applies the scheduler's slot operations to the target cache and to the
// drafter's slot, so that prompt caching reuses and drops both together.
type specSlots struct {
	*model.Cache
	d *draft.Drafter
}

func (k specSlots) Truncate(slot, n int) { k.Cache.Truncate(slot, n); k.d.Truncate(slot, n) }
func (k specSlots) Free(slot int)        { k.Cache.Free(slot); k.d.Free(slot) }
func (k specSlots) Reserve(slot, n int)  { k.Cache.Reserve(slot, n); k.d.Reserve(slot, n) }

// initSpec prepares one drafter per slot when o.Draft is set and adds the draft model's
// KV bytes per token to the engine's.
func (e *Engine) initSpec() error {
	if e.opt.Draft == nil {
		return nil
	}
	c, err := e.opt.Draft.Config(e.m, e.opt.CacheType)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if e.drafter, err = draft.New(c, e.opt.Parallel, e.ctxL); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.draftMax = c.Max
	e.perTk += c.BytesPerToken()
	e.stats.Spec.AcceptedPerPos = make([]int64, c.Max)
	return nil
}

// slots is what the scheduler operates on.
func (e *Engine) slots() kvSlots {
	if e.drafter == nil {
		return e.cache
	}
	return specSlots{e.cache, e.drafter}
}

// draftBytes is the memory slot's drafter holds.
func (e *Engine) draftBytes(slot int) int64 {
	if e.drafter == nil || slot < 0 {
		return 0
	}
	return e.drafter.Bytes(slot)
}

// admitSpec starts s's speculative state once it has a slot.
func (e *Engine) admitSpec(s *seq) {
	if e.drafter == nil {
		return
	}
	if err := e.drafter.Reset(s.slot, s.req.Sampling); err != nil {
		return // sample.New accepted these options in Submit; cannot happen
	}
	s.spec = &seqSpec{len: draft.NewLength(e.draftMax)}
}

// draftAll drafts for every decoding sequence in running that speculates and no grammar
// or min_tokens constrains, all together (the draft model runs one Forward per drafted
// position for all of them). A drafting error ends the sequences that drafted.
func (e *Engine) draftAll(running []*seq) {
	if e.drafter == nil {
		return
	}
	e.dreqs, e.dseqs = e.dreqs[:0], e.dseqs[:0]
	for _, s := range running {
		sp := s.spec
		if sp == nil || s.done || s.next < 0 {
			continue
		}
		sp.drafts, sp.qs = sp.drafts[:0], sp.qs[:0]
		if s.st.Constrained() {
			continue
		}
		hist := s.st.History()
		k := min(sp.len.Next(), draft.Room(e.m.Net.Config, len(hist), s.st.Budget()-s.st.Generated()))
		if k <= 0 {
			continue
		}
		sp.req.Slot, sp.req.Hist, sp.req.K = s.slot, hist, k
		e.dreqs = append(e.dreqs, sp.req)
		e.dseqs = append(e.dseqs, s)
	}
	if len(e.dreqs) == 0 {
		return
	}
	if err := e.drafter.Draft(context.Background(), e.dreqs); err != nil {
		for _, s := range e.dseqs {
			s.finish("", fmt.Errorf("engine: %w", err))
		}
		return
	}
	for i, s := range e.dseqs {
		sp, r := s.spec, e.dreqs[i]
		sp.req.Tokens, sp.req.Dists = r.Tokens, r.Dists // keep the buffers for the next step
		sp.drafts = append(sp.drafts, r.Tokens...)
		sp.qs = append(sp.qs, r.Dists...)
	}
}

// drafts are the tokens s drafted for this step (none when it does not speculate).
func (s *seq) drafts() []int {
	if s.spec == nil {
		return nil
	}
	return s.spec.drafts
}

// drafted is the number of draft rows s has in this step.
func (s *seq) drafted() int { return len(s.drafts()) }

// advanceSpec verifies s's drafts against rows (its decode row's logits, then one row
// per draft), streams the tokens it keeps and cuts the target cache back to them; it
// returns the number of tokens generated.
func (e *Engine) advanceSpec(s *seq, rows []float32) int {
	sp := s.spec
	V := e.m.Net.Config.Vocab
	hist := s.st.History()
	n := len(hist)
	toks, acc, err := e.verifier.Verify(s.st.Sampler(), rows, V, hist, sp.drafts, sp.qs)
	if err != nil {
		s.finish("", fmt.Errorf("engine: %w", err))
		return 0
	}
	e.cache.Truncate(s.slot, n+acc)
	nd := len(sp.drafts)
	sp.len.Update(nd, acc)
	e.mu.Lock()
	e.stats.Spec.Drafts++
	e.stats.Spec.DraftTokens += int64(nd)
	e.stats.Spec.Accepted += int64(acc)
	for i := 0; i < acc && i < len(e.stats.Spec.AcceptedPerPos); i++ {
		e.stats.Spec.AcceptedPerPos[i]++
	}
	e.mu.Unlock()
	sp.drafts, sp.qs = sp.drafts[:0], sp.qs[:0]
	gen := 0
	for i, t := range toks {
		generated, more := s.emit(s.st.Add(t, rows[i*V:(i+1)*V]))
		if generated {
			gen++
		}
		if !more {
			break
		}
	}
	return gen
}
