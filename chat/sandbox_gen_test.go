package chat

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/ardanlabs/jinja"
)

// exprGen writes random expressions over rewriteData from the engine's grammar: every
// operator level, unary signs, conditionals, tests with and without arguments, filters with
// arguments, calls, methods, subscripts, slices and literals. It leaves out what the bare
// engine cannot survive or what the sandbox replaces on purpose (mutating methods, "*",
// tojson, indent), since the bare engine is the reference here.
type exprGen struct{ r *rand.Rand }

func (g exprGen) pick(s ...string) string { return s[g.r.Intn(len(s))] }

func (g exprGen) atom(depth int) string {
	switch g.r.Intn(9) {
	case 0:
		return g.pick("x", "y", "f", "s", "a", "l", "e", "d", "t", "z", "m", "q", "loop")
	case 1:
		return fmt.Sprint(g.r.Intn(21) - 10)
	case 2:
		return g.pick("1.5", "0.25", "2e3", "'ab'", `"c'd"`, "'é'", "''", "true", "False", "none", "None")
	case 3:
		if depth > 0 {
			return "[" + g.expr(depth-1) + ", " + g.expr(depth-1) + "]"
		}
	case 4:
		if depth > 0 {
			return "{'k': " + g.expr(depth-1) + ", " + g.atom(0) + ": 1}"
		}
	case 5:
		if depth > 0 {
			return "(" + g.expr(depth-1) + ")"
		}
	case 6:
		if depth > 0 {
			return "(" + g.expr(depth-1) + ", " + g.expr(depth-1) + ")"
		}
	case 7:
		return g.pick("m[0]", "m[1].content", "d.k", "d['n']", "l[1]", "s[0]", "d.items", "m[-1]['role']", "range(4)")
	}
	return g.pick("x", "s", "l", "d")
}

func (g exprGen) postfix(depth int) string {
	e := g.atom(depth)
	for g.r.Intn(3) == 0 {
		switch g.r.Intn(6) {
		case 0:
			e += "." + g.pick("k", "n", "role", "content", "upper()", "lower()", "strip()", "split('l')", "items()", "keys()", "get('k')", "startswith('a')", "replace('l', 'L')", "format(1)", "title()", "count('l')", "find('o')")
		case 1:
			e += "[" + g.pick("0", "-1", "1", "'k'", "x", "'role'") + "]"
		case 2:
			b := func() string { return g.pick("", "0", "1", "-1", "2", "-3", "x", "y") }
			e += "[" + b() + ":" + b()
			if g.r.Intn(2) == 0 {
				e += ":" + g.pick("", "1", "2", "-1", "-2", "3")
			}
			e += "]"
		default:
			e += " | " + g.pick("length", "upper", "lower", "first", "last", "join(',')", "join", "list", "sort", "reverse",
				"string", "trim", "default('q')", "d(1)", "replace('a', 'b')", "int", "float", "abs", "round", "unique",
				"map(attribute='role')", "selectattr('role')", "rejectattr('role', 'equalto', 'user')", "items", "dictsort",
				"batch(2)", "wordcount", "max", "min", "sum", "escape", "capitalize", "title", "count", "select('odd')")
		}
	}
	return e
}

func (g exprGen) expr(depth int) string {
	if depth <= 0 {
		return g.postfix(0)
	}
	switch g.r.Intn(8) {
	case 0:
		return g.expr(depth-1) + " " + g.pick("+", "-", "~", "/", "//", "%", "==", "!=", "<", ">=", "in", "not in", "and", "or") + " " + g.expr(depth-1)
	case 1:
		return g.pick("-", "+", "not ") + g.postfix(depth-1)
	case 2:
		return g.expr(depth-1) + " if " + g.expr(depth-1) + g.pick("", " else "+g.expr(depth-1))
	case 3:
		return g.postfix(depth-1) + " is " + g.pick("", "not ") + g.pick("defined", "none", "string", "number", "odd", "even", "sequence", "mapping", "divisibleby(3)", "in(l)", "eq(1)", "upper", "true")
	case 4:
		return g.postfix(depth-1) + " ** " + g.pick("2", "0", "-1", "0.5")
	}
	return g.postfix(depth - 1)
}

// TestRewriteMatchesEngineRandom: thousands of random expressions render through the
// sandbox's rewriting exactly as through the bare engine, errors included.
func TestRewriteMatchesEngineRandom(t *testing.T) {
	data := map[string]jinja.Value{}
	for k, v := range rewriteData {
		val, err := goValue(v)
		if err != nil {
			t.Fatal(err)
		}
		data[k] = val
	}
	g := exprGen{rand.New(rand.NewSource(2))}
	n := 4000
	if testing.Short() {
		n = 500
	}
	fails := 0
	for i := 0; i < n; i++ {
		e := g.expr(3)
		src := "{{ " + e + " }}"
		want, werr := engineRender(src, data)
		got, gerr := sandboxRender(src, rewriteData)
		if gerr != nil && strings.Contains(gerr.Error(), `keyword "not" used as a value`) {
			continue // refused on purpose (see xparser.atom)
		}
		if (werr != nil) != (gerr != nil) || got != want {
			if fails++; fails <= 20 {
				t.Errorf("%s:\n  sandbox %q, %v\n  engine  %q, %v", e, got, gerr, want, werr)
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d of %d expressions differ", fails, n)
	}
}

// TestRewriteStatementsMatchEngine: the expressions inside statements (if, elif, for with
// its filter, set with one or several values, namespaces, macros with defaults, call
// blocks, filter blocks) are rewritten as the engine splits them, and render as the bare
// engine renders them.
func TestRewriteStatementsMatchEngine(t *testing.T) {
	data := map[string]jinja.Value{}
	for k, v := range rewriteData {
		val, _ := goValue(v)
		data[k] = val
	}
	for _, src := range []string{
		`{% if x > 5 and s %}a{% elif y %}b{% else %}c{% endif %}`,
		`{% if not l %}a{% elif l | length == 3 %}b{% endif %}`,
		`{% for i in l if i > 1 %}{{ i }}{{ loop.index }}{% else %}none{% endfor %}`,
		`{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}`,
		`{% for i in l if i != 2 recursive %}{{ i }}{% endfor %}`,
		`{% for m2 in m %}{{ m2.role ~ ':' ~ m2.content | trim }}{% if not loop.last %},{% endif %}{% endfor %}`,
		`{% for c in a %}{{ c }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}`,
		`{% set v = x + y %}{% set w = 'a=b' %}{{ v }}{{ w }}`,
		`{% set ns = namespace(n=0, s='') %}{% for i in l %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }}{{ ns.s }}`,
		`{% macro f(p, q=2, r='x') %}{{ p }}{{ q }}{{ r }}{% endmacro %}{{ f(1) }}{{ f(1, 3) }}{{ f(1, r='z') }}`,
		`{% macro g(p) %}[{{ caller() }}{{ p }}]{% endmacro %}{% call g(x) %}in{% endcall %}`,
		`{% filter upper %}abc{{ s }}{% endfilter %}`,
		`{% set b %}body{{ x }}{% endset %}{{ b }}`,
		`{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}`,
		`{% set x2 = l[1:] %}{% set y2 = s[::-1] %}{{ x2 }}{{ y2 }}`,
	} {
		want, werr := engineRender(src, data)
		got, gerr := sandboxRender(src, rewriteData)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Errorf("%s:\n  sandbox %q, %v\n  engine  %q, %v", src, got, gerr, want, werr)
		}
	}
}
