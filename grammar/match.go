package grammar

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"unicode/utf8"
)

// node is one frame of a parse stack: the element to match next (pos) over the frames
// below (next). Nodes are hash-consed by a Matcher, so equal stacks are the same pointer.
type node struct {
	pos  int
	next *node
	id   uint32 // unique among the nodes of one Matcher
	cost int32  // bytes that complete the sentence from this stack (see budget.go)
}

// state is the recognizer's state: the possible stacks, each with a character class on
// top, whether the input so far is a complete sentence, and the bytes of a character not
// yet complete.
type state struct {
	stacks   []*node
	complete bool
	partial  [utf8.UTFMax]byte
	npartial int
}

func (s *state) dead() bool { return len(s.stacks) == 0 && !s.complete }

// ErrRejected is returned by Matcher.Accept for a token the grammar does not allow.
var ErrRejected = errors.New("grammar: token not allowed by the grammar")

// maxStacks bounds the parse stacks of one state (an ambiguous grammar may multiply them).
const maxStacks = 4096

// Vocab is a model's vocabulary prepared for masking: a trie of the tokens' bytes. Build
// it once per model and share it: it is safe for concurrent use, and it keeps the
// recognizer's tables of up to 16 grammars (starting over when a 17th comes), so that
// every sequence constrained by the same grammar shares them.
type Vocab struct {
	size  int
	texts []string
	eos   []int
	trie  []trieNode
	ends  []int32
	empty []int // tokens with no bytes (control tokens), never allowed but EOS
	// single[b]: some token is the one byte b (for the closing bounds of budget.go).
	single [256]bool
	// shared holds the tables of the grammars matched against this vocabulary, by the
	// grammar's key.
	mu     sync.Mutex
	shared map[string]*tables
}

type trieNode struct {
	first, last int32 // children: trie[first:last] hold them, sorted by byte
	tok, tokEnd int32 // tokens whose bytes end here: Vocab.ends[tok:tokEnd]
	b           byte
}

// NewVocab builds a Vocab from each token's bytes (texts[id], as the model's decoder
// emits them) and the end-of-sequence ids.
func NewVocab(texts []string, eos []int) *Vocab {
	v := &Vocab{size: len(texts), eos: eos, texts: texts}
	// Build with maps, then lay the trie out breadth-first so children are contiguous.
	type mnode struct {
		kids   map[byte]*mnode
		tokens []int32
	}
	root := &mnode{}
	for id, t := range texts {
		if t == "" {
			v.empty = append(v.empty, id)
			continue
		}
		if len(t) == 1 {
			v.single[t[0]] = true
		}
		n := root
		for i := 0; i < len(t); i++ {
			if n.kids == nil {
				n.kids = map[byte]*mnode{}
			}
			k := n.kids[t[i]]
			if k == nil {
				k = &mnode{}
				n.kids[t[i]] = k
			}
			n = k
		}
		n.tokens = append(n.tokens, int32(id))
	}
	queue := []*mnode{root}
	v.trie = []trieNode{{}}
	for qi := 0; qi < len(queue); qi++ {
		m := queue[qi]
		v.trie[qi].tok = int32(len(v.ends))
		v.ends = append(v.ends, m.tokens...)
		v.trie[qi].tokEnd = int32(len(v.ends))
		v.trie[qi].first = int32(len(v.trie))
		for b := 0; b < 256; b++ {
			if k := m.kids[byte(b)]; k != nil {
				v.trie = append(v.trie, trieNode{b: byte(b)})
				queue = append(queue, k)
			}
		}
		v.trie[qi].last = int32(len(v.trie))
	}
	return v
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return v.size }

// Matcher tracks one sequence's progress through a grammar. It is not safe for
// concurrent use: give each sequence its own. Matchers of the same grammar (the same
// rules, compared by their text) and Vocab share one set of tables, so a state one
// sequence met costs the others nothing.
type Matcher struct {
	t  *tables
	st state
	// prep is the allowed set Prepare computed for the current state and a budget of
	// prepLeft (valid while prepOK).
	prep     []uint64
	prepLeft int
	prepOK   bool
}

// tables are the recognizer's tables for one grammar and vocabulary, shared by every
// Matcher of them: the hash-consed parse-stack nodes, the states met so far with their
// transitions by byte (so that the trie walk of a mask is one table lookup a node once
// the states are known: inside a JSON string almost every token leads back to the same
// state), and the masks of recent states. mu guards everything.
type tables struct {
	mu     sync.Mutex
	g      *Grammar
	v      *Vocab
	c      *costs
	nodes  map[nodeKey]*node
	nextID uint32
	depth  int
	// dstates are the interned states; dindex finds them by key.
	dstates []*dstate
	dindex  map[string]int32
	key     []byte
	// masks holds, by interned state, the tokens allowed there as a bit set (immutable
	// once made, so it is read without the lock); within holds the masks of states whose
	// budget binds, by state and the largest closing bound allowed after the token.
	masks  map[int32]*mask
	within map[[2]int32][]uint64
}

// mask is the set of tokens allowed from a state, with the largest and smallest closing
// bound (budget.go) of the states they lead to.
type mask struct {
	bits             []uint64
	maxNext, minNext int32
	// levels are the allowed tokens by the closing bound of their next state, in
	// increasing order (made on the first step whose budget binds in this state).
	levels []level
}

// level is the set of the tokens allowed from a state whose next state has one closing
// bound.
type level struct {
	cost int32
	bits []uint64
}

// maxMasks bounds the cached masks of a grammar's tables.
const maxMasks = 256

type nodeKey struct {
	pos  int
	next *node
}

// dstate is an interned state with its known transitions: next[b] is 0 when not yet
// computed, -1 when b is rejected, else the next state's index + 1.
type dstate struct {
	st   state
	next *[256]int32
	cost int32 // the closing bound of st
}

// maxDStates bounds the interned states of a grammar's tables (1 KiB each); past it the
// tables start over at the next Mask.
const maxDStates = 1 << 14

// maxShared bounds the grammars whose tables a Vocab keeps: each holds at most maxDStates
// states (1 KiB of transitions each) and maxMasks masks (a bit a token each), so a Vocab's
// tables stay within maxShared × (16 MiB + 256 × vocabulary/8 B) however many different
// grammars clients send.
const maxShared = 16

// tablesFor returns the shared tables of g for v, making them on first use.
func (v *Vocab) tablesFor(g *Grammar) *tables {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.shared[g.key]; ok {
		return t
	}
	if v.shared == nil || len(v.shared) >= maxShared {
		v.shared = map[string]*tables{} // matchers keep theirs; new ones start afresh
	}
	t := &tables{g: g, v: v, c: closingCosts(g, v), nodes: map[nodeKey]*node{}, dindex: map[string]int32{},
		masks: map[int32]*mask{}, within: map[[2]int32][]uint64{}}
	v.shared[g.key] = t
	return t
}

// intern returns the index of st among the interned states.
func (m *tables) intern(st state) int32 {
	k := m.key[:0]
	if st.complete {
		k = append(k, 1)
	} else {
		k = append(k, 0)
	}
	k = append(k, byte(st.npartial))
	k = append(k, st.partial[:st.npartial]...)
	ids := make([]uint32, len(st.stacks))
	for i, n := range st.stacks {
		ids[i] = n.id
	}
	slices.Sort(ids)
	for _, id := range ids {
		k = append(k, byte(id), byte(id>>8), byte(id>>16), byte(id>>24))
	}
	m.key = k
	if i, ok := m.dindex[string(k)]; ok {
		return i
	}
	i := int32(len(m.dstates))
	d := &dstate{st: st, next: new([256]int32), cost: m.stateCost(&st)}
	m.dstates = append(m.dstates, d)
	m.dindex[string(k)] = i
	return i
}

// trans is the state after byte b from interned state i, or -1 if b is rejected.
func (m *tables) trans(i int32, b byte) (int32, error) {
	d := m.dstates[i]
	if n := d.next[b]; n != 0 {
		if n < 0 {
			return -1, nil
		}
		return n - 1, nil
	}
	next, err := m.stepByte(&d.st, b)
	if err != nil {
		return 0, err
	}
	n := int32(-1)
	if !next.dead() {
		n = m.intern(next) + 1
	}
	d.next[b] = n
	return max(n-1, -1), nil
}

// NewMatcher starts matching g from its root rule, for tokens of v.
func NewMatcher(g *Grammar, v *Vocab) (*Matcher, error) {
	t := v.tablesFor(g)
	t.mu.Lock()
	defer t.mu.Unlock()
	var st state
	for _, a := range g.alts[g.root] {
		if err := t.expand(&st, t.mk(a, nil)); err != nil {
			return nil, err
		}
	}
	return &Matcher{t: t, st: st}, nil
}

func (m *tables) mk(pos int, next *node) *node {
	k := nodeKey{pos, next}
	if n, ok := m.nodes[k]; ok {
		return n
	}
	if len(m.nodes) > 1<<20 { // drop the table: sharing is lost, not correctness
		clear(m.nodes)
	}
	m.nextID++
	n := &node{pos: pos, next: next, id: m.nextID, cost: m.c.rest[pos]}
	if next != nil {
		n.cost = addCost(n.cost, next.cost)
	}
	m.nodes[k] = n
	return n
}

// expand adds to st the stacks reachable from n without consuming a character, each
// with a character class on top (or marks st complete).
func (m *tables) expand(st *state, n *node) error {
	m.depth++
	defer func() { m.depth-- }()
	if m.depth > 10000 {
		return fmt.Errorf("grammar: rules nested too deep while matching")
	}
	if n == nil {
		st.complete = true
		return nil
	}
	e := &m.g.elems[n.pos]
	switch e.kind {
	case kEnd:
		if n.next == nil {
			st.complete = true
			return nil
		}
		return m.expand(st, m.mk(n.next.pos, n.next.next))
	case kRule:
		// The frame to return to; a reference that ends its alternative returns straight
		// to the frame below (a tail call), so that right recursion, which repetitions
		// are rewritten into, keeps the stack from growing: a JSON string's characters
		// then all lead back to one state, whose mask is computed once.
		ret := n.next
		if m.g.elems[n.pos+1].kind != kEnd {
			ret = m.mk(n.pos+1, n.next)
		}
		for _, a := range m.g.alts[e.rule] {
			if err := m.expand(st, m.mk(a, ret)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, s := range st.stacks {
		if s == n {
			return nil
		}
	}
	if len(st.stacks) >= maxStacks {
		return fmt.Errorf("grammar: more than %d parse stacks: the grammar is too ambiguous", maxStacks)
	}
	st.stacks = append(st.stacks, n)
	return nil
}

// stepByte feeds one byte to from, returning the next state (dead if rejected).
func (m *tables) stepByte(from *state, b byte) (state, error) {
	var to state
	buf := append(from.partial[:from.npartial:from.npartial], b)
	if !utf8.FullRune(buf) {
		// An incomplete character: keep it while some class may match a character that
		// starts with these bytes.
		lo, hi, ok := runeSpan(buf)
		if !ok {
			return to, nil
		}
		for _, s := range from.stacks {
			if m.g.elems[s.pos].mayMatch(lo, hi) {
				to.stacks = from.stacks
				to.npartial = copy(to.partial[:], buf)
				return to, nil
			}
		}
		return to, nil
	}
	r, size := utf8.DecodeRune(buf)
	if r == utf8.RuneError && size <= 1 {
		return to, nil // invalid UTF-8 never matches
	}
	for _, s := range from.stacks {
		if m.g.elems[s.pos].matches(r) {
			if err := m.expand(&to, m.mk(s.pos+1, s.next)); err != nil {
				return state{}, err
			}
		}
	}
	return to, nil
}

// runeSpan is the range of valid characters whose UTF-8 encoding starts with the
// incomplete sequence p; ok is false when no valid character does.
func runeSpan(p []byte) (lo, hi rune, ok bool) {
	var n int
	var minR, maxR rune
	switch c := p[0]; {
	case c >= 0xC2 && c <= 0xDF:
		n, minR, maxR = 2, 0x80, 0x7FF
	case c >= 0xE0 && c <= 0xEF:
		n, minR, maxR = 3, 0x800, 0xFFFF
	case c >= 0xF0 && c <= 0xF4:
		n, minR, maxR = 4, 0x10000, utf8.MaxRune
	default:
		return 0, 0, false
	}
	lo = rune(p[0]) & (0x7F >> n)
	for i := 1; i < len(p); i++ {
		if p[i] < 0x80 || p[i] > 0xBF {
			return 0, 0, false
		}
		lo = lo<<6 | rune(p[i]&0x3F)
	}
	hi = lo
	for i := len(p); i < n; i++ {
		lo, hi = lo<<6, hi<<6|0x3F
	}
	lo, hi = max(lo, minR), min(hi, maxR)
	// Surrogates are not characters: trim them from the ends of the span.
	if lo >= 0xD800 && lo <= 0xDFFF {
		lo = 0xE000
	}
	if hi >= 0xD800 && hi <= 0xDFFF {
		hi = 0xD7FF
	}
	return lo, hi, lo <= hi
}

// Complete reports whether the tokens so far form a whole sentence of the grammar (so the
// end of sequence is allowed).
func (m *Matcher) Complete() bool { return m.st.complete && m.st.npartial == 0 }

// Done reports whether the sentence is complete and nothing may follow it.
func (m *Matcher) Done() bool { return m.Complete() && len(m.st.stacks) == 0 }

// Accept advances past token id; ErrRejected if the grammar does not allow it (the
// state is then unchanged). An end-of-sequence token is accepted when Complete.
func (m *Matcher) Accept(id int) error {
	v := m.t.v
	if slices.Contains(v.eos, id) {
		if m.Complete() {
			return nil
		}
		return ErrRejected
	}
	if id < 0 || id >= len(v.texts) {
		return ErrRejected
	}
	text := v.texts[id]
	if text == "" {
		return ErrRejected
	}
	t := m.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reset()
	si := t.intern(m.st)
	for i := 0; i < len(text); i++ {
		next, err := t.trans(si, text[i])
		if err != nil {
			return err
		}
		if next < 0 || (len(t.dstates[next].st.stacks) == 0 && i < len(text)-1) {
			return ErrRejected
		}
		si = next
	}
	m.st = t.dstates[si].st
	m.prepOK = false
	return nil
}

// reset starts the tables over once they hold maxDStates states (matchers keep their
// states: only the sharing of work is lost).
func (t *tables) reset() {
	if len(t.dstates) >= maxDStates {
		t.dstates, t.dindex = t.dstates[:0:0], map[string]int32{}
		clear(t.masks)
		clear(t.within)
	}
}

// allowed returns the bit set of the tokens allowed from the matcher's state (without
// the end-of-sequence rule) when left tokens may still be generated, this one included
// (left < 0: no limit), computing it on the state's first visit. Within the budget means
// a closing bound of at most left-1 after the token; when the budget does not bind (no
// allowed token leads past it) the set is the unlimited one. When no token is within it
// (a budget below the bound from the start), the tokens of the smallest bound are allowed.
func (m *Matcher) allowed(left int) ([]uint64, error) {
	t := m.t
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reset()
	si := t.intern(m.st)
	mk, ok := t.masks[si]
	if !ok {
		mk = &mask{bits: make([]uint64, (t.v.size+63)/64), minNext: infCost}
		err := t.walk(0, si, func(ids []int32, cost int32) {
			if cost < infCost { // a state single bytes cannot close never makes the budget bind
				mk.maxNext = max(mk.maxNext, cost)
			}
			mk.minNext = min(mk.minNext, cost)
			for _, id := range ids {
				if int(id) < len(mk.bits)*64 {
					mk.bits[id/64] |= 1 << uint(id%64)
				}
			}
		})
		if err != nil {
			return nil, err
		}
		if len(t.masks) >= maxMasks {
			clear(t.masks)
		}
		t.masks[si] = mk
	}
	if left < 0 || int64(mk.maxNext) <= int64(left)-1 || mk.minNext >= infCost {
		return mk.bits, nil
	}
	limit := int32(max(left-1, 0))
	if limit < mk.minNext {
		limit = mk.minNext // best effort: close as soon as possible
	}
	key := [2]int32{si, limit}
	if bits, ok := t.within[key]; ok {
		return bits, nil
	}
	if mk.levels == nil {
		if err := t.walkLevels(si, mk); err != nil {
			return nil, err
		}
	}
	bits := make([]uint64, len(mk.bits))
	for _, l := range mk.levels {
		if l.cost > limit {
			break
		}
		for w, x := range l.bits {
			bits[w] |= x
		}
	}
	if len(t.within) >= maxMasks {
		clear(t.within)
	}
	t.within[key] = bits
	return bits, nil
}

// walkLevels sorts the tokens allowed from interned state si into mk's levels by the
// closing bound of the state each leads to: one walk of the vocabulary serves every
// budget.
func (t *tables) walkLevels(si int32, mk *mask) error {
	byCost := map[int32][]uint64{}
	err := t.walk(0, si, func(ids []int32, cost int32) {
		b := byCost[cost]
		if b == nil {
			b = make([]uint64, len(mk.bits))
			byCost[cost] = b
		}
		for _, id := range ids {
			if int(id) < len(b)*64 {
				b[id/64] |= 1 << uint(id%64)
			}
		}
	})
	if err != nil {
		return err
	}
	mk.levels = make([]level, 0, len(byCost))
	for c, b := range byCost {
		mk.levels = append(mk.levels, level{c, b})
	}
	slices.SortFunc(mk.levels, func(a, b level) int { return int(a.cost) - int(b.cost) })
	return nil
}

// Prepare computes ahead the tokens MaskWithin(logits, left) will allow from the current
// state (the walk of the vocabulary on a state's first visit), so that a caller may do it
// while the model computes the logits; MaskWithin then only applies them. It does not
// change what MaskWithin returns.
func (m *Matcher) Prepare(left int) error {
	bits, err := m.allowed(left)
	if err != nil {
		return err
	}
	m.prep, m.prepLeft, m.prepOK = bits, left, true
	return nil
}

// Mask sets to -Inf the logits of every token the grammar does not allow next: tokens
// whose bytes it cannot consume, tokens without bytes, and the end-of-sequence tokens
// unless the sentence is Complete. It returns how many tokens stay allowed.
func (m *Matcher) Mask(logits []float32) (int, error) { return m.MaskWithin(logits, -1) }

// MaskWithin is Mask for a sequence that may generate at most left more tokens, this one
// included: when that budget is short, it also masks the tokens after which the sentence
// could not be completed within it (see CloseBound), so that a sequence whose budget
// covers CloseBound when it starts always ends complete. When the budget does not bind
// (every allowed token leaves enough), the mask is Mask's, so sampling is unchanged. A
// negative left means no limit.
func (m *Matcher) MaskWithin(logits []float32, left int) (int, error) {
	bits := m.prep
	if !m.prepOK || m.prepLeft != left {
		var err error
		if bits, err = m.allowed(left); err != nil {
			return 0, err
		}
	}
	// EOS tokens have no bytes, so they are not in the trie: keep their logits when the
	// sentence is complete.
	eosIDs := m.t.v.eos
	complete := m.Complete()
	var buf [4]float32
	eos := buf[:0]
	if complete {
		for _, e := range eosIDs {
			var x float32
			if e >= 0 && e < len(logits) {
				x = logits[e]
			}
			eos = append(eos, x)
		}
	}
	n := applyBits(logits, bits)
	if complete {
		for k, e := range eosIDs {
			if e >= 0 && e < len(logits) {
				logits[e] = eos[k]
				n++
			}
		}
	}
	return n, nil
}

// applyBits sets to -Inf the logits whose bit is clear and returns how many bits are set.
func applyBits(logits []float32, bits []uint64) int {
	inf := float32(math.Inf(-1))
	n := 0
	for w, word := range bits {
		lo := w * 64
		hi := min(lo+64, len(logits))
		if lo >= hi {
			break
		}
		if hi-lo < 64 {
			word &= 1<<uint(hi-lo) - 1
		}
		switch word {
		case 0:
			row := logits[lo:hi]
			for i := range row {
				row[i] = inf
			}
			continue
		case ^uint64(0):
			n += hi - lo
			continue
		}
		n += bits64(word)
		for i := lo; i < hi; i++ {
			if word&(1<<uint(i-lo)) == 0 {
				logits[i] = inf
			}
		}
	}
	for i := len(bits) * 64; i < len(logits); i++ {
		logits[i] = inf
	}
	return n
}

// walk visits the children of trie node ni from interned state si, calling visit with the
// tokens that end at each node the grammar allows and the closing bound (budget.go) of the
// state they lead to.
func (t *tables) walk(ni int32, si int32, visit func(ids []int32, cost int32)) error {
	v := t.v
	tn := &v.trie[ni]
	for ci := tn.first; ci < tn.last; ci++ {
		c := &v.trie[ci]
		next, err := t.trans(si, c.b)
		if err != nil {
			return err
		}
		if next < 0 {
			continue
		}
		d := t.dstates[next]
		if c.tok < c.tokEnd {
			visit(v.ends[c.tok:c.tokEnd], d.cost)
		}
		if c.first < c.last && len(d.st.stacks) > 0 {
			if err := t.walk(ci, next, visit); err != nil {
				return err
			}
		}
	}
	return nil
}

func bits64(w uint64) int { return bits.OnesCount64(w) }
