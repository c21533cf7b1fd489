package chat

import (
	"fmt"
	"strings"
)

// This file rewrites the expressions of a template so that the Jinja engine never does
// unbounded work inside one expression. Each expression is parsed with the grammar of
// github.com/ardanlabs/jinja v1.8.0 (same tokens, same precedence: tests and "in" with the
// comparisons, "~" below "+" and "-", one "**"), and written back fully parenthesised, so the
// engine evaluates the same tree as before, with these changes:
//
//   - every operand the engine walks (both sides of a binary operator other than and/or, the
//     input and arguments of a filter or test, the arguments of a call, a subscript key, a
//     dict literal's keys) first passes __decilm_chk, which measures it (printed size and
//     nesting, memoised) and refuses one larger than MaxOutput or deeper than MaxDepth;
//   - "*" becomes __decilm_mul, a slice x[a:b:c] becomes __decilm_slice, and the filters
//     tojson, indent, join and replace become the sandbox's, all bounded by MaxOutput;
//   - the attributes that name a mutating or amplifying method (append, insert, update,
//     replace, format, strip, lstrip, rstrip) go through __decilm_attr, whose methods refuse
//     to make a container hold itself, to nest values deeper than MaxDepth or to build
//     strings beyond MaxOutput.
//
// So every value the engine walks is bounded when it is walked, and no value can hold
// itself: the work of each operation is bounded by the limits, and the hooks between
// operations check the clock.

// Hook names used by the rewritten expressions.
const (
	hookChk     = "__decilm_chk"     // measures a value before the engine walks it
	hookAttr    = "__decilm_attr"    // a method that mutates or amplifies
	hookSlice   = "__decilm_slice"   // x[a:b:c]
	hookAbsent  = "__decilm_absent"  // an omitted slice bound
	hookJoin    = "__decilm_join"    // the join filter
	hookReplace = "__decilm_replace" // the replace filter
)

// maxExprDepth bounds the parser's recursion (brackets, unary operators, conditionals).
const maxExprDepth = 200

// hookedMethods are the attribute names routed through hookAttr.
var hookedMethods = map[string]bool{
	"append": true, "insert": true, "update": true, "extend": true, "setdefault": true,
	"replace": true, "format": true, "strip": true, "lstrip": true, "rstrip": true,
}

// filterHooks are the filters the sandbox replaces.
var filterHooks = map[string]string{
	"tojson": hookToJSON, "indent": hookIndent, "join": hookJoin, "replace": hookReplace,
}

// shallowFilters look at most at the top level of their input (or at one string), so their
// input needs no measuring. (trim, upper, escape and the like print their input, so a list
// given to them is measured like any other operand.)
var shallowFilters = map[string]bool{
	"length": true, "count": true, "first": true, "last": true, "default": true, "d": true,
	"safe": true, "list": true, "reverse": true, "items": true, "int": true, "float": true,
	"abs": true, "round": true, "batch": true, "map": true, "fromjson": true, "from_json": true,
}

// shallowTests look at most at the top level of the value tested.
var shallowTests = map[string]bool{
	"defined": true, "undefined": true, "none": true, "boolean": true, "integer": true,
	"float": true, "number": true, "string": true, "mapping": true, "iterable": true,
	"sequence": true, "callable": true, "true": true, "false": true, "odd": true,
	"even": true, "upper": true, "lower": true,
}

// Token kinds of the engine's expression lexer.
const (
	xName = iota
	xInt
	xFloat
	xString
	xOp // operators and punctuation
	xEOF
)

type xTok struct {
	kind int
	val  string // a string literal's decoded value; otherwise the text
}

// lexEngine splits an expression as the engine's lexer does: whitespace separates, strings
// take the escapes \n \t \\ \' \" (others stay as written) and may be unterminated, numbers
// are digits with an optional fraction and exponent, names are ASCII, and any other byte
// the engine does not know is skipped.
func lexEngine(s string) []xTok {
	var toks []xTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"':
			i++
			var b strings.Builder
			for i < len(s) && s[i] != c {
				if s[i] == '\\' && i+1 < len(s) {
					i++
					switch s[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case '\\', '\'', '"':
						b.WriteByte(s[i])
					default:
						b.WriteByte('\\')
						b.WriteByte(s[i])
					}
				} else {
					b.WriteByte(s[i])
				}
				i++
			}
			if i < len(s) {
				i++
			}
			toks = append(toks, xTok{xString, b.String()})
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j+1 < len(s) && s[j] == '.' && s[j+1] >= '0' && s[j+1] <= '9' {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
				if j < len(s) && (s[j] == 'e' || s[j] == 'E') {
					j++
					if j < len(s) && (s[j] == '+' || s[j] == '-') {
						j++
					}
					for j < len(s) && s[j] >= '0' && s[j] <= '9' {
						j++
					}
				}
				toks = append(toks, xTok{xFloat, s[i:j]})
			} else {
				toks = append(toks, xTok{xInt, s[i:j]})
			}
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, xTok{xName, s[i:j]})
			i = j
		default:
			if i+1 < len(s) {
				switch two := s[i : i+2]; two {
				case "**", "//", "==", "!=", "<=", ">=":
					toks = append(toks, xTok{xOp, two})
					i += 2
					continue
				}
			}
			if strings.IndexByte(",.:()[]{}|~+-*/%<>=", c) >= 0 {
				toks = append(toks, xTok{xOp, string(c)})
			}
			i++
		}
	}
	return append(toks, xTok{kind: xEOF})
}

// xparser parses the engine's expression grammar and writes the sandboxed text as it goes:
// each parse function returns the text of the node and whether it is a literal (a literal
// needs no measuring).
type xparser struct {
	toks  []xTok
	pos   int
	depth int
	src   string
}

type xnode struct {
	text string
	lit  bool
}

func (p *xparser) peek() xTok { return p.toks[p.pos] }

func (p *xparser) next() xTok {
	t := p.toks[p.pos]
	if t.kind != xEOF {
		p.pos++
	}
	return t
}

func (p *xparser) isOp(v string) bool   { t := p.peek(); return t.kind == xOp && t.val == v }
func (p *xparser) isName(v string) bool { t := p.peek(); return t.kind == xName && t.val == v }

func (p *xparser) errorf(format string, args ...any) error {
	return fmt.Errorf("expression %q: %s", clip(p.src, 80), fmt.Sprintf(format, args...))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func (p *xparser) enter() error {
	if p.depth++; p.depth > maxExprDepth {
		return fmt.Errorf("expression %q nests more than %d deep: %w", clip(p.src, 80), maxExprDepth, ErrLimit)
	}
	return nil
}

func (p *xparser) leave() { p.depth-- }

// chk is the text of n measured before use.
func chk(n xnode) string {
	if n.lit {
		return n.text
	}
	return "((" + n.text + ")|" + hookChk + ")"
}

// base is n as the object of a postfix operator.
func base(n xnode) string {
	if n.lit || isIdent(n.text) {
		return n.text
	}
	return "(" + n.text + ")"
}

// rewriteExpr parses an expression as the engine would and returns its sandboxed text.
func rewriteExpr(src string) (string, error) {
	return rewrite(src, false)
}

// rewrite is rewriteExpr; with tuple, a list of expressions separated by commas is read as
// a tuple (the value of a set statement, as jinja2 reads it).
func rewrite(src string, tuple bool) (string, error) {
	if strings.TrimSpace(src) == "" {
		return "none", nil
	}
	p := &xparser{toks: lexEngine(src), src: strings.TrimSpace(src)}
	n, err := p.expression()
	if err != nil {
		return "", err
	}
	if tuple && p.isOp(",") {
		items := []string{n.text}
		for p.isOp(",") {
			p.next()
			if p.peek().kind == xEOF {
				break
			}
			it, err := p.expression()
			if err != nil {
				return "", err
			}
			items = append(items, it.text)
		}
		n = xnode{text: "[" + strings.Join(items, ", ") + "]"}
	}
	if t := p.peek(); t.kind != xEOF {
		return "", p.errorf("unexpected %q after the expression", t.val)
	}
	return n.text, nil
}

func (p *xparser) expression() (xnode, error) {
	if err := p.enter(); err != nil {
		return xnode{}, err
	}
	defer p.leave()
	e, err := p.or()
	if err != nil || !p.isName("if") {
		return e, err
	}
	p.next()
	cond, err := p.or()
	if err != nil {
		return xnode{}, err
	}
	if !p.isName("else") {
		return xnode{text: "(" + e.text + " if " + cond.text + ")"}, nil
	}
	p.next()
	f, err := p.expression()
	if err != nil {
		return xnode{}, err
	}
	return xnode{text: "(" + e.text + " if " + cond.text + " else " + f.text + ")"}, nil
}

func (p *xparser) or() (xnode, error) {
	return p.logical("or", p.and)
}

func (p *xparser) and() (xnode, error) {
	return p.logical("and", p.not)
}

// logical parses a chain of and/or: the engine looks only at each side's truth, so the
// operands are not measured.
func (p *xparser) logical(op string, sub func() (xnode, error)) (xnode, error) {
	l, err := sub()
	if err != nil {
		return l, err
	}
	for p.isName(op) {
		p.next()
		r, err := sub()
		if err != nil {
			return r, err
		}
		l = xnode{text: "(" + l.text + " " + op + " " + r.text + ")"}
	}
	return l, nil
}

func (p *xparser) not() (xnode, error) {
	if !p.isName("not") {
		return p.comparison()
	}
	p.next()
	if err := p.enter(); err != nil {
		return xnode{}, err
	}
	defer p.leave()
	e, err := p.not()
	if err != nil {
		return e, err
	}
	return xnode{text: "(not " + e.text + ")"}, nil
}

func (p *xparser) comparison() (xnode, error) {
	l, err := p.binary(0)
	if err != nil {
		return l, err
	}
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == xOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == ">" || t.val == "<=" || t.val == ">="):
			op = t.val
			p.next()
		case t.kind == xName && t.val == "in":
			op = "in"
			p.next()
		case t.kind == xName && t.val == "not" && p.toks[p.pos+1].kind == xName && p.toks[p.pos+1].val == "in":
			op = "not in"
			p.next()
			p.next()
		case t.kind == xName && t.val == "is":
			p.next()
			neg := ""
			if p.isName("not") {
				p.next()
				neg = "not "
			}
			name := p.next()
			if name.kind != xName {
				return xnode{}, p.errorf("a test name after \"is\", not %q", name.val)
			}
			text := "("
			if shallowTests[name.val] {
				text += l.text
			} else {
				text += chk(l)
			}
			text += " is " + neg + name.val
			if p.isOp("(") {
				p.next()
				var args []string
				for !p.isOp(")") && p.peek().kind != xEOF {
					a, err := p.expression()
					if err != nil {
						return a, err
					}
					args = append(args, chk(a))
					if p.isOp(",") {
						p.next()
					}
				}
				if !p.isOp(")") {
					return xnode{}, p.errorf("missing ) after the arguments of test %s", name.val)
				}
				p.next()
				text += "(" + strings.Join(args, ", ") + ")"
			}
			l = xnode{text: text + ")"}
			continue
		default:
			return l, nil
		}
		r, err := p.binary(0)
		if err != nil {
			return r, err
		}
		l = xnode{text: "(" + chk(l) + " " + op + " " + chk(r) + ")"}
	}
}

// The engine's binary levels below the comparisons, loosest first.
var binaryLevels = [][]string{{"~"}, {"+", "-"}, {"*", "/", "%", "//"}}

// binary parses the left-associative level lvl of binaryLevels (then the power level).
func (p *xparser) binary(lvl int) (xnode, error) {
	if lvl == len(binaryLevels) {
		return p.power()
	}
	l, err := p.binary(lvl + 1)
	if err != nil {
		return l, err
	}
	for {
		t := p.peek()
		if t.kind != xOp || !contains(binaryLevels[lvl], t.val) {
			return l, nil
		}
		p.next()
		r, err := p.binary(lvl + 1)
		if err != nil {
			return r, err
		}
		if t.val == "*" {
			l = xnode{text: hookMul + "(" + l.text + ", " + r.text + ")"}
		} else {
			l = xnode{text: "(" + chk(l) + " " + t.val + " " + chk(r) + ")"}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *xparser) power() (xnode, error) {
	b, err := p.unary()
	if err != nil || !p.isOp("**") {
		return b, err
	}
	p.next()
	e, err := p.unary()
	if err != nil {
		return e, err
	}
	return xnode{text: "(" + chk(b) + " ** " + chk(e) + ")"}, nil
}

func (p *xparser) unary() (xnode, error) {
	if !p.isOp("-") && !p.isOp("+") {
		return p.postfix()
	}
	op := p.next().val
	if err := p.enter(); err != nil {
		return xnode{}, err
	}
	defer p.leave()
	e, err := p.unary()
	if err != nil {
		return e, err
	}
	return xnode{text: "(" + op + e.text + ")"}, nil
}

func (p *xparser) postfix() (xnode, error) {
	e, err := p.atom()
	if err != nil {
		return e, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			a := p.next()
			if a.kind != xName && a.kind != xInt {
				return xnode{}, p.errorf("an attribute name after '.', not %q", a.val)
			}
			if hookedMethods[a.val] {
				e = xnode{text: "(" + base(e) + "|" + hookAttr + "(" + quoteJinja(a.val) + "))"}
			} else {
				e = xnode{text: base(e) + "." + a.val}
			}
		case p.isOp("["):
			p.next()
			if e, err = p.subscript(e); err != nil {
				return e, err
			}
		case p.isOp("("):
			p.next()
			args, err := p.callArgs()
			if err != nil {
				return xnode{}, err
			}
			e = xnode{text: base(e) + "(" + args + ")"}
		case p.isOp("|"):
			p.next()
			f := p.next()
			if f.kind != xName {
				return xnode{}, p.errorf("a filter name after '|', not %q", f.val)
			}
			in := e.text
			if !shallowFilters[f.val] {
				in = chk(e)
			}
			name := f.val
			if h, ok := filterHooks[name]; ok {
				name = h
			}
			text := "(" + in + "|" + name
			if p.isOp("(") {
				p.next()
				args, err := p.callArgs()
				if err != nil {
					return xnode{}, err
				}
				text += "(" + args + ")"
			}
			e = xnode{text: text + ")"}
		default:
			return e, nil
		}
	}
}

// subscript parses what follows "[": an index, or a slice with up to three bounds.
func (p *xparser) subscript(obj xnode) (xnode, error) {
	var bounds [3]string
	for i := range bounds {
		bounds[i] = hookAbsent
	}
	slice := false
	if p.isOp(":") {
		slice = true
	} else {
		k, err := p.expression()
		if err != nil {
			return k, err
		}
		if !p.isOp(":") {
			if !p.isOp("]") {
				return xnode{}, p.errorf("missing ] after a subscript")
			}
			p.next()
			return xnode{text: base(obj) + "[" + chk(k) + "]"}, nil
		}
		slice = true
		bounds[0] = k.text
	}
	if slice {
		if p.isOp(":") {
			p.next()
		}
		if !p.isOp("]") && !p.isOp(":") {
			k, err := p.expression()
			if err != nil {
				return k, err
			}
			bounds[1] = k.text
		}
		if p.isOp(":") {
			p.next()
			if !p.isOp("]") {
				k, err := p.expression()
				if err != nil {
					return k, err
				}
				bounds[2] = k.text
			}
		}
		if !p.isOp("]") {
			return xnode{}, p.errorf("missing ] after a slice")
		}
		p.next()
	}
	return xnode{text: "(" + base(obj) + "|" + hookSlice + "(" + strings.Join(bounds[:], ", ") + "))"}, nil
}

// callArgs parses the arguments after "(" up to ")" and returns them measured.
func (p *xparser) callArgs() (string, error) {
	var args []string
	for !p.isOp(")") && p.peek().kind != xEOF {
		if t := p.peek(); t.kind == xName && p.toks[p.pos+1].kind == xOp && p.toks[p.pos+1].val == "=" {
			p.next()
			p.next()
			v, err := p.expression()
			if err != nil {
				return "", err
			}
			args = append(args, t.val+"="+chk(v))
		} else {
			v, err := p.expression()
			if err != nil {
				return "", err
			}
			args = append(args, chk(v))
		}
		if p.isOp(",") {
			p.next()
		}
	}
	if !p.isOp(")") {
		return "", p.errorf("missing ) after call arguments")
	}
	p.next()
	return strings.Join(args, ", "), nil
}

func (p *xparser) atom() (xnode, error) {
	t := p.peek()
	switch t.kind {
	case xName:
		p.next()
		switch t.val {
		case "None", "none", "null":
			return xnode{text: "none", lit: true}, nil
		case "True", "true":
			return xnode{text: "true", lit: true}, nil
		case "False", "false":
			return xnode{text: "false", lit: true}, nil
		case "not":
			// The engine reads "not" here (after a binary operator) as a variable's name,
			// which cannot be written back at the start of a parenthesised operand.
			return xnode{}, p.errorf("the keyword \"not\" used as a value")
		}
		return xnode{text: t.val}, nil
	case xInt, xFloat:
		p.next()
		return xnode{text: t.val, lit: true}, nil
	case xString:
		p.next()
		return xnode{text: quoteJinja(t.val), lit: true}, nil
	case xEOF:
		return xnode{}, p.errorf("unexpected end")
	}
	if err := p.enter(); err != nil {
		return xnode{}, err
	}
	defer p.leave()
	switch p.next().val {
	case "(":
		if p.isOp(")") {
			p.next()
			return xnode{text: "[]"}, nil
		}
		e, err := p.expression()
		if err != nil {
			return e, err
		}
		if p.isOp(",") {
			items := []string{e.text}
			for p.isOp(",") {
				p.next()
				if p.isOp(")") {
					break
				}
				it, err := p.expression()
				if err != nil {
					return it, err
				}
				items = append(items, it.text)
			}
			if !p.isOp(")") {
				return xnode{}, p.errorf("missing ) after a tuple")
			}
			p.next()
			return xnode{text: "[" + strings.Join(items, ", ") + "]"}, nil
		}
		if !p.isOp(")") {
			return xnode{}, p.errorf("missing )")
		}
		p.next()
		return e, nil
	case "[":
		var items []string
		for !p.isOp("]") && p.peek().kind != xEOF {
			it, err := p.expression()
			if err != nil {
				return it, err
			}
			items = append(items, it.text)
			if p.isOp(",") {
				p.next()
			}
		}
		if !p.isOp("]") {
			return xnode{}, p.errorf("missing ] after a list")
		}
		p.next()
		return xnode{text: "[" + strings.Join(items, ", ") + "]"}, nil
	case "{":
		var pairs []string
		for !p.isOp("}") && p.peek().kind != xEOF {
			k, err := p.expression()
			if err != nil {
				return k, err
			}
			if !p.isOp(":") {
				return xnode{}, p.errorf("missing : in a dict")
			}
			p.next()
			v, err := p.expression()
			if err != nil {
				return v, err
			}
			pairs = append(pairs, chk(k)+": "+v.text)
			if p.isOp(",") {
				p.next()
			}
		}
		if !p.isOp("}") {
			return xnode{}, p.errorf("missing } after a dict")
		}
		p.next()
		return xnode{text: "{" + strings.Join(pairs, ", ") + "}"}, nil
	case "-":
		e, err := p.atom()
		if err != nil {
			return e, err
		}
		return xnode{text: "(-" + e.text + ")"}, nil
	}
	return xnode{}, p.errorf("unexpected %q", t.val)
}

// rewriteStatement rewrites the expressions of a statement tag as the engine splits them
// (see the engine's parseIf, parseFor, parseSet, parseMacro and parseCall).
func rewriteStatement(text string) (string, error) {
	t := strings.TrimSpace(text)
	kw := tagSeg{text: t}.keyword()
	rest := strings.TrimSpace(strings.TrimPrefix(t, kw))
	switch kw {
	case "if", "elif":
		e, err := rewriteExpr(rest)
		if err != nil {
			return "", err
		}
		return " " + kw + " " + e + " ", nil
	case "for":
		in := findKeywordTop(rest, "in")
		if in < 0 {
			return text, nil // the engine reports it
		}
		vars, iter := rest[:in], strings.TrimSpace(rest[in+2:])
		// The engine accepts "recursive" but gives the body no loop() to recurse with.
		recursive := ""
		if i := findKeywordTop(iter, "recursive"); i >= 0 {
			iter, recursive = iter[:i], " recursive"
		}
		cond := ""
		if i := findKeywordTop(iter, "if"); i >= 0 {
			c, err := rewriteExpr(iter[i+2:])
			if err != nil {
				return "", err
			}
			cond = " if (" + c + ")"
			iter = iter[:i]
		}
		it, err := rewriteExpr(iter)
		if err != nil {
			return "", err
		}
		return " for " + strings.TrimSpace(vars) + " in (" + it + ")" + cond + recursive + " ", nil
	case "set":
		target, value, ok := strings.Cut(rest, "=")
		if !ok {
			return text, nil // a block set
		}
		v, err := rewrite(value, true)
		if err != nil {
			return "", err
		}
		// For "set ns.attr = value" the hook also gets ns, to refuse a value that would make
		// the namespace hold itself.
		holder := ""
		if b, _, ok := strings.Cut(strings.TrimSpace(target), "."); ok && isIdent(b) {
			holder = ", " + b
		}
		return " set " + strings.TrimSpace(target) + " = " + hookVal + "(" + v + holder + ") ", nil
	case "macro":
		name, params, ok := strings.Cut(rest, "(")
		if !ok {
			return text, nil
		}
		params = strings.TrimSuffix(params, ")")
		var out []string
		if strings.TrimSpace(params) != "" {
			for part := range strings.SplitSeq(params, ",") {
				pname, def, ok := strings.Cut(part, "=")
				if !ok {
					out = append(out, strings.TrimSpace(part))
					continue
				}
				d, err := rewriteExpr(def)
				if err != nil {
					return "", err
				}
				if strings.Contains(d, ",") {
					// The engine splits the parameters at every comma.
					return "", fmt.Errorf("macro %s: the default value %q needs a sandbox hook with several arguments (*, a slice), which a macro default cannot hold: %w", strings.TrimSpace(name), strings.TrimSpace(def), ErrLimit)
				}
				out = append(out, strings.TrimSpace(pname)+"="+d)
			}
		}
		return " macro " + strings.TrimSpace(name) + "(" + strings.Join(out, ", ") + ") ", nil
	case "call":
		args := ""
		if strings.HasPrefix(rest, "(") {
			i := strings.Index(rest, ")")
			if i < 0 {
				return text, nil
			}
			args, rest = rest[:i+1], rest[i+1:]
		}
		e, err := rewriteExpr(rest)
		if err != nil {
			return "", err
		}
		return " call" + args + " " + e + " ", nil
	}
	// filter blocks apply a filter by name only (with no arguments); raw, break, continue,
	// generation and the end tags hold no expression.
	return text, nil
}

// findKeywordTop finds kw as a word outside strings and brackets, as the engine's for
// statement does.
func findKeywordTop(s, kw string) int {
	depth := 0
	inQuote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote != 0:
			if c == '\\' && i+1 < len(s) {
				i++
			} else if c == inQuote {
				inQuote = 0
			}
		case c == '\'' || c == '"':
			inQuote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], kw):
			if (i == 0 || !isIdentByte(s[i-1])) && (i+len(kw) >= len(s) || !isIdentByte(s[i+len(kw)])) {
				return i
			}
		}
	}
	return -1
}
