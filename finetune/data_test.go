package finetune_test

import (
	"strings"
	"testing"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/tokenizer"
)

func storiesTokenizer(t testing.TB) *tokenizer.Tokenizer {
	t.Helper()
	tok, err := tokenizer.Load(testmodel.Tokenizer(t, t.TempDir(), 512))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func template(t testing.TB, name string) chat.Template {
	t.Helper()
	tm, err := chat.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// countedText decodes the tokens that the loss counts, run by run.
func countedText(t *testing.T, tok *tokenizer.Tokenizer, ex finetune.Example) []string {
	t.Helper()
	var runs []string
	var cur []int
	flush := func() {
		if len(cur) > 0 {
			s, err := tok.Decode(cur)
			if err != nil {
				t.Fatal(err)
			}
			runs = append(runs, s)
			cur = nil
		}
	}
	for i, c := range ex.Loss {
		if c && ex.Tokens[i+1] == tok.EOS() {
			flush()
			runs = append(runs, "<EOS>")
		} else if c {
			cur = append(cur, ex.Tokens[i+1])
		} else {
			flush()
		}
	}
	flush()
	// Join EOS to the run before it.
	var out []string
	for _, r := range runs {
		if r == "<EOS>" && len(out) > 0 {
			out[len(out)-1] += r
			continue
		}
		out = append(out, r)
	}
	return out
}

func TestReadDataMasksTheResponse(t *testing.T) {
	tok := storiesTokenizer(t)
	const eos = "<EOS>"
	for _, tc := range []struct {
		name, format, template, line string
		want                         []string // the decoded runs of counted tokens
	}{
		{"openorca columns", "orca", "decilm-6b-instruct",
			`{"id":"x","system_prompt":"Be brief.","question":"Name a cat.","response":"Tom the cat."}`,
			[]string{"Tom the cat.\n\n" + eos}},
		{"openorca no system", "orca", "decilm-7b-instruct",
			`{"system_prompt":"","question":"Hi","response":"Hello there"}`,
			[]string{"Hello there\n" + eos}},
		{"preference pair", "orca", "decilm-7b-instruct",
			`{"input":{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q?"}]},"preferred_output":[{"role":"assistant","content":"A lion."}],"non_preferred_output":[{"role":"assistant","content":"no"}]}`,
			[]string{"A lion.\n" + eos}},
		{"chat two turns", "chat", "decilm-7b-instruct",
			`{"messages":[{"role":"user","content":"one"},{"role":"assistant","content":"two"},{"role":"user","content":"three"},{"role":"assistant","content":"four"}]}`,
			[]string{"two\n", "four\n" + eos}},
		{"chat ends with user", "chat", "decilm-7b-instruct",
			`{"messages":[{"role":"user","content":"one"},{"role":"assistant","content":"two"},{"role":"user","content":"three"}]}`,
			[]string{"two\n"}},
		{"text", "text", "", `{"text":"Q: a\nA: b"}`, []string{"Q: a\nA: b" + eos}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tm chat.Template
			if tc.template != "" {
				tm = template(t, tc.template)
			}
			exs, st, err := finetune.ReadData(strings.NewReader(tc.line+"\n\n"), "data.jsonl", tok, finetune.DataOptions{Format: tc.format, Template: tm, SeqLen: 512})
			if err != nil {
				t.Fatal(err)
			}
			if len(exs) != 1 || st.Rows != 1 || st.Kept != 1 {
				t.Fatalf("%d examples, stats %+v", len(exs), st)
			}
			ex := exs[0]
			if len(ex.Loss) != len(ex.Tokens)-1 {
				t.Fatalf("%d tokens, %d loss flags", len(ex.Tokens), len(ex.Loss))
			}
			got := countedText(t, tok, ex)
			// The first counted token may carry SentencePiece's leading space.
			if len(got) > 0 {
				got[0] = strings.TrimPrefix(got[0], " ")
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("counted text %q, want %q", got, tc.want)
			}
			if endsEOS := ex.Tokens[len(ex.Tokens)-1] == tok.EOS(); endsEOS != strings.HasSuffix(tc.want[len(tc.want)-1], eos) {
				t.Errorf("ends with EOS: %v", endsEOS)
			}
			if tc.format != "text" {
				// The tokens before the response are those of the prompt alone.
				if st.Reboundaried != 0 {
					t.Errorf("%d boundaries re-tokenized", st.Reboundaried)
				}
			}
		})
	}
}

func TestReadDataLimits(t *testing.T) {
	tok := storiesTokenizer(t)
	data := `{"text":"a short one"}
{"text":"` + strings.Repeat("long words here ", 40) + `"}

{"system_prompt":"s","question":"q","response":""}
{"text":"another"}
`
	exs, st, err := finetune.ReadData(strings.NewReader(data), "d.jsonl", tok, finetune.DataOptions{Format: "text", SeqLen: 32})
	if err == nil {
		t.Fatalf("a row without text was accepted: %+v", st)
	}
	if !strings.Contains(err.Error(), "d.jsonl:4:") || !strings.Contains(err.Error(), `"text"`) {
		t.Errorf("err = %v, want one naming d.jsonl:4 and the text field", err)
	}
	data = strings.Replace(data, `{"system_prompt":"s","question":"q","response":""}`, `{"text":""}`, 1)
	exs, st, err = finetune.ReadData(strings.NewReader(data), "d.jsonl", tok, finetune.DataOptions{Format: "text", SeqLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	if len(exs) != 3 || st.TooLong != 1 || st.Rows != 4 || st.Kept != 3 {
		t.Errorf("%d examples, stats %+v; want 3 kept, 1 too long", len(exs), st)
	}
	for _, tc := range []struct {
		name, format, data, want string
		o                        finetune.DataOptions
	}{
		{"bad json", "text", "{\"text\":\"a\"}\n{\"text\":\n", "d.jsonl:2: bad JSON", finetune.DataOptions{}},
		{"long line", "text", "{\"text\":\"a\"}\n{\"text\":\"" + strings.Repeat("x", 200) + "\"}\n", "d.jsonl:2: line longer than 100 bytes", finetune.DataOptions{MaxLineBytes: 100}},
		{"rows", "text", strings.Repeat("{\"text\":\"a\"}\n", 5), "d.jsonl:4: more than 3 rows", finetune.DataOptions{MaxRows: 3}},
		{"format", "csv", "", "unknown data format", finetune.DataOptions{}},
		{"orca role", "orca", `{"input":{"messages":[{"role":"assistant","content":"x"}]},"preferred_output":[{"role":"assistant","content":"y"}]}`, `d.jsonl:1: format orca: "input.messages"[0] has role "assistant"`, finetune.DataOptions{}},
		{"orca half", "orca", `{"question":"q"}`, `needs both`, finetune.DataOptions{}},
		{"chat no reply", "chat", `{"messages":[{"role":"user","content":"x"}]}`, "no assistant message", finetune.DataOptions{}},
		{"template role", "chat", `{"messages":[{"role":"tool","content":"x"},{"role":"assistant","content":"y"}]}`, `d.jsonl:1: chat: message 0 has role "tool"`, finetune.DataOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Format, o.Template, o.SeqLen = tc.format, template(t, "decilm-7b-instruct"), 64
			_, _, err := finetune.ReadData(strings.NewReader(tc.data), "d.jsonl", tok, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestReadDataBoundaryMerge: with the plain template the response follows the prompt after
// "\n" and no special token, so a tokenizer may merge across the boundary; the straddling
// token then counts as response, and the boundary is counted.
func TestReadDataBoundaryMerge(t *testing.T) {
	tok := storiesTokenizer(t)
	// "Once upon a time" is one run of SentencePiece text; splitting it as prompt "Once up"
	// and response "on a time" with a template that joins them without a separator makes the
	// boundary fall inside a token.
	tm := joinTemplate{}
	exs, st, err := finetune.ReadData(strings.NewReader(`{"messages":[{"role":"user","content":"Once up"},{"role":"assistant","content":"on a time"}]}`), "d.jsonl", tok, finetune.DataOptions{Format: "chat", Template: tm, SeqLen: 64})
	if err != nil {
		t.Fatal(err)
	}
	if st.Reboundaried != 1 {
		t.Fatalf("Reboundaried = %d, want 1", st.Reboundaried)
	}
	got := strings.Join(countedText(t, tok, exs[0]), "")
	if !strings.HasSuffix(got, "on a time<EOS>") || strings.Contains(got, "Once") {
		t.Errorf("counted text %q: want the response, the straddling token and EOS, not the prompt", got)
	}
}

// joinTemplate concatenates the contents with nothing between them.
type joinTemplate struct{}

func (joinTemplate) Name() string { return "join" }
func (joinTemplate) Render(msgs []chat.Message, _ bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Content)
	}
	return b.String(), nil
}
