package grammar

import (
	"container/heap"
	"unicode/utf8"
)

// Closing within a budget. A sampled sequence has a token budget (max_tokens, or the
// room left in the context); a grammar that is cut off by it leaves text that does not
// parse. So every interned state knows an upper bound on the tokens still needed to
// complete the sentence: the fewest bytes of a completion written one single-byte token
// at a time (SentencePiece's byte fallback and byte-level BPE have a token for every
// byte; a byte without one is not used). When a step's budget is short, Mask leaves out
// the tokens after which that bound exceeds the tokens left. The bound is exact for
// single-byte steps (the cheapest next byte lowers it by one), so the mask never empties
// while the budget covers the bound, and a sequence that starts within it always closes.

// infCost is the cost of what cannot be completed with single-byte tokens.
const infCost = int32(1 << 30)

func addCost(a, b int32) int32 { return min(a+b, infCost) }

// costs are the closing costs of a grammar's elements over a vocabulary.
type costs struct {
	rest   []int32 // by element index: bytes to match the rest of its alternative
	contOK bool    // every UTF-8 continuation byte is a single-byte token
}

// charCost is the fewest bytes of a character class matches, writing each byte with its
// single-byte token.
func (v *Vocab) charCost(e *elem) int32 {
	for b := 0; b < utf8.RuneSelf; b++ {
		if v.single[b] && e.matches(rune(b)) {
			return 1
		}
	}
	best := infCost
	if !v.contOK() {
		return best
	}
	for c := 0xC2; c <= 0xF4; c++ {
		if !v.single[c] {
			continue
		}
		lo, hi, ok := runeSpan([]byte{byte(c)})
		if ok && e.mayMatch(lo, hi) {
			best = min(best, int32(utf8.RuneLen(lo)))
		}
	}
	return best
}

// contOK reports whether every UTF-8 continuation byte is a single-byte token.
func (v *Vocab) contOK() bool {
	for b := 0x80; b <= 0xBF; b++ {
		if !v.single[b] {
			return false
		}
	}
	return true
}

// closingCosts computes, for every element of g, the fewest bytes that complete its
// alternative from it: Knuth's generalisation of Dijkstra's algorithm to grammars, a rule
// settled when its cheapest alternative is (costs are sums of non-negative parts).
func closingCosts(g *Grammar, v *Vocab) *costs {
	nr := len(g.alts)
	rule := make([]int32, nr)
	for i := range rule {
		rule[i] = infCost
	}
	// For each alternative (by start index): its rule, the sum of its known parts and how
	// many rule references are unsettled; users[r] lists the alternatives referring to r.
	type alt struct {
		rule    int
		sum     int32
		pending int
	}
	var alts []alt
	users := make([][]int, nr)
	char := make([]int32, len(g.elems))
	h := &costHeap{}
	for r, starts := range g.alts {
		for _, p := range starts {
			a := alt{rule: r}
			for ; g.elems[p].kind != kEnd; p++ {
				e := &g.elems[p]
				if e.kind == kChar {
					char[p] = v.charCost(e)
					a.sum = addCost(a.sum, char[p])
					continue
				}
				a.pending++
				users[e.rule] = append(users[e.rule], len(alts))
			}
			alts = append(alts, a)
			if a.pending == 0 {
				heap.Push(h, costItem{r, a.sum})
			}
		}
	}
	settled := make([]bool, nr)
	for h.Len() > 0 {
		it := heap.Pop(h).(costItem)
		if settled[it.rule] {
			continue
		}
		settled[it.rule], rule[it.rule] = true, it.cost
		for _, ai := range users[it.rule] { // once per reference
			a := &alts[ai]
			a.sum = addCost(a.sum, it.cost)
			if a.pending--; a.pending == 0 && !settled[a.rule] {
				heap.Push(h, costItem{a.rule, a.sum})
			}
		}
	}
	c := &costs{rest: make([]int32, len(g.elems)), contOK: v.contOK()}
	for p := len(g.elems) - 1; p >= 0; p-- {
		switch e := &g.elems[p]; e.kind {
		case kEnd:
			c.rest[p] = 0
		case kChar:
			c.rest[p] = addCost(char[p], c.rest[p+1])
		case kRule:
			c.rest[p] = addCost(rule[e.rule], c.rest[p+1])
		}
	}
	return c
}

type costItem struct {
	rule int
	cost int32
}

type costHeap []costItem

func (h costHeap) Len() int           { return len(h) }
func (h costHeap) Less(i, j int) bool { return h[i].cost < h[j].cost }
func (h costHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *costHeap) Push(x any)        { *h = append(*h, x.(costItem)) }
func (h *costHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// stateCost is the bound of st: 0 when complete, else the cheapest of its stacks (a
// stack's node knows the cost of its frames; a partial character first needs its missing
// continuation bytes, under a class that may match it).
func (t *tables) stateCost(st *state) int32 {
	if st.complete && st.npartial == 0 {
		return 0
	}
	best := infCost
	var lo, hi rune
	var need int32
	if st.npartial > 0 {
		var ok bool
		if lo, hi, ok = runeSpan(st.partial[:st.npartial]); !ok || !t.c.contOK {
			return infCost
		}
		need = int32(utf8.RuneLen(lo) - st.npartial)
	}
	for _, n := range st.stacks {
		if st.npartial == 0 {
			best = min(best, n.cost)
			continue
		}
		if t.g.elems[n.pos].mayMatch(lo, hi) {
			c := addCost(need, t.c.rest[n.pos+1])
			if n.next != nil {
				c = addCost(c, n.next.cost)
			}
			best = min(best, c)
		}
	}
	return best
}

// CloseBound is an upper bound on the tokens that complete the sentence from the
// matcher's state (0 once Complete), or -1 when the vocabulary's single-byte tokens
// cannot complete it. Mask keeps every sequence whose budget covers it able to close.
func (m *Matcher) CloseBound() int {
	t := m.t
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.stateCost(&m.st)
	if c >= infCost {
		return -1
	}
	return int(c)
}
