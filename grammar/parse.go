package grammar

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxRepeat bounds the counts of a {m,n} repetition.
const maxRepeat = 1000

// ParseGBNF compiles a grammar in llama.cpp's GBNF notation, starting at the rule named
// root: rules `name ::= alternatives`, alternatives separated by |, elements "literal",
// [class] (with ^ for negation and a-z ranges), ., rule names, ( groups ) and the
// repetitions *, +, ? and {m}, {m,}, {m,n}; # starts a comment. Errors name the line and
// column.
func ParseGBNF(src, root string) (*Grammar, error) {
	if len(src) > 1<<20 {
		return nil, fmt.Errorf("grammar: %d bytes; at most 1 MiB", len(src))
	}
	if !utf8.ValidString(src) {
		return nil, fmt.Errorf("grammar: not valid UTF-8")
	}
	p := &parser{src: src, b: newBuilder()}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.b.compile(root)
}

type parser struct {
	src   string
	pos   int
	b     *builder
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	line, col := 1, 1
	for _, r := range p.src[:min(p.pos, len(p.src))] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("grammar: line %d column %d: %s", line, col, fmt.Sprintf(format, args...))
}

// space skips blanks and comments, and newlines when nl is set.
func (p *parser) space(nl bool) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == ' ' || c == '\t':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case nl && (c == '\n' || c == '\r'):
			p.pos++
		default:
			return
		}
	}
}

func isWordChar(c byte) bool {
	return c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *parser) name() string {
	s := p.pos
	for p.pos < len(p.src) && isWordChar(p.src[p.pos]) {
		p.pos++
	}
	return p.src[s:p.pos]
}

func (p *parser) parse() error {
	p.space(true)
	for p.pos < len(p.src) {
		name := p.name()
		if name == "" {
			return p.errorf("expected a rule name")
		}
		p.space(false)
		if !hasPrefixAt(p.src, p.pos, "::=") {
			return p.errorf("expected ::= after %q", name)
		}
		p.pos += 3
		p.space(true)
		alts, err := p.alternatives(false)
		if err != nil {
			return err
		}
		id := p.b.ref(name)
		if p.b.defd[id] {
			return p.errorf("rule %q is defined twice", name)
		}
		p.b.rules[id], p.b.defd[id] = alts, true
		p.space(true)
	}
	return nil
}

func hasPrefixAt(s string, i int, pre string) bool {
	return len(s)-i >= len(pre) && s[i:i+len(pre)] == pre
}

// alternatives parses seq ( | seq )*; nested (inside parentheses) allows newlines.
func (p *parser) alternatives(nested bool) ([][]elem, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return nil, p.errorf("groups nested too deep")
	}
	var alts [][]elem
	for {
		seq, err := p.sequence(nested)
		if err != nil {
			return nil, err
		}
		alts = append(alts, seq)
		if p.pos < len(p.src) && p.src[p.pos] == '|' {
			p.pos++
			p.space(true)
			continue
		}
		return alts, nil
	}
}

// sequence parses elements up to |, ), a newline (at top level) or the end.
func (p *parser) sequence(nested bool) ([]elem, error) {
	var seq []elem
	last := -1 // start of the last element in seq, for repetitions
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		start := len(seq)
		switch {
		case c == '|' || c == ')':
			return seq, nil
		case c == '\n' || c == '\r':
			if !nested {
				return seq, nil
			}
			p.space(true)
			continue
		case c == '"':
			p.pos++
			n := 0
			for p.pos < len(p.src) && p.src[p.pos] != '"' {
				r, err := p.char()
				if err != nil {
					return nil, err
				}
				seq = append(seq, elem{kind: kChar, ranges: []rune{r, r}})
				n++
			}
			if p.pos >= len(p.src) {
				return nil, p.errorf("unterminated string")
			}
			p.pos++
			if n == 0 {
				last = -1
				p.space(nested)
				continue
			}
			if n > 1 {
				// A repetition applies to the whole literal: make it one rule.
				id := p.b.fresh("lit", [][]elem{append([]elem(nil), seq[start:]...)})
				seq = append(seq[:start], elem{kind: kRule, rule: id})
			}
		case c == '[':
			p.pos++
			e := elem{kind: kChar}
			if p.pos < len(p.src) && p.src[p.pos] == '^' {
				e.negate = true
				p.pos++
			}
			for p.pos < len(p.src) && p.src[p.pos] != ']' {
				lo, err := p.char()
				if err != nil {
					return nil, err
				}
				hi := lo
				if p.pos+1 < len(p.src) && p.src[p.pos] == '-' && p.src[p.pos+1] != ']' {
					p.pos++
					if hi, err = p.char(); err != nil {
						return nil, err
					}
					if hi < lo {
						return nil, p.errorf("range %q-%q is empty", lo, hi)
					}
				}
				e.ranges = append(e.ranges, lo, hi)
			}
			if p.pos >= len(p.src) {
				return nil, p.errorf("unterminated character class")
			}
			p.pos++
			seq = append(seq, e)
		case c == '.':
			p.pos++
			seq = append(seq, elem{kind: kChar, negate: true})
		case c == '(':
			p.pos++
			p.space(true)
			alts, err := p.alternatives(true)
			if err != nil {
				return nil, err
			}
			if p.pos >= len(p.src) || p.src[p.pos] != ')' {
				return nil, p.errorf("expected )")
			}
			p.pos++
			seq = append(seq, elem{kind: kRule, rule: p.b.fresh("group", alts)})
		case isWordChar(c):
			name := p.name()
			seq = append(seq, elem{kind: kRule, rule: p.b.ref(name)})
		case c == '*' || c == '+' || c == '?' || c == '{':
			if last < 0 {
				return nil, p.errorf("%q follows nothing", c)
			}
			lo, hi, err := p.repetition()
			if err != nil {
				return nil, err
			}
			if len(p.b.rules)+max(hi-lo, 1) > maxRules || len(seq)+lo > 100*maxRepeat {
				return nil, p.errorf("the grammar grows past %d rules or %d elements a sequence with its repetitions", maxRules, 100*maxRepeat)
			}
			item := seq[last]
			seq = append(seq[:last], p.b.repeat(item, lo, hi)...)
			last = -1
			p.space(nested)
			continue
		default:
			return nil, p.errorf("unexpected %q", c)
		}
		last = start
		p.space(nested)
	}
	return seq, nil
}

// repetition parses *, +, ? or {m}, {m,}, {m,n}; hi < 0 means no upper bound.
func (p *parser) repetition() (lo, hi int, err error) {
	c := p.src[p.pos]
	p.pos++
	switch c {
	case '*':
		return 0, -1, nil
	case '+':
		return 1, -1, nil
	case '?':
		return 0, 1, nil
	}
	num := func() (int, bool) {
		s := p.pos
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.Atoi(p.src[s:p.pos])
		return n, err == nil
	}
	p.space(false)
	lo, ok := num()
	if !ok {
		return 0, 0, p.errorf("expected a count after {")
	}
	p.space(false)
	hi = lo
	if p.pos < len(p.src) && p.src[p.pos] == ',' {
		p.pos++
		p.space(false)
		hi = -1
		if p.pos < len(p.src) && p.src[p.pos] != '}' {
			if hi, ok = num(); !ok {
				return 0, 0, p.errorf("expected a count after ,")
			}
		}
		p.space(false)
	}
	if p.pos >= len(p.src) || p.src[p.pos] != '}' {
		return 0, 0, p.errorf("expected }")
	}
	p.pos++
	if lo > maxRepeat || hi > maxRepeat || (hi >= 0 && hi < lo) {
		return 0, 0, p.errorf("repetition {%d,%d}: counts must be ordered and at most %d", lo, hi, maxRepeat)
	}
	return lo, hi, nil
}

// repeat expands item{lo,hi} into elements (and new rules).
func (b *builder) repeat(item elem, lo, hi int) []elem {
	out := make([]elem, 0, lo+1)
	for i := 0; i < lo; i++ {
		out = append(out, item)
	}
	if hi < 0 {
		// star ::= item star | ε
		id := b.ref(fmt.Sprintf("star-%d", len(b.rules)))
		b.rules[id] = [][]elem{{item, {kind: kRule, rule: id}}, {}}
		b.defd[id] = true
		return append(out, elem{kind: kRule, rule: id})
	}
	// opt_k ::= item opt_{k-1} | ε, nested hi-lo deep.
	next := -1
	for k := 0; k < hi-lo; k++ {
		alt := []elem{item}
		if next >= 0 {
			alt = append(alt, elem{kind: kRule, rule: next})
		}
		next = b.fresh("opt", [][]elem{alt, {}})
	}
	if next >= 0 {
		out = append(out, elem{kind: kRule, rule: next})
	}
	return out
}

// char reads one character of a literal or class, with escapes \n \r \t \\ \" \[ \] \-
// \xHH \uHHHH \UHHHHHHHH.
func (p *parser) char() (rune, error) {
	if p.src[p.pos] != '\\' {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		p.pos += n
		return r, nil
	}
	p.pos++
	if p.pos >= len(p.src) {
		return 0, p.errorf("unterminated escape")
	}
	c := p.src[p.pos]
	p.pos++
	hex := 0
	switch c {
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	default:
		if c < 0x80 {
			return rune(c), nil
		}
		return 0, p.errorf("unknown escape")
	}
	if p.pos+hex > len(p.src) {
		return 0, p.errorf("short \\%c escape", c)
	}
	v, err := strconv.ParseUint(p.src[p.pos:p.pos+hex], 16, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, p.errorf("bad \\%c escape %q", c, p.src[p.pos:p.pos+hex])
	}
	p.pos += hex
	return rune(v), nil
}
