package gen

import (
	"errors"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/decilm/decilm/defaultmodel"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// TestBudget: the MaxTokens rule, one line per case.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		max, prompt, ctx, want int
		err                    bool
	}{
		{-1, 10, 512, 502, false}, // < 0: up to the context
		{-2, 10, 512, 502, false},
		{0, 10, 512, 0, false},  // 0: nothing
		{0, 512, 512, 0, false}, // a prompt filling the context may still be scored
		{5, 10, 512, 5, false},
		{502, 10, 512, 502, false},
		{503, 10, 512, 0, true}, // past the context: an error, not cut
		{-1, 512, 512, 0, true}, // no room to generate
		{0, 513, 512, 0, true},  // the prompt alone does not fit
	} {
		got, err := Budget(tc.max, tc.prompt, tc.ctx)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Budget(%d, %d, %d) = %d, %v; want %d (error %v)", tc.max, tc.prompt, tc.ctx, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrContextLength) {
			t.Errorf("Budget(%d, %d, %d): %v is not ErrContextLength", tc.max, tc.prompt, tc.ctx, err)
		}
	}
}

// stories returns the model description of the embedded stories260K vocabulary (512
// pieces: BOS 1, EOS 2, byte tokens 3..258).
func stories(t *testing.T) Model {
	t.Helper()
	b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.LoadLlama2C(b, 512)
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 512)
	for id := range texts {
		if !tok.IsSpecial(id) {
			texts[id] = tok.TokenText(id)
		}
	}
	v := grammar.NewVocab(texts, []int{2})
	return Model{Tokenizer: tok, EOS: []int{2}, BOS: 1, Context: 64, Vocab: func() *grammar.Vocab { return v }}
}

// pieceID is the id of the vocabulary's piece with text s.
func pieceID(t *testing.T, m Model, s string) int {
	t.Helper()
	for id := 0; id < 512; id++ {
		if m.Tokenizer.TokenText(id) == s {
			return id
		}
	}
	t.Fatalf("no piece %q", s)
	return -1
}

// row returns logits preferring the tokens of ids in order (the first highest).
func row(ids ...int) []float32 {
	r := make([]float32, 512)
	for i, id := range ids {
		r[id] = float32(10 - i)
	}
	return r
}

// TestStateRules drives a State with fixed logits and checks each option's rule: the
// tokens it returns, its text and how it ends.
func TestStateRules(t *testing.T) {
	m := stories(t)
	a, b := pieceID(t, m, " a"), pieceID(t, m, " b")
	for _, tc := range []struct {
		name   string
		o      Options
		rows   [][]float32
		tokens []int
		text   string
		reason string
	}{
		{"max 0 generates nothing", Options{MaxTokens: 0}, [][]float32{row(a)}, nil, "", "length"},
		{"budget", Options{MaxTokens: 2}, [][]float32{row(a), row(b)}, []int{a, b}, "a b", "length"},
		{"until the context", Options{MaxTokens: -1}, [][]float32{row(a), row(2)}, []int{a}, "a", "stop"},
		{"eos ends without a token", Options{MaxTokens: 5}, [][]float32{row(a), row(2)}, []int{a}, "a", "stop"},
		{"ignore eos", Options{MaxTokens: 2, IgnoreEOS: true}, [][]float32{row(2), row(a)}, []int{2, a}, "a", "length"},
		{"stop token ids", Options{MaxTokens: 5, StopTokenIDs: []int{b}}, [][]float32{row(a), row(b)}, []int{a}, "a", "stop"},
		{"min tokens mask eos", Options{MaxTokens: 5, MinTokens: 1}, [][]float32{row(2, b), row(2)}, []int{b}, "b", "stop"},
		{"stop string", Options{MaxTokens: 5, Stop: []string{" b"}}, [][]float32{row(a), row(b)}, []int{a, b}, "a", "stop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(m, []int{1}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var toks []int
			var text strings.Builder
			var last Step
			for i, r := range tc.rows {
				st, err := s.Next(r)
				if err != nil {
					t.Fatal(err)
				}
				if st.Token != nil {
					toks = append(toks, st.Token.ID)
				}
				text.WriteString(st.Text)
				last = st
				if st.Done {
					if i < len(tc.rows)-1 {
						t.Fatalf("done after %d steps, want %d", i+1, len(tc.rows))
					}
					break
				}
			}
			if !last.Done || last.Reason != tc.reason {
				t.Fatalf("last step %+v, want done with %q", last, tc.reason)
			}
			if !slices.Equal(toks, tc.tokens) || text.String() != tc.text {
				t.Errorf("tokens %v text %q, want %v %q", toks, text.String(), tc.tokens, tc.text)
			}
			if s.Generated() != len(tc.tokens) {
				t.Errorf("Generated() = %d, want %d", s.Generated(), len(tc.tokens))
			}
			if _, err := s.Add(a, nil); err == nil {
				t.Error("Add after the end accepted a token")
			}
		})
	}
}

// TestStateLogprobs: log-probabilities are those of the raw logits.
func TestStateLogprobs(t *testing.T) {
	m := stories(t)
	s, err := New(m, []int{1}, Options{MaxTokens: 1, Logprobs: true, TopLogprobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	r := row(300, 301)
	st, err := s.Next(r)
	if err != nil {
		t.Fatal(err)
	}
	want := float64(r[300]) - sample.LogSumExp(r)
	if st.Token == nil || st.Token.ID != 300 || math.Abs(float64(st.Token.Logprob)-want) > 1e-6 || len(st.Token.Top) != 2 || st.Token.Top[1].Token != 301 {
		t.Errorf("step %+v, want token 300 with logprob %g and top [300 301]", st, want)
	}
}

// TestStateGrammar: a grammar masks what it cannot consume (here anything but " a") and
// ends the sequence when nothing may follow.
func TestStateGrammar(t *testing.T) {
	m := stories(t)
	g, err := grammar.ParseGBNF(`root ::= " a"`, "root")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(m, []int{1}, Options{MaxTokens: 5, Grammar: g})
	if err != nil {
		t.Fatal(err)
	}
	a := pieceID(t, m, " a")
	r := row(300, a)
	s.Constrain(r) // computed ahead, as the engine does for many sequences at once
	st, err := s.Next(r)
	if err != nil {
		t.Fatal(err)
	}
	if st.Token == nil || st.Token.ID != a || !st.Done || st.Reason != "stop" {
		t.Errorf("step %+v, want %d then the grammar's end", st, a)
	}
}

// TestNewErrors: bad options are refused with a message naming them.
func TestNewErrors(t *testing.T) {
	m := stories(t)
	for _, tc := range []struct {
		prompt []int
		o      Options
		want   string
	}{
		{nil, Options{}, "empty prompt"},
		{[]int{1}, Options{MaxTokens: 64}, "exceed the context"},
		{[]int{1}, Options{TopLogprobs: -1}, "top logprobs"},
		{[]int{1}, Options{MinTokens: -1}, "min tokens"},
		{[]int{1}, Options{Sampling: sample.Options{Temperature: -1}}, "Temperature"},
	} {
		if _, err := New(m, tc.prompt, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v, %+v) = %v, want an error with %q", tc.prompt, tc.o, err, tc.want)
		}
	}
}
