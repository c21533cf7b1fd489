package grammar

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// randomVocab is every byte plus n random tokens of 2 to 6 bytes drawn from JSON's
// characters and a few UTF-8 sequences (split anywhere), then an EOS without bytes.
func randomVocab(rng *rand.Rand, n int) []string {
	alphabet := []string{"{", "}", "\"", ":", ",", " ", "a", "b", "n", "1", "-", "[", "]", "\\", "é", "€", "t", "r", "u", "e"}
	texts := make([]string, 0, 256+n+1)
	for b := 0; b < 256; b++ {
		texts = append(texts, string([]byte{byte(b)}))
	}
	for i := 0; i < n; i++ {
		var s []byte
		for len(s) < 2+rng.IntN(5) {
			s = append(s, alphabet[rng.IntN(len(alphabet))]...)
		}
		texts = append(texts, string(s[:2+rng.IntN(len(s)-1)]))
	}
	return append(texts, "")
}

// TestSharedTables: matchers of the same grammar text share one set of tables, and masks
// computed by many goroutines at once through them equal those of a matcher with tables of
// its own, step by step along random walks.
func TestSharedTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	texts := randomVocab(rng, 3000)
	eos := []int{len(texts) - 1}
	schema := []byte(`{"type":"object","properties":{"s":{"type":"string"},"n":{"type":"integer"},"b":{"type":"boolean"}},"required":["s","n"]}`)
	g1, err := FromJSONSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := FromJSONSchema(schema)
	shared := NewVocab(texts, eos)
	a, _ := NewMatcher(g1, shared)
	b, _ := NewMatcher(g2, shared)
	if a.t != b.t {
		t.Fatal("two matchers of the same grammar text have separate tables")
	}
	other, _ := FromJSONSchema([]byte(`{"type":"string"}`))
	if c, _ := NewMatcher(other, shared); c.t == a.t {
		t.Fatal("matchers of different grammars share tables")
	}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			alone := NewVocab(texts, eos) // tables of its own
			ms, _ := NewMatcher(g1, shared)
			ma, _ := NewMatcher(g1, alone)
			for step := 0; step < 60; step++ {
				ls := make([]float32, len(texts))
				la := make([]float32, len(texts))
				ns, err1 := ms.Mask(ls)
				na, err2 := ma.Mask(la)
				if err1 != nil || err2 != nil || ns != na || !slices.Equal(ls, la) {
					t.Errorf("worker %d step %d: shared mask (%d allowed, %v) differs from a lone one (%d, %v)", w, step, ns, err1, na, err2)
					return
				}
				var allowed []int
				for id, l := range ls {
					if l == 0 {
						allowed = append(allowed, id)
					}
				}
				if len(allowed) == 0 {
					t.Errorf("worker %d step %d: nothing allowed", w, step)
					return
				}
				id := allowed[rng.IntN(len(allowed))]
				if slices.Contains(eos, id) {
					return
				}
				if err1, err2 := ms.Accept(id), ma.Accept(id); err1 != nil || err2 != nil {
					t.Errorf("worker %d: allowed token %q rejected: %v %v", w, texts[id], err1, err2)
					return
				}
				if ms.Done() {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestApplyBits checks the mask's bit set against a plain loop on lengths around
// multiples of 64.
func TestApplyBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{1, 63, 64, 65, 127, 128, 200} {
		bits := make([]uint64, (n+63)/64)
		for w := range bits {
			switch rng.IntN(3) {
			case 0:
			case 1:
				bits[w] = ^uint64(0)
			default:
				bits[w] = rng.Uint64()
			}
		}
		logits := make([]float32, n)
		got := applyBits(logits, bits)
		want := 0
		for i := 0; i < n; i++ {
			in := bits[i/64]&(1<<uint(i%64)) != 0
			if in {
				want++
			}
			if in != (logits[i] == 0) {
				t.Fatalf("n=%d: logit %d is %v, bit %v", n, i, logits[i], in)
			}
		}
		if got != want {
			t.Errorf("n=%d: %d allowed, want %d", n, got, want)
		}
	}
}

// TestWrap: a wrapped grammar accepts the prefix, a sentence of the inner grammar and the
// suffix, and nothing else; the inner grammar is unchanged.
func TestWrap(t *testing.T) {
	inner, err := ParseGBNF(`root ::= "a" [0-9]+`, "root")
	if err != nil {
		t.Fatal(err)
	}
	before := inner.String()
	g := Wrap("<t>\n", inner, "\n</t>")
	if inner.String() != before {
		t.Fatalf("Wrap changed the inner grammar:\n%s", inner.String())
	}
	for _, c := range []struct {
		s            string
		ok, complete bool
	}{
		{"<t>\na12\n</t>", true, true},
		{"<t>\na1", true, false},
		{"<t>\n\n</t>", false, false},
		{"a1", false, false},
		{"<t>\na1\n</t>x", false, false},
	} {
		ok, complete := accepts(t, g, c.s)
		if ok != c.ok || complete != c.complete {
			t.Errorf("%q: accepted %v complete %v, want %v %v", c.s, ok, complete, c.ok, c.complete)
		}
	}
}

// TestRepetitionStaysOneState: the characters of a long JSON string lead back to one state,
// so a string of any length makes a bounded number of states and masks (the recognizer
// returns from a rule reference that ends its alternative without keeping a frame).
func TestRepetitionStaysOneState(t *testing.T) {
	g, err := FromJSONSchema([]byte(`{"type":"object","properties":{"s":{"type":"string"}},"required":["s"]}`))
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 257)
	for b := 0; b < 256; b++ {
		texts[b] = string([]byte{byte(b)})
	}
	m, _ := NewMatcher(g, NewVocab(texts, []int{256}))
	logits := make([]float32, 257)
	feed := func(s string) {
		for i := 0; i < len(s); i++ {
			if _, err := m.Mask(logits); err != nil {
				t.Fatal(err)
			}
			if err := m.Accept(int(s[i])); err != nil {
				t.Fatalf("%q rejected at %d: %v", s, i, err)
			}
		}
	}
	feed(`{"s": "`)
	feed("abc")
	before := len(m.t.dstates)
	feed(strings.Repeat("xyz ", 500))
	if after := len(m.t.dstates); after != before {
		t.Errorf("2000 more characters of a string made %d new states", after-before)
	}
	feed(`"}`)
	if !m.Done() {
		t.Error("the object is not complete")
	}
}
