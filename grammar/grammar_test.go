package grammar

import (
	"strings"
	"testing"
)

// accepts feeds s to a matcher over a one-byte-a-token vocabulary.
func accepts(t *testing.T, g *Grammar, s string) (ok, complete bool) {
	t.Helper()
	texts := make([]string, 257)
	for b := 0; b < 256; b++ {
		texts[b] = string([]byte{byte(b)})
	}
	v := NewVocab(texts, []int{256})
	m, err := NewMatcher(g, v)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(s); i++ {
		// The mask must agree with Accept.
		logits := make([]float32, 257)
		m.Mask(logits)
		allowed := logits[s[i]] == 0
		err := m.Accept(int(s[i]))
		if allowed != (err == nil) {
			t.Fatalf("%q at byte %d: mask says %v, Accept says %v", s, i, allowed, err)
		}
		if err != nil {
			return false, false
		}
	}
	return true, m.Complete()
}

func TestGBNF(t *testing.T) {
	cases := []struct {
		grammar string
		yes     []string
		prefix  []string // accepted but not complete
		no      []string
	}{
		{`root ::= "a" [b-d]+ "e"?`, []string{"ab", "abcd", "abde"}, []string{"a"}, []string{"b", "ae", "abea"}},
		{`root ::= ( "x" | "yz" ){2,3} # comment
`, []string{"xx", "xyz", "yzyzx"}, []string{"x", "y"}, []string{"xxxx", "z"}},
		{"root ::= item (\",\" item)*\nitem ::= [0-9]{1,2}", []string{"1", "12,3", "1,2,34"}, []string{"1,"}, []string{"123", ",1"}},
		{`root ::= [^"\\]* "\""`, []string{`ab"`, `é"`}, []string{"ab"}, []string{`a\`}},
		{`root ::= "é" | "\u00e8" .`, []string{"é", "èx", "è€"}, []string{"è"}, []string{"e"}},
	}
	for _, c := range cases {
		g, err := ParseGBNF(c.grammar, "root")
		if err != nil {
			t.Fatalf("%q: %v", c.grammar, err)
		}
		for _, s := range c.yes {
			if ok, done := accepts(t, g, s); !ok || !done {
				t.Errorf("%q: %q accepted %v complete %v, want both", c.grammar, s, ok, done)
			}
		}
		for _, s := range c.prefix {
			if ok, done := accepts(t, g, s); !ok || done {
				t.Errorf("%q: %q accepted %v complete %v, want a prefix", c.grammar, s, ok, done)
			}
		}
		for _, s := range c.no {
			if ok, _ := accepts(t, g, s); ok {
				t.Errorf("%q: %q accepted", c.grammar, s)
			}
		}
	}
}

func TestGBNFErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`root ::= a`, `"a" is used but not defined`},
		{`root ::= root "x" | "y"`, "left-recursive"},
		{`root ::= "x"{3,2}`, "repetition"},
		{`root ::= [a`, "unterminated"},
		{`root ::= "a`, "unterminated"},
		{`root "a"`, "::="},
		{`x ::= "a"`, `no rule "root"`},
		{"root ::= (\"a\"", "expected )"},
		{`root ::= "a" | b
b ::= c "x"
c ::= "" | b`, "left-recursive"},
	} {
		_, err := ParseGBNF(c.src, "root")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.src, err, c.want)
		}
	}
}

func TestJSONSchemaErrors(t *testing.T) {
	for _, c := range []struct{ schema, want string }{
		{`{"type":"string","pattern":"a+"}`, `"pattern" is not supported`},
		{`{"type":"integer","minimum":3}`, `"minimum" is not supported`},
		{`{"$ref":"#/$defs/nope"}`, "$ref"},
		{`{"type":"object","properties":{"a":{}},"required":["b"]}`, `"b" is not among`},
		{`{"type":"strin"}`, "unknown type"},
		{`[1]`, "must be an object"},
		{`{"type":"string","maxLength":5000}`, "maxLength"},
	} {
		_, err := FromJSONSchema([]byte(c.schema))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.schema, err, c.want)
		}
	}
}

func FuzzParseGBNF(f *testing.F) {
	f.Add(JSONGBNF)
	f.Add(`root ::= "a" [b-d]+ ( "x" | y ){1,3}` + "\ny ::= [^z]*")
	f.Fuzz(func(t *testing.T, src string) {
		g, err := ParseGBNF(src, "root")
		if err != nil {
			return
		}
		_ = g.String()
		accepts(t, g, "ab{\"x\":1}")
	})
}

func FuzzJSONSchema(f *testing.F) {
	f.Add(`{"type":"object","properties":{"a":{"type":"array","items":{"enum":[1,"x"]},"maxItems":2}},"required":["a"]}`)
	f.Fuzz(func(t *testing.T, schema string) {
		g, err := FromJSONSchema([]byte(schema))
		if err != nil {
			return
		}
		accepts(t, g, `{"a":[1]}`)
	})
}

func TestRuneSpan(t *testing.T) {
	for _, c := range []struct {
		p      string
		lo, hi rune
		ok     bool
	}{
		{"\xC3", 0xC0, 0xFF, true},
		{"\xE0", 0x800, 0xFFF, true},
		{"\xED", 0xD000, 0xD7FF, true},
		{"\xED\xA0", 0, 0, false},
		{"\xF4\x8F", 0x10F000, 0x10FFFF, true},
		{"\xF4\x90", 0, 0, false},
		{"\xC0", 0, 0, false},
		{"\xE2\x82", 0x2080, 0x20BF, true},
	} {
		lo, hi, ok := runeSpan([]byte(c.p))
		if ok != c.ok || ok && (lo != c.lo || hi != c.hi) {
			t.Errorf("runeSpan(%q) = %#x %#x %v, want %#x %#x %v", c.p, lo, hi, ok, c.lo, c.hi, c.ok)
		}
	}
}

func TestGBNFGrowthBounded(t *testing.T) {
	src := "root ::= " + strings.Repeat(`"a"{0,1000} `, 25)
	if _, err := ParseGBNF(src, "root"); err == nil || !strings.Contains(err.Error(), "grows past") {
		t.Errorf("25 repetitions of up to 1000: %v", err)
	}
}
