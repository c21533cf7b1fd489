package grammar

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// node is one frame of a parse stack: the element to match next (pos) over the frames
// below (next). Nodes are hash-consed by a Matcher, so equal stacks are the same pointer.
type node struct {
	pos  int
	next *node
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
// it once per model; it is immutable and safe for concurrent use.
type Vocab struct {
	size  int
	texts []string
	eos   []int
	trie  []trieNode
	empty []int // tokens with no bytes (control tokens), never allowed but EOS
}

type trieNode struct {
	first, last int32 // children: trie[first:last] hold them, sorted by byte
	b           byte
	tokens      []int32 // tokens whose bytes end here
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
		v.trie[qi].tokens = m.tokens
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
// concurrent use: give each sequence its own.
type Matcher struct {
	g     *Grammar
	v     *Vocab
	st    state
	nodes map[node]*node
	depth int
}

// NewMatcher starts matching g from its root rule, for tokens of v.
func NewMatcher(g *Grammar, v *Vocab) (*Matcher, error) {
	m := &Matcher{g: g, v: v, nodes: map[node]*node{}}
	var st state
	for _, a := range g.alts[g.root] {
		if err := m.expand(&st, m.mk(a, nil)); err != nil {
			return nil, err
		}
	}
	m.st = st
	return m, nil
}

func (m *Matcher) mk(pos int, next *node) *node {
	k := node{pos, next}
	if n, ok := m.nodes[k]; ok {
		return n
	}
	if len(m.nodes) > 1<<20 { // drop the table: sharing is lost, not correctness
		clear(m.nodes)
	}
	n := &node{pos, next}
	m.nodes[k] = n
	return n
}

// expand adds to st the stacks reachable from n without consuming a character, each
// with a character class on top (or marks st complete).
func (m *Matcher) expand(st *state, n *node) error {
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
		ret := m.mk(n.pos+1, n.next)
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
func (m *Matcher) stepByte(from *state, b byte) (state, error) {
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

// runeSpan is the range of characters whose UTF-8 encoding starts with the incomplete
// sequence p.
func runeSpan(p []byte) (lo, hi rune, ok bool) {
	var n int
	switch c := p[0]; {
	case c >= 0xC2 && c <= 0xDF:
		n = 2
	case c >= 0xE0 && c <= 0xEF:
		n = 3
	case c >= 0xF0 && c <= 0xF4:
		n = 4
	default:
		return 0, 0, false
	}
	var a, b [utf8.UTFMax]byte
	copy(a[:], p)
	copy(b[:], p)
	for i := len(p); i < n; i++ {
		a[i], b[i] = 0x80, 0xBF
	}
	for i := 1; i < len(p); i++ {
		if p[i] < 0x80 || p[i] > 0xBF {
			return 0, 0, false
		}
	}
	lo, _ = utf8.DecodeRune(a[:n])
	hi, _ = utf8.DecodeRune(b[:n])
	if lo == utf8.RuneError || hi == utf8.RuneError {
		// Overlong or surrogate edges: widen to the lead byte's whole span.
		return 0x80, utf8.MaxRune, true
	}
	return lo, hi, true
}

// Complete reports whether the tokens so far form a whole sentence of the grammar (so the
// end of sequence is allowed).
func (m *Matcher) Complete() bool { return m.st.complete && m.st.npartial == 0 }

// Done reports whether the sentence is complete and nothing may follow it.
func (m *Matcher) Done() bool { return m.Complete() && len(m.st.stacks) == 0 }

// Accept advances past token id; ErrRejected if the grammar does not allow it (the
// state is then unchanged). An end-of-sequence token is accepted when Complete.
func (m *Matcher) Accept(id int) error {
	for _, e := range m.v.eos {
		if e == id {
			if m.Complete() {
				return nil
			}
			return ErrRejected
		}
	}
	if id < 0 || id >= len(m.v.texts) {
		return ErrRejected
	}
	t := m.v.texts[id]
	if t == "" {
		return ErrRejected
	}
	st := m.st
	for i := 0; i < len(t); i++ {
		next, err := m.stepByte(&st, t[i])
		if err != nil {
			return err
		}
		if next.dead() || (len(next.stacks) == 0 && i < len(t)-1) {
			return ErrRejected
		}
		st = next
	}
	m.st = st
	return nil
}

// Mask sets to -Inf the logits of every token the grammar does not allow next: tokens
// whose bytes it cannot consume, tokens without bytes, and the end-of-sequence tokens
// unless the sentence is Complete. It returns how many tokens stay allowed.
func (m *Matcher) Mask(logits []float32) (int, error) {
	allowed := make([]bool, len(logits))
	n, err := m.walk(0, &m.st, allowed)
	if err != nil {
		return 0, err
	}
	if m.Complete() {
		for _, e := range m.v.eos {
			if e >= 0 && e < len(allowed) && !allowed[e] {
				allowed[e] = true
				n++
			}
		}
	}
	inf := float32(math.Inf(-1))
	for i := range logits {
		if !allowed[i] {
			logits[i] = inf
		}
	}
	return n, nil
}

// walk visits the children of trie node ni in state st, marking allowed tokens.
func (m *Matcher) walk(ni int32, st *state, allowed []bool) (int, error) {
	n := 0
	tn := &m.v.trie[ni]
	for ci := tn.first; ci < tn.last; ci++ {
		c := &m.v.trie[ci]
		next, err := m.stepByte(st, c.b)
		if err != nil {
			return 0, err
		}
		if next.dead() {
			continue
		}
		for _, id := range c.tokens {
			if int(id) < len(allowed) {
				allowed[id] = true
				n++
			}
		}
		if len(next.stacks) > 0 {
			k, err := m.walk(ci, &next, allowed)
			if err != nil {
				return 0, err
			}
			n += k
		}
	}
	return n, nil
}
