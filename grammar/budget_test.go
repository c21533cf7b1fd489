package grammar

import (
	"math"
	"math/rand/v2"
	"testing"
)

// budgetGrammars are the grammars the budget tests walk: JSON mode, a schema with
// required keys, nesting and bounded strings, a tool call wrapped in tags, and GBNF with
// non-ASCII characters.
func budgetGrammars(t *testing.T) map[string]*Grammar {
	t.Helper()
	schema, err := FromJSONSchema([]byte(`{"type":"object","properties":{
		"name":{"type":"string","minLength":2,"maxLength":8},"n":{"type":"integer"},
		"tags":{"type":"array","items":{"enum":["red","green"]},"minItems":1,"maxItems":3},
		"pet":{"type":"object","properties":{"kind":{"const":"cat"}},"required":["kind"]}},
		"required":["name","n","tags","pet"]}`))
	if err != nil {
		t.Fatal(err)
	}
	gbnf, err := ParseGBNF(`root ::= ( "é" | "ab" ) [€-€]{1,3} ( "x"+ | "yz" ) "."`, "root")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Grammar{"json": JSONObject(), "schema": schema,
		"wrapped": Wrap("<tool_call>\n", schema, "\n</tool_call>"), "gbnf": gbnf}
}

// allowedSet is the set of tokens (EOS excluded) MaskWithin leaves for left.
func allowedSet(t *testing.T, m *Matcher, size, left int) map[int]bool {
	t.Helper()
	logits := make([]float32, size)
	if _, err := m.MaskWithin(logits, left); err != nil {
		t.Fatal(err)
	}
	set := map[int]bool{}
	for id, x := range logits {
		if !math.IsInf(float64(x), -1) && !contains(m.t.v.eos, id) {
			set[id] = true
		}
	}
	return set
}

func contains(s []int, x int) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// TestCloseBoundIsShortest: over a one-byte-a-token vocabulary the closing bound of every
// state met on random walks is the length of its shortest completion. Checked locally: it
// is 0 exactly when the state is complete, no byte lowers it by more than one, and some
// byte lowers it by exactly one; by induction on the length of the shortest completion
// (and down the path of bytes lowering it) a function with these three properties is
// that length.
func TestCloseBoundIsShortest(t *testing.T) {
	texts := make([]string, 257)
	for b := 0; b < 256; b++ {
		texts[b] = string([]byte{byte(b)})
	}
	v := NewVocab(texts, []int{256})
	rng := rand.New(rand.NewPCG(1, 2))
	states := 0
	for name, g := range budgetGrammars(t) {
		for walk := 0; walk < 20; walk++ {
			m, err := NewMatcher(g, v)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 40 && !m.Done(); step++ {
				states++
				f := m.CloseBound()
				if f < 0 || (f == 0) != m.Complete() {
					t.Fatalf("%s: walk %d step %d: CloseBound %d, Complete %v", name, walk, step, f, m.Complete())
				}
				var ids []int
				lowered := false
				for b := 0; b < 256; b++ {
					c := &Matcher{t: m.t, st: m.st}
					if c.Accept(b) != nil {
						continue
					}
					ids = append(ids, b)
					fc := c.CloseBound()
					if fc < f-1 {
						t.Fatalf("%s: walk %d step %d: byte %q lowers CloseBound from %d to %d", name, walk, step, texts[b], f, fc)
					}
					lowered = lowered || fc == f-1
				}
				if f > 0 && !lowered {
					t.Fatalf("%s: walk %d step %d: no byte lowers CloseBound %d", name, walk, step, f)
				}
				if len(ids) == 0 {
					break
				}
				if err := m.Accept(ids[rng.IntN(len(ids))]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("%d states checked", states)
}

func keys(set map[int]bool) []int {
	var ids []int
	for id := 0; id < 1<<20 && len(ids) < len(set); id++ {
		if set[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestMaskWithinAlwaysCloses: with random multi-byte tokens, sequences sampling uniformly
// among the allowed tokens (EOS included once complete) under a budget no smaller than
// the starting CloseBound always end complete, however tight the budget.
func TestMaskWithinAlwaysCloses(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	texts := randomVocab(rng, 3000)
	eos := len(texts) - 1
	v := NewVocab(texts, []int{eos})
	for name, g := range budgetGrammars(t) {
		m0, err := NewMatcher(g, v)
		if err != nil {
			t.Fatal(err)
		}
		start := m0.CloseBound()
		if start <= 0 {
			t.Fatalf("%s: CloseBound at the start %d", name, start)
		}
		for run := 0; run < 60; run++ {
			budget := start + rng.IntN(3)*rng.IntN(20)
			m, _ := NewMatcher(g, v)
			n := 0
			for ; n < budget && !m.Done(); n++ {
				logits := make([]float32, len(texts))
				if _, err := m.MaskWithin(logits, budget-n); err != nil {
					t.Fatal(err)
				}
				var ids []int
				for id, x := range logits {
					if !math.IsInf(float64(x), -1) {
						ids = append(ids, id)
					}
				}
				if len(ids) == 0 {
					t.Fatalf("%s: budget %d: nothing allowed after %d tokens", name, budget, n)
				}
				id := ids[rng.IntN(len(ids))]
				if id == eos {
					break
				}
				if err := m.Accept(id); err != nil {
					t.Fatal(err)
				}
			}
			if !m.Complete() {
				t.Errorf("%s: budget %d (bound %d at the start): incomplete after %d tokens", name, budget, start, n)
			}
		}
	}
}

// TestMaskWithinUnchangedUnlessBinding: at every step of random walks, MaskWithin is
// Mask exactly when every allowed token leaves a closing bound within the budget (checked
// token by token through Accept), and otherwise it is the allowed tokens that do.
func TestMaskWithinUnchangedUnlessBinding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	texts := randomVocab(rng, 1500)
	v := NewVocab(texts, []int{len(texts) - 1})
	binding := 0
	for name, g := range budgetGrammars(t) {
		for walk := 0; walk < 6; walk++ {
			m, err := NewMatcher(g, v)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < 30 && !m.Done(); step++ {
				all := allowedSet(t, m, len(texts), -1)
				if len(all) == 0 {
					break
				}
				// The bound after each allowed token, through Accept on a copy.
				after := map[int]int{}
				worst := 0
				for id := range all {
					c := &Matcher{t: m.t, st: m.st}
					if err := c.Accept(id); err != nil {
						t.Fatalf("%s: token %d allowed by Mask, refused by Accept: %v", name, id, err)
					}
					after[id] = c.CloseBound()
					worst = max(worst, after[id])
				}
				for _, left := range []int{1, 2, 4, 8, worst, worst + 1, 1000} {
					got := allowedSet(t, m, len(texts), left)
					want := all
					if worst > left-1 {
						binding++
						want = map[int]bool{}
						best := math.MaxInt
						for _, c := range after {
							best = min(best, c)
						}
						for id, c := range after {
							if c <= max(left-1, best) {
								want[id] = true
							}
						}
					}
					if len(got) != len(want) {
						t.Fatalf("%s: step %d left %d: %d tokens allowed, want %d", name, step, left, len(got), len(want))
					}
					for id := range want {
						if !got[id] {
							t.Fatalf("%s: step %d left %d: token %q masked", name, step, left, texts[id])
						}
					}
				}
				ids := keys(all)
				if err := m.Accept(ids[rng.IntN(len(ids))]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if binding == 0 {
		t.Fatal("the budget never bound")
	}
}

// TestPrepare: a mask computed ahead by Prepare is the one MaskWithin computes itself,
// for the budget it was prepared for, and a different budget or a token accepted since
// does not use it.
func TestPrepare(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	texts := randomVocab(rng, 1000)
	v := NewVocab(texts, []int{len(texts) - 1})
	for name, g := range budgetGrammars(t) {
		m, err := NewMatcher(g, v)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := NewMatcher(g, v)
		for step := 0; step < 25 && !m.Done(); step++ {
			left := 1 + rng.IntN(30)
			if err := p.Prepare(left); err != nil {
				t.Fatal(err)
			}
			for _, l := range []int{left, left + 3, -1} {
				want, got := allowedSet(t, m, len(texts), l), allowedSet(t, p, len(texts), l)
				if len(want) != len(got) {
					t.Fatalf("%s step %d: prepared for %d, masked for %d: %d tokens, want %d", name, step, left, l, len(got), len(want))
				}
			}
			ids := keys(allowedSet(t, m, len(texts), 40))
			if len(ids) == 0 {
				break
			}
			id := ids[rng.IntN(len(ids))]
			if err := m.Accept(id); err != nil {
				t.Fatal(err)
			}
			if err := p.Prepare(left); err != nil { // prepared for the old state
				t.Fatal(err)
			}
			if err := p.Accept(id); err != nil {
				t.Fatal(err)
			}
		}
	}
}
