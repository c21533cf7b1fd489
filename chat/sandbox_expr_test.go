package chat

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/ardanlabs/jinja"
)

// TestSandboxExpressionLimits: work the engine does inside one expression is bounded: lists
// and dicts cannot be made to hold themselves (which made the engine recurse until Go's
// stack overflowed, a fatal error), a stepped slice with a huge bound costs only the
// sequence's length (it used to allocate for the bound), and the string operations that
// multiply their input (~ chains, replace, join, format) stop at MaxOutput.
func TestSandboxExpressionLimits(t *testing.T) {
	small := Limits{MaxOutput: 1 << 20} // keeps the refused work small on a loaded machine
	for _, c := range []struct {
		name, source, want string
		lim                Limits
	}{
		{"append self, ~", `{% set a = [] %}{% set _ = a.append(a) %}{{ a ~ '' }}`, "a list may not hold itself", Limits{}},
		{"append self, ==", `{% set a = [] %}{% set _ = a.append(a) %}{{ a == a }}`, "a list may not hold itself", Limits{}},
		{"append through a variable", `{% set a = [] %}{% set f = a.append %}{{ f([1, [a]]) }}`, "a list may not hold itself", Limits{}},
		{"insert through another list", `{% set a = [] %}{% set b = [a] %}{% set _ = a.insert(0, b) %}`, "a list may not hold itself", Limits{}},
		{"update", `{% set d = {} %}{% set _ = d.update({'x': [d]}) %}{{ d == d }}`, "a dict may not hold itself", Limits{}},
		{"namespace list", `{% set ns = namespace(l=[]) %}{% set _ = ns.l.append(ns) %}`, "a list may not hold itself", Limits{}},
		{"dotted set", `{% set ns = namespace() %}{% set ns.x.y = [ns] %}`, "a namespace may not hold itself", Limits{}},
		{"concat chain", `{% set s = 'x' * 600000 %}{{ (s ~ s ~ s ~ s) | length }}`, "a value of more than 1048576 bytes", small},
		{"list concat chain", `{% set l = range(100000) | list %}{{ (l + l + l + l + l + l + l + l) | length }}`, "a value of more than 1048576 bytes", small},
		{"replace method", `{{ ('x' * 1000000).replace('', 'yyyyyyyyyyyyyyyyyyyy') }}`, "replace would make", Limits{}},
		{"replace filter", `{{ ('x' * 1000000) | replace('x', 'y' * 1000) }}`, "replace would make", Limits{}},
		{"join separator", `{{ range(100000) | join('x' * 1000) }}`, "join of 100000 items", Limits{}},
		{"format", `{{ ('{0}' * 100000).format('y' * 1000) }}`, "format would make", Limits{}},
		{"shared list grown after sharing", `{% set l = [] %}{% set r = [l, l, l, l, l, l, l, l, l, l] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set _ = l.append('x' * 10000) %}{{ r == r }}`, "a value of more than", Limits{}},
		{"printing filter", `{% set l = [] %}{% set r = [l, l, l, l, l, l, l, l, l, l] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set r = [r, r, r, r, r, r, r, r, r, r] %}{% set _ = l.append('x' * 10000) %}{{ r | trim | length }}`, "a value of more than", Limits{}},
		{"deep by appends", `{% set ns = namespace(l=[]) %}{% for i in range(1000) %}{% set n = [] %}{% set _ = n.append(ns.l) %}{% set ns.l = n %}{% endfor %}`, "nested more than 100 deep", Limits{}},
	} {
		start := time.Now()
		_, err := renderSource(c.source, c.lim)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want ErrLimit and %q", c.name, err, c.want)
		}
		if d := time.Since(start); d > 30*time.Second { // generous: the machine may be loaded
			t.Errorf("%s: took %v", c.name, d)
		}
	}
}

// TestSandboxExpressionsWithinLimits: huge slice bounds, long strip sets and the engine's
// own loop state render quickly and correctly.
func TestSandboxExpressionsWithinLimits(t *testing.T) {
	for _, c := range []struct{ source, want string }{
		{`{{ (range(10) | list)[0:99999999999:2] }}`, "[0, 2, 4, 6, 8]"},
		{`{{ (range(10) | list)[-99999999999:99999999999:3] | length }}`, "3"},
		{`{{ (range(10) | list)[9223372036854775807:-9223372036854775807:-4] }}`, "[7, 3]"},
		{`{{ 'abcdef'[-9223372036854775807::-9223372036854775807] }}|{{ 'héllo'[::-2] }}`, "|olh"},
		{`{{ ('é' * 1000000).strip('é' * 100000 ~ 'x') | length }}`, "0"},
		{`{% set l = [1, 2, 3] %}{% for x in l %}{% set _ = l.insert(0, loop) %}{% endfor %}{{ l | length }}`, "6"},
		{`{% set d = {'update': 1, 'a': 2} %}{{ d.update }}{% set e = {'a': 2} %}{% set _ = e.update(e) %}{{ e.a }}`, "12"},
		{`{% set a = [] %}{% set _ = a.append(1) %}{% set _ = a.insert(-5, 0) %}{% set _ = a.insert(99, 2) %}{{ a }}{{ a.extend }}`, "[0, 1, 2]"},
		{`{{ 'a-b-a'.replace('a', 'x') }}{{ 'a-b-a'.replace('a', 'x', 1) }}{{ 'a-b-a' | replace('a', 'y', count=1) }}`, "x-b-xx-b-ay-b-a"},
		{`{{ '{} and {0}, {1}'.format('p', 'q') }}{{ ' x '.strip() }}{{ 'xxaxx'.lstrip('x') }}{{ 'xxaxx'.rstrip('x') }}`, "p and p, qxaxxxxa"},
		{`{{ ['a', 1, none] | join('-') }}{{ [{'n': 'x'}, {'n': 'y'}] | join(d='+', attribute='n') }}`, "a-1-x+y"},
		{`{% set ns = namespace(s=[]) %}{% for i in range(3) %}{% set ns.s = ns.s + [i] %}{% endfor %}{{ ns.s }}`, "[0, 1, 2]"},
		{`{% set x, y = 1, 2 %}{% set t = 1, 2 %}{{ t }}`, "[1, 2]"},
	} {
		start := time.Now()
		got, err := renderSource(c.source, Limits{})
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.source, got, err, c.want)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%q took %v", c.source, d)
		}
	}
}

// engineRender renders source with the engine alone, without the sandbox: the reference
// for what the rewriting must not change.
func engineRender(source string, data map[string]jinja.Value) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = "", fmt.Errorf("panic: %v", r)
		}
	}()
	c, err := jinja.Compile(source)
	if err != nil {
		return "", err
	}
	return c.RenderValues(data)
}

// sandboxRender renders source through FromJinja's rewriting with the same data.
func sandboxRender(source string, data map[string]any) (string, error) {
	tmpl, err := FromJinja(source, Llama2Tokens)
	if err != nil {
		return "", err
	}
	return Render(tmpl, nil, Options{Vars: data})
}

var rewriteData = map[string]any{
	"x": 7, "y": 2, "f": 1.5, "s": "héllo wörld", "a": "abc", "l": []any{3, 1, 2}, "e": []any{},
	"d": map[string]any{"k": "v", "n": 3, "items": "own"}, "t": true, "z": nil,
	"m": []any{map[string]any{"role": "user", "content": "hi"}, map[string]any{"role": "assistant", "content": " yo "}},
}

// TestRewriteMatchesEngine: expressions over every part of the grammar (precedence, tests,
// filters with arguments, methods, literals, tuples, slices, conditionals) render through
// the sandbox's rewriting exactly as the engine renders them unchanged.
func TestRewriteMatchesEngine(t *testing.T) {
	data := map[string]jinja.Value{}
	for k, v := range rewriteData {
		val, err := goValue(v)
		if err != nil {
			t.Fatal(err)
		}
		data[k] = val
	}
	exprs := []string{
		"1 + 2 ~ 3", "x - y - 1", "x * y + 1", "x // y * 3", "x % y ~ a", "2 ** 3", "-x + 3", "- -x",
		"x / y", "f * 2", "a * 2", "not t", "not x == 7", "x == 7 and y", "z or a", "x > y > 1",
		"a in s", "'b' not in a", "x is odd", "x is not even", "x is divisibleby(7)", "l is sequence",
		"d is mapping and d.k", "z is none", "q is defined", "s|upper", "s|title|length", "l|sort|join(',')",
		"l|map('string')|list", "m|selectattr('role', 'equalto', 'user')|list|length", "m|map(attribute='role')|join",
		"d|dictsort", "d|items|list", "d.items()", "d['k']", "d.k", "d.items", "d.get('n', 0) + 1",
		"l[0] + l[-1]", "l[1:]", "l[::-1]", "l[:2]", "a[1:]", "s[::2]", "s[-3:]", "s[1:-1:2]", "l[5:1:-1]",
		"[x, y] + l", "(x, y)", "()", "(x,)", "{'a': x, 'b': [l, d]}", "{'a': 1}['a']", "[1, 2][1]",
		"x if t else y", "x if z else y", "x if z", "'%s' ~ x", "a ~ l ~ d", "s.split(' ')", "s.upper()",
		"s.replace('l', 'L')", "s.startswith('hé')", "m[1].content.strip()", "m[1]['content'].lstrip()",
		"'{} {}'.format(x, a)", "l|first", "l|last", "e|first", "l|reverse|list", "l|sum", "l|max", "[1.5, 2]|min",
		"x|string ~ '!'", "'3'|int + 1", "f|round", "-f|abs", "l|unique|list", "l|batch(2)|list", "s|wordcount",
		"a|list", "d|tojson", "m|tojson", "'a\\nb'|indent(2)", "s|replace('l', 'x')", "namespace(a=1).a",
		"range(3)|list", "range(1, 9, 3)|list", "true", "None", "null ~ 'x'", "1.5e3", "'it''s'", "\"q\\\"\" ~ 'a'",
		"x + y if x > y else x - y", "(x + y) * 2", "l|length * 2 + 1", "l[0] is number", "s|length > 3 or z",
		"a[0:99:2]", "l[-100:100]", "d.n ** 2", "m|rejectattr('role', 'equalto', 'user')|map(attribute='content')|first",
	}
	for _, e := range exprs {
		src := "{{ " + e + " }}"
		want, werr := engineRender(src, data)
		got, gerr := sandboxRender(src, rewriteData)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Errorf("%s: sandbox %q, %v; engine %q, %v", e, got, gerr, want, werr)
		}
	}
}

// (One difference is deliberate and older than this test: int * string repeats the string,
// as Python does, where the engine gives 0.)

// TestSliceMatchesEngine: the sandbox's slice gives what the engine's gives, on lists and
// strings (ASCII and not), for random bounds and steps around the edges, absent or given.
func TestSliceMatchesEngine(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	data := map[string]jinja.Value{}
	for k, v := range rewriteData {
		val, _ := goValue(v)
		data[k] = val
	}
	bound := func() string {
		if rng.Intn(4) == 0 {
			return ""
		}
		return fmt.Sprint(rng.Intn(31) - 15)
	}
	for i := 0; i < 3000; i++ {
		obj := []string{"l", "s", "a", "e", "'é'", "m"}[rng.Intn(6)]
		step := bound()
		if step == "0" {
			step = "1"
		}
		e := obj + "[" + bound() + ":" + bound()
		if rng.Intn(2) == 0 || step != "" {
			e += ":" + step
		}
		e += "]"
		src := "{{ " + e + " }}"
		want, werr := engineRender(src, data)
		got, gerr := sandboxRender(src, rewriteData)
		if (werr != nil) != (gerr != nil) || got != want {
			t.Fatalf("%s: sandbox %q, %v; engine %q, %v", e, got, gerr, want, werr)
		}
	}
}
