package engine

import "github.com/decilm/decilm/model"

// kvSlots is what the scheduler does to the KV cache: *model.Cache, or a stand-in in
// tests.
type kvSlots interface {
	Len(slot int) int
	Truncate(slot, n int)
	Free(slot int)
	Reserve(slot, n int)
}

// scheduler holds the engine's admission and memory rules apart from the model and the
// streams, so that they are tested on their own: which slot an admitted sequence takes,
// what the KV budget allows, which cached prompts are dropped when memory is needed, how
// a finished sequence's slot keeps its prompt for reuse, and how the rows of a step are
// shared between decoding and prefill. It is used by the engine's loop goroutine only.
type scheduler struct {
	kv      kvSlots
	budget  int64 // bytes admitted sequences may reserve
	perTk   int64 // bytes a token takes
	noReuse bool  // prompt caching off
	// maxReuse, when > 0, is the longest history whose keys and values may be reused
	// (with dynamic NTK RoPE, keys past the trained context depend on the length).
	maxReuse int

	free     []int            // free slots; the last is taken first
	slotToks [][]int          // per slot: the tokens a free slot still holds (prompt caching)
	slotRes  []int64          // per slot: the reservation those tokens came with
	slotAd   []*model.Adapter // per slot: the LoRA adapter those tokens were computed with
	reserved int64            // bytes reserved by admitted sequences
}

func newScheduler(slots int, budget, perTk int64, noReuse bool, maxReuse int, kv kvSlots) *scheduler {
	s := &scheduler{kv: kv, budget: budget, perTk: perTk, noReuse: noReuse, maxReuse: maxReuse,
		slotToks: make([][]int, slots), slotRes: make([]int64, slots), slotAd: make([]*model.Adapter, slots)}
	for i := slots - 1; i >= 0; i-- {
		s.free = append(s.free, i)
	}
	return s
}

// fits reports whether a sequence reserving reserve bytes may be admitted now: a slot is
// free and the budget has room beside the admitted sequences (cached prompts give way).
func (s *scheduler) fits(reserve int64) bool {
	return len(s.free) > 0 && s.reserved+reserve <= s.budget
}

// admit gives a sequence with prompt, LoRA adapter ad (nil: none) and reservation reserve
// (which fits) a slot: the free slot whose cached tokens, computed under the same adapter,
// share the longest prefix with the prompt, all but its last token (whose logits are
// always computed), when reuse is allowed; else an empty
// slot, or the least recently freed cached one. It drops cached slots, largest
// reservation first, while the budget needs their memory, and reserves the sequence's
// memory in the cache. It returns the slot and the number of prompt tokens already there.
func (s *scheduler) admit(prompt []int, ad *model.Adapter, reserve int64, reuse bool) (slot, cached int) {
	bi, bl := -1, 0
	if reuse && !s.noReuse && len(prompt) > 0 {
		head := prompt[:len(prompt)-1]
		for i, sl := range s.free {
			if l := commonPrefix(s.slotToks[sl], head); l > bl && s.slotAd[sl] == ad {
				bi, bl = i, l
			}
		}
	}
	if bi < 0 { // no reuse: an empty slot if there is one, keeping cached ones
		bi = len(s.free) - 1
		for i := len(s.free) - 1; i >= 0; i-- {
			if s.slotToks[s.free[i]] == nil {
				bi = i
				break
			}
		}
	}
	slot = s.free[bi]
	s.free = append(s.free[:bi], s.free[bi+1:]...)
	if bl > 0 {
		s.kv.Truncate(slot, bl)
		s.slotToks[slot], s.slotRes[slot], s.slotAd[slot] = nil, 0, nil
	} else {
		s.drop(slot)
	}
	for s.reserved+reserve+s.cachedBytes() > s.budget {
		big := -1
		for _, sl := range s.free {
			if s.slotRes[sl] > 0 && (big < 0 || s.slotRes[sl] > s.slotRes[big]) {
				big = sl
			}
		}
		if big < 0 {
			break
		}
		s.drop(big)
	}
	s.reserved += reserve
	s.kv.Reserve(slot, int(reserve/max(s.perTk, 1)))
	return slot, bl
}

// release frees slot, held by a sequence whose tokens are history, computed under adapter
// ad, and which reserved reserve bytes. The slot keeps the keys and values it holds for a later prompt to
// reuse, unless prompt caching is off, it holds nothing, or the history is longer than
// maxReuse.
func (s *scheduler) release(slot int, history []int, ad *model.Adapter, reserve int64) {
	n := min(s.kv.Len(slot), len(history))
	if s.noReuse || n == 0 || (s.maxReuse > 0 && len(history) > s.maxReuse) {
		s.drop(slot)
	} else {
		s.slotToks[slot] = append(s.slotToks[slot][:0], history[:n]...)
		s.slotRes[slot] = reserve
		s.slotAd[slot] = ad
	}
	s.free = append(s.free, slot)
	s.reserved -= reserve
}

// drop forgets what slot holds.
func (s *scheduler) drop(slot int) {
	s.kv.Free(slot)
	s.slotToks[slot], s.slotRes[slot], s.slotAd[slot] = nil, 0, nil
}

// cachedBytes is the memory free slots keep for prompt caching, by their reservations.
func (s *scheduler) cachedBytes() int64 {
	var n int64
	for _, sl := range s.free {
		n += s.slotRes[sl]
	}
	return n
}

// prefillRows shares a step's rows: decode rows come first, and the prompts still being
// prefilled (remaining[i] rows left each, in arrival order) take what is left of stepRows,
// at least minPrefill rows in all so that prefill always advances. It returns the rows
// each prompt feeds this step.
func prefillRows(stepRows, decodeRows int, remaining []int) []int {
	budget := max(stepRows-decodeRows, minPrefill)
	take := make([]int, len(remaining))
	for i, r := range remaining {
		if budget == 0 {
			break
		}
		take[i] = min(r, budget)
		budget -= take[i]
	}
	return take
}

// minPrefill is the fewest prefill rows a step offers, however many sequences decode.
const minPrefill = 16
