package chat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// renderSource compiles and renders source with one user message.
func renderSource(source string, lim Limits) (string, error) {
	t, err := FromJinja(source, Llama2Tokens)
	if err != nil {
		return "", err
	}
	return Render(t, []Message{{Role: RoleUser, Content: "hi"}}, Options{AddGenerationPrompt: true, Limits: lim})
}

// TestSandboxLimits: templates that would exhaust memory, the stack or time fail quickly with
// an error wrapping ErrLimit (without the sandbox, the first takes 3.5 GB and 20 s and the
// recursive ones crash the process with a stack overflow).
func TestSandboxLimits(t *testing.T) {
	fast := Limits{Timeout: 200 * time.Millisecond, MaxIterations: 1 << 40}
	for _, c := range []struct {
		name, source string
		lim          Limits
		want         string
	}{
		{"range", `{% for i in range(100000000) %}{% endfor %}`, Limits{}, "range of 100000000 items exceeds 100000"},
		{"range huge", `{{ range(-9223372036854775807, 9223372036854775807) | length }}`, Limits{}, "exceeds 100000"},
		{"range step", `{{ range(0, 100000000, -1) | length }}{{ range(100000000, 0, -1) | length }}`, Limits{}, "exceeds 100000"},
		{"iterations", `{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`, Limits{}, "more than 250000 loop iterations"},
		{"iterations over a string", `{% set ns = namespace(s="ab") %}{% for i in range(17) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for c in ns.s %}{% endfor %}`, Limits{}, "loop iterations"},
		{"macro recursion", `{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}`, Limits{}, "macro calls nested more than 100 deep"},
		{"mutual recursion", `{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}`, Limits{MaxDepth: 10}, "nested more than 10 deep"},
		{"output", `{% for i in range(100000) %}{{ messages[0].content * 100 }}{% endfor %}`, Limits{}, "output exceeds 16777216 bytes"},
		{"text output", `{% for i in range(100000) %}` + strings.Repeat("x", 1000) + `{% endfor %}`, Limits{}, "output exceeds"},
		{"macro text", `{% macro f() %}` + strings.Repeat("x", 1000) + `{% endmacro %}{% for i in range(100000) %}{% set _ = f() %}{% endfor %}`, Limits{}, "output exceeds"},
		{"value", `{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}`, Limits{}, "a value of more than 16777216 bytes"},
		{"cyclic tojson", `{% set a = [] %}{% set _ = a.append(a) %}{{ a | tojson }}`, Limits{}, "a list may not hold itself"},
		{"cyclic print", `{% set a = [] %}{% set _ = a.append(a) %}{{ a }}`, Limits{}, "a list may not hold itself"},
		{"string repetition", `{{ "a" * 10000000000 }}`, Limits{}, "string repetition of 1 bytes × 10000000000"},
		{"string repetition in set", `{% set x = 3 * (messages[0].content * 10000000) %}`, Limits{}, "string repetition"},
		{"string repetition by power", `{{ "ab" * (10 ** 10) | int }}`, Limits{}, "string repetition"},
		{"indent", `{{ "a\nb" | indent(10000000000) }}`, Limits{}, "indent of 2 lines by 10000000000"},
		{"namespace holding itself", `{% set ns = namespace(s="") %}{% for i in range(20) %}{% set ns.s = ns, s ~ ns, s %}{% endfor %}`, Limits{}, "a namespace may not hold itself"},
		{"shared value", `{% set ns = namespace(a=[1]) %}{% for i in range(80) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}`, Limits{}, "a value"},
		{"time", `{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}`, fast, "longer than 200ms"},
		{"time in macros", `{% macro f() %}{% for j in range(100000) %}{% endfor %}{% endmacro %}{% for i in range(100000) %}{{ f() }}{% endfor %}`, fast, "longer than 200ms"},
	} {
		start := time.Now()
		_, err := renderSource(c.source, c.lim)
		d := time.Since(start)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want ErrLimit and %q", c.name, err, c.want)
		}
		if d > 5*time.Second { // generous: the test machine may be loaded
			t.Errorf("%s: took %v", c.name, d)
		}
	}
}

// TestSandboxSource: sources too large or nested too deeply for the parser are refused when
// compiled.
func TestSandboxSource(t *testing.T) {
	for name, src := range map[string]string{
		"size":    strings.Repeat("x", 1<<20+1),
		"nesting": "{{ " + strings.Repeat("(", 1000) + "1" + strings.Repeat(")", 1000) + " }}",
	} {
		_, err := FromJinja(src, Llama2Tokens)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("%s: error %v, want ErrLimit", name, err)
		}
	}
	if _, err := FromJinja(`{% macro f(x="a" * 10000000000) %}{{ x }}{% endmacro %}`, Llama2Tokens); !errors.Is(err, ErrLimit) {
		t.Errorf("* in a macro default: error %v, want ErrLimit", err)
	}
	for _, src := range []string{"{% endfor %}", "{% for x in y %}", "{{ x"} {
		if _, err := FromJinja(src, Llama2Tokens); err == nil {
			t.Errorf("%q compiled", src)
		}
	}
}

// TestSandboxWithinLimits: what a real template does is allowed, and renders as without the
// sandbox: range up to Hugging Face's cap, loops, macros, set, raw blocks and whitespace
// control around the hooks.
func TestSandboxWithinLimits(t *testing.T) {
	for _, c := range []struct{ source, want string }{
		{`{{ range(100000) | length }}`, "100000"},
		{`{% for i in range(3) %}{{ i }}{% endfor %}`, "012"},
		{`{% for i in range(10, 0, -3) %}{{ i }},{% endfor %}`, "10,7,4,1,"},
		{`{{ range(5, 2) | length }}`, "0"},
		{"{% for m in messages %}\n  {{- m.role }}:{{ m.content -}}\n{% endfor %}\n!", "user:hi!"},
		{"{% macro f(x) -%}\n  <{{ x }}>\n{%- endmacro %}\n{{ f(1) }}{{ f(2) }}", "<1><2>"},
		{"{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(50) | length }}", "91"},
		{"{% set x = 'a=b' %}{% set y = x == 'a=b' %}{{ x }}{{ y }}", "a=bTrue"},
		{`{% raw %}{{ x }}{% for %}{% endraw %}`, "{{ x }}{% for %}"},
		{"{%- for i in range(2) -%}\n\n  {{ i }}\n\n{%- endfor -%}", "01"},
		{"{% for i in range(2) %}\n{{ i }}\n{% endfor %}", "0\n1\n"},
		{`{{ {"b": 1, "a": [1.5, "é\n", none, true]} | tojson }}`, `{"b": 1, "a": [1.5, "é\n", null, true]}`},
		{`{{ {"b": {}, "a": []} | tojson(indent=2) }}`, "{\n  \"b\": {},\n  \"a\": []\n}"},
		{`{{ "a|tojson" }}{{ [1] |tojson}}`, "a|tojson[1]"},
		{`{{ "-" * 3 }}{{ 3 * "=" }}{{ 2 * 3 * 4 }}{{ -2 * -3 }}{{ 1.5 * 2 }}{{ 2 ** 3 * 2 }}{{ (1 + 2) * 3 }}`, "---===2463169"},
		{`{{ messages[0].content * 2 }}{{ messages | length * 3 }}{{ "x" * 0 }}{{ 'a*b' }}{{ [1, 2][1] * 5 }}`, "hihi3a*b10"},
		{"{% set n = 2 * 2 %}{% if n * 2 == 8 %}{{ n }}{% endif %}", "4"},
		{"{% for x in [1, 2, 3] if x * 2 > 2 %}{{ x }}{% endfor %}{{ 2*3*4 }}{{ '-'*3 }}", "2324---"},
		{"{% macro f(x=(2)) %}{{ x * 2 }}{% endmacro %}{{ f() }}", "4"},
		{`{{ "a\nb\n\nc" | indent(2) }}|{{ "a\nb" | indent(width=1, first=true) }}`, "a\n  b\n\n  c| a\n b"},
	} {
		got, err := renderSource(c.source, Limits{})
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.source, got, err, c.want)
		}
	}
}

// TestWhitespaceControl: trim_blocks, lstrip_blocks, "-" markers, comments, raw blocks,
// newlines and the final newline as Python's jinja2 3.1.6 renders them in transformers'
// environment (the expected strings are its output; messages are user "hi", assistant "yo").
func TestWhitespaceControl(t *testing.T) {
	for _, c := range []struct{ source, want string }{
		{"{% for m in messages %}{{ m.role }}\n{% endfor %}", "user\nassistant\n"},
		{"{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n", "  user\n  assistant\n"},
		{"  {% if true %}\n    x\n  {% endif %}\n  y", "    x\n  y"},
		{"a {% if true %} b {% endif %} c", "a  b  c"},
		{"{% if true %}  \nx{% endif %}", "  \nx"},
		{"{%- if true -%}\n\n  x  \n\n{%- endif -%}\n", "x"},
		{"x  {{- 'y' -}}  z\n{{ 'w' }}\n", "xyz\nw"},
		{"{# c #}\nx\n  {# d #}\ny", "x\ny"},
		{"{% raw %}\n  {{ a }}{% b %}\n{% endraw %}\nz", "\n  {{ a }}{% b %}\nz"},
		{"{% macro f(x) %}\n  [{{ x }}]\n{% endmacro %}\n{{ f(1) }}{{ f(2) }}", "  [1]\n  [2]\n"},
		{"\t{% set x = 1 %}\n{{ x }}\r\n{% if x %}\r\nA\r\n{% endif %}\r\n", "1\nA\n"},
		{"{% for i in [1, 2] %}{{ i }}{% if not loop.last %}, {% endif %}{% endfor %}.", "1, 2."},
		{"{{ '%}' }} {% if '}}' %}ok{% endif %}", "%} ok"},
	} {
		tmpl, err := FromJinja(c.source, Llama2Tokens)
		if err != nil {
			t.Errorf("%q: %v", c.source, err)
			continue
		}
		got, err := tmpl.Render([]Message{{Role: RoleUser, Content: "hi"}, {Role: RoleAssistant, Content: "yo"}}, false)
		if err != nil || got != c.want {
			t.Errorf("%q = %q, %v; want %q", c.source, got, err, c.want)
		}
	}
}

// FuzzSandbox renders arbitrary templates under small limits: each render ends quickly, with
// output or an error, never a crash or a hang.
func FuzzSandbox(f *testing.F) {
	for _, s := range []string{
		`{% for i in range(100000000) %}{% endfor %}`,
		`{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}`,
		`{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}`,
		`{% for m in messages %}{{ m.role }}: {{ m.content | trim }}{% if not loop.last %}{{ '\n' }}{% endif %}{% endfor %}`,
		`{{ messages | tojson(indent=2) }}{% raw %}{{ x }}{% endraw %}`,
		`{% set a = [] %}{% set _ = a.append(a) %}{{ a ~ '' }}{{ a == a }}`,
		`{% set d = {} %}{% set _ = d.update({'k': d}) %}{{ d }}`,
		`{% set a = [1] %}{% set _ = a.insert(0, [a]) %}{{ a[0] in a }}`,
		`{{ (range(10) | list)[0:99999999999:2] }}{{ 'abc'[::-9223372036854775807] }}`,
		`{% set s = 'ab' * 1000 %}{{ (s ~ s ~ s).replace('a', s) | join(s) }}`,
		`{% set l = [] %}{% set r = [l, l, l, l] %}{% set r = [r, r, r, r] %}{% set _ = l.append('x' * 100) %}{{ r == r }}`,
	} {
		f.Add(s)
	}
	lim := Limits{MaxRange: 1000, MaxIterations: 10000, MaxDepth: 20, MaxOutput: 1 << 20, Timeout: 500 * time.Millisecond}
	f.Fuzz(func(t *testing.T, source string) {
		start := time.Now()
		out, err := renderSource(source, lim)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("render took %v", d)
		}
		if err == nil && len(out) > lim.MaxOutput+len(source)+64 {
			t.Fatalf("output of %d bytes", len(out))
		}
	})
}
