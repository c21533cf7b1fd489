// Package grammar constrains generation to a formal language: a GBNF grammar (llama.cpp's
// notation) or a JSON Schema, compiled to a pushdown recognizer over Unicode characters,
// and a per-sequence Matcher that masks a model's logits to the tokens whose bytes the
// grammar can still accept.
//
// A Grammar is a list of rules; each rule is a set of alternatives, each a sequence of
// character classes and references to rules. Repetitions (*, +, ?, {m,n}) and groups are
// rewritten into extra rules when parsed. The recognizer keeps the set of possible parse
// stacks (as llama.cpp's does); stacks are hash-consed so equal stacks are one value. Left
// recursion is refused when the grammar is compiled.
//
// A Vocab holds a model's tokens in a trie of their bytes; Matcher.Mask walks the trie
// with the recognizer's state, so tokens sharing a prefix share the work and a subtree is
// pruned as soon as its prefix is rejected. Tokens may end inside a UTF-8 character: the
// recognizer carries the partial character, and only keeps it while some class could
// still match a character that starts with those bytes.
package grammar

import (
	"fmt"
	"strings"
)

// kind is an element's kind.
type kind uint8

const (
	kEnd  kind = iota // end of an alternative
	kChar             // a character class
	kRule             // a reference to a rule
)

// elem is one element of an alternative.
type elem struct {
	kind   kind
	rule   int    // kRule: the rule
	ranges []rune // kChar: inclusive [lo, hi] pairs
	negate bool   // kChar: matches characters outside ranges
}

func (e *elem) matches(r rune) bool {
	in := false
	for i := 0; i < len(e.ranges); i += 2 {
		if r >= e.ranges[i] && r <= e.ranges[i+1] {
			in = true
			break
		}
	}
	return in != e.negate
}

// mayMatch reports whether some character in [lo, hi] matches.
func (e *elem) mayMatch(lo, hi rune) bool {
	if e.negate {
		// Not matching only if [lo, hi] lies inside one excluded range.
		for i := 0; i < len(e.ranges); i += 2 {
			if lo >= e.ranges[i] && hi <= e.ranges[i+1] {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(e.ranges); i += 2 {
		if lo <= e.ranges[i+1] && hi >= e.ranges[i] {
			return true
		}
	}
	return false
}

// Grammar is a compiled grammar; it is immutable and safe for concurrent use.
type Grammar struct {
	elems []elem  // every alternative, each ended by a kEnd element
	alts  [][]int // per rule: the start index of each alternative in elems
	names []string
	root  int
	key   string // the rules as text: equal keys, equal grammars (for sharing tables)
}

// builder collects rules while parsing.
type builder struct {
	rules [][][]elem // rule → alternatives → elements (without the end)
	names []string
	ids   map[string]int
	defd  []bool
}

func newBuilder() *builder { return &builder{ids: map[string]int{}} }

// ref returns the id of the named rule, creating it undefined.
func (b *builder) ref(name string) int {
	if id, ok := b.ids[name]; ok {
		return id
	}
	b.ids[name] = len(b.rules)
	b.rules = append(b.rules, nil)
	b.names = append(b.names, name)
	b.defd = append(b.defd, false)
	return len(b.rules) - 1
}

// fresh makes a new anonymous rule.
func (b *builder) fresh(base string, alts [][]elem) int {
	id := b.ref(fmt.Sprintf("%s-%d", base, len(b.rules)))
	b.rules[id] = alts
	b.defd[id] = true
	return id
}

// maxRules bounds the rules of a grammar, repetitions included.
const maxRules = 20000

// compile checks the rules and builds the Grammar with root as its start.
func (b *builder) compile(root string) (*Grammar, error) {
	rid, ok := b.ids[root]
	if !ok {
		return nil, fmt.Errorf("grammar: no rule %q", root)
	}
	if len(b.rules) > maxRules {
		return nil, fmt.Errorf("grammar: %d rules (repetitions included); at most %d", len(b.rules), maxRules)
	}
	for i, d := range b.defd {
		if !d {
			return nil, fmt.Errorf("grammar: rule %q is used but not defined", b.names[i])
		}
	}
	g := &Grammar{names: b.names, root: rid, alts: make([][]int, len(b.rules))}
	for r, alts := range b.rules {
		for _, a := range alts {
			g.alts[r] = append(g.alts[r], len(g.elems))
			g.elems = append(g.elems, a...)
			g.elems = append(g.elems, elem{kind: kEnd})
		}
		if len(alts) == 0 {
			return nil, fmt.Errorf("grammar: rule %q has no alternatives", b.names[r])
		}
	}
	if err := g.checkLeftRecursion(); err != nil {
		return nil, err
	}
	g.key = g.names[g.root] + "\n" + g.String()
	return g, nil
}

// nullable computes which rules can match the empty string.
func (g *Grammar) nullable() []bool {
	n := make([]bool, len(g.alts))
	for changed := true; changed; {
		changed = false
		for r, starts := range g.alts {
			if n[r] {
				continue
			}
			for _, p := range starts {
				if g.seqNullable(p, n) {
					n[r], changed = true, true
					break
				}
			}
		}
	}
	return n
}

func (g *Grammar) seqNullable(p int, n []bool) bool {
	for ; g.elems[p].kind != kEnd; p++ {
		e := &g.elems[p]
		if e.kind == kChar || !n[e.rule] {
			return false
		}
	}
	return true
}

// checkLeftRecursion refuses a rule that can reach itself without consuming a character:
// the recognizer would expand it forever.
func (g *Grammar) checkLeftRecursion() error {
	n := g.nullable()
	// left[r]: rules r can start with.
	left := make([][]int, len(g.alts))
	for r, starts := range g.alts {
		for _, p := range starts {
			for ; g.elems[p].kind == kRule; p++ {
				left[r] = append(left[r], g.elems[p].rule)
				if !n[g.elems[p].rule] {
					break
				}
			}
		}
	}
	state := make([]uint8, len(g.alts)) // 0 new, 1 on the path, 2 done
	var visit func(r int) error
	visit = func(r int) error {
		state[r] = 1
		for _, x := range left[r] {
			switch state[x] {
			case 1:
				return fmt.Errorf("grammar: rule %q is left-recursive (it can start with itself); rewrite it with a repetition", g.names[x])
			case 0:
				if err := visit(x); err != nil {
					return err
				}
			}
		}
		state[r] = 2
		return nil
	}
	for r := range g.alts {
		if state[r] == 0 {
			if err := visit(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// String writes the grammar back in GBNF, one rule a line (for messages and tests).
func (g *Grammar) String() string {
	var b strings.Builder
	for r, starts := range g.alts {
		fmt.Fprintf(&b, "%s ::=", g.names[r])
		for i, p := range starts {
			if i > 0 {
				b.WriteString(" |")
			}
			for ; g.elems[p].kind != kEnd; p++ {
				e := &g.elems[p]
				if e.kind == kRule {
					b.WriteString(" " + g.names[e.rule])
					continue
				}
				b.WriteString(" [")
				if e.negate {
					b.WriteString("^")
				}
				for j := 0; j < len(e.ranges); j += 2 {
					fmt.Fprintf(&b, "%s", escapeClass(e.ranges[j]))
					if e.ranges[j+1] != e.ranges[j] {
						fmt.Fprintf(&b, "-%s", escapeClass(e.ranges[j+1]))
					}
				}
				b.WriteString("]")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func escapeClass(r rune) string {
	switch {
	case r == ']' || r == '[' || r == '\\' || r == '-' || r == '^':
		return `\` + string(r)
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf(`\x%02X`, r)
	case r > 0xffff:
		return fmt.Sprintf(`\U%08X`, r)
	}
	return string(r)
}
