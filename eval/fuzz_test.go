package eval

import (
	"bytes"
	"strings"
	"testing"
)

// itemsFromRows feeds rows to every task's converter and builds the requests of the
// items that convert: none of it may panic, and converted items must be usable.
func itemsFromRows(t *testing.T, rows []Row) {
	for _, name := range TaskNames() {
		task, _ := Lookup(name)
		for _, r := range rows {
			it, err := task.ItemFromRow(r)
			if err != nil {
				continue
			}
			reqs := task.Requests(&it, []*Item{&it})
			if task.Kind != Loglikelihood && len(reqs) != len(it.Choices) {
				t.Fatalf("%s: %d requests for %d choices", name, len(reqs), len(it.Choices))
			}
		}
	}
}

func FuzzReadJSONLines(f *testing.F) {
	f.Add([]byte(`{"query": "Question: q", "choices": ["a", "b"], "gold": 1}`))
	f.Add([]byte(`{"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}` + "\n" + `{"text": "a b"}`))
	f.Add([]byte(`{"activity_label": "x", "ctx_a": "[a] b", "ctx_b": "c", "endings": ["d [title] e"], "label": "0"}`))
	f.Add([]byte(`{"sentence": "a _ b", "option1": "x", "option2": "y", "answer": "2"}` + "\n\n" + `{"context_options": ["a"], "continuation": "b", "gold": 0}`))
	f.Add([]byte(`{"question": "q", "mc1_targets": {"choices": ["a"], "labels": [1]}, "mc2_targets": {"choices": ["a"], "labels": [1]}}`))
	f.Add([]byte(`{"goal": "g", "sol1": "a", "sol2": "b", "label": 1e300}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadJSONLines(bytes.NewReader(data))
		if err != nil {
			return
		}
		itemsFromRows(t, rows)
	})
}

func FuzzReadJSON(f *testing.F) {
	f.Add([]byte(`[{"question": "q", "mc1_targets": {"a": 1, "b": 0}, "mc2_targets": {"a": 1, "a": 0}}]`))
	f.Add([]byte(`[{"question": "q", "mc1_targets": {"choices": ["a"], "labels": [1]}}]`))
	f.Add([]byte(`{"text": "a b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := readJSON(bytes.NewReader(data))
		if err != nil {
			return
		}
		itemsFromRows(t, rows)
	})
}

func FuzzReadHellaSwagText(f *testing.F) {
	f.Add("Roof shingle removal: A man is sitting on a roof. he\n3\nis a.\nis b.\nis c.\nstarts d.\n")
	f.Add("a\n0\nb\nc\nd\ne")
	f.Add("a\r\n 2 \r\nb\r\nc\r\nd\r\ne\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ReadHellaSwagText(strings.NewReader(s))
		if err != nil {
			return
		}
		task, _ := Lookup("hellaswag")
		for _, r := range rows {
			it, err := task.ItemFromRow(r)
			if err != nil {
				t.Fatalf("row %v read but not converted: %v", r, err)
			}
			if len(it.Choices) != 4 {
				t.Fatalf("%d choices", len(it.Choices))
			}
		}
	})
}

func FuzzReadParquet(f *testing.F) {
	for _, rows := range [][]arcPQ{
		{arcRow("Which?", "B", "x", "y")},
		{arcRow("a", "A", "b"), arcRow("c", "C", "d", "e", "f")},
	} {
		var buf bytes.Buffer
		if err := writeParquetTo(&buf, rows); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	var buf bytes.Buffer
	if err := writeParquetTo(&buf, []winograndePQ{{Sentence: "X _ y.", Option1: "a", Option2: "b", Answer: "2"}}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := ReadParquet(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		itemsFromRows(t, rows)
	})
}

func FuzzEncode(f *testing.F) {
	f.Add("Question: x\nAnswer:", " yes", 0, false)
	f.Add("The answer is ", "yes", 3, true)
	f.Add("", " a b c", 2, false)
	f.Add(" \n ", "x", 1, false)
	f.Fuzz(func(t *testing.T, ctx, cont string, maxLen int, noBOS bool) {
		if maxLen < 0 || maxLen > 1<<16 {
			return
		}
		for _, tok := range []Tokenizer{byteTok{}, newWordTok()} {
			tr, err := Encode(tok, Request{ctx, cont}, EncodeOptions{NoBOS: noBOS, MaxLength: maxLen})
			if err != nil {
				continue
			}
			if len(tr.Context) == 0 || len(tr.Continuation) == 0 {
				t.Fatalf("empty side: %v", tr)
			}
			if maxLen > 0 && len(tr.Context)+len(tr.Continuation) > maxLen+1 {
				t.Fatalf("%d+%d tokens for max length %d", len(tr.Context), len(tr.Continuation), maxLen)
			}
		}
	})
}
