package eval

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The parquet test files are written with parquet-go from structs whose tags give the
// hub's shapes as pyarrow writes them: optional columns, three-level LIST columns with
// optional elements, nested structs, int32/int64 and string labels.

type arcChoicesPQ struct {
	Text  []string `parquet:"text,optional,list" parquet-element:",optional"`
	Label []string `parquet:"label,optional,list" parquet-element:",optional"`
}

type arcPQ struct {
	ID        string        `parquet:"id,optional"`
	Question  string        `parquet:"question,optional"`
	Choices   *arcChoicesPQ `parquet:"choices,optional"`
	AnswerKey string        `parquet:"answerKey,optional"`
}

type boolqPQ struct {
	Question string `parquet:"question,optional"`
	Passage  string `parquet:"passage,optional"`
	Idx      *int32 `parquet:"idx,optional"`
	Label    *int64 `parquet:"label,optional"`
}

type hellaswagPQ struct {
	ActivityLabel string   `parquet:"activity_label,optional"`
	CtxA          string   `parquet:"ctx_a,optional"`
	CtxB          string   `parquet:"ctx_b,optional"`
	Endings       []string `parquet:"endings,optional,list" parquet-element:",optional"`
	Label         string   `parquet:"label,optional"`
}

type targetsPQ struct {
	Choices []string `parquet:"choices,optional,list" parquet-element:",optional"`
	Labels  []*int32 `parquet:"labels,optional,list"`
}

type truthfulqaPQ struct {
	Question string     `parquet:"question,optional"`
	MC1      *targetsPQ `parquet:"mc1_targets,optional"`
	MC2      *targetsPQ `parquet:"mc2_targets,optional"`
}

type winograndePQ struct {
	Sentence string `parquet:"sentence,optional"`
	Option1  string `parquet:"option1,optional"`
	Option2  string `parquet:"option2,optional"`
	Answer   string `parquet:"answer,optional"`
}

func ptr[T any](v T) *T { return &v }

func writeParquetTo[T any](w io.Writer, rows []T) error { return parquet.Write(w, rows) }

func writeParquet[T any](t testing.TB, path string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	if err := writeParquetTo(&buf, rows); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func arcRow(q string, key string, text ...string) arcPQ {
	return arcPQ{ID: "x", Question: q, Choices: &arcChoicesPQ{Text: text, Label: []string{"A", "B", "C", "D"}[:len(text)]}, AnswerKey: key}
}

func TestParquetHubLayout(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "allenai", "ai2_arc")
	writeParquet(t, filepath.Join(repo, "ARC-Easy", "test-00000-of-00002.parquet"),
		[]arcPQ{arcRow("Which is a mammal?", "B", "shark", "whale"), arcRow("Q2", "A", "x", "y")})
	writeParquet(t, filepath.Join(repo, "ARC-Easy", "test-00001-of-00002.parquet"), []arcPQ{arcRow("Q3", "C", "x", "y", "z")})
	writeParquet(t, filepath.Join(repo, "ARC-Challenge", "test-00000-of-00001.parquet"), []arcPQ{arcRow("hard", "A", "x", "y")})
	var train []arcPQ
	for i := range 10 {
		train = append(train, arcRow("T"+string(rune('a'+i)), "A", "p", "q"))
	}
	writeParquet(t, filepath.Join(repo, "ARC-Easy", "train-00000-of-00001.parquet"), train)

	task, err := Load(dir, "arc_easy", LoadOptions{Train: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{
		{Query: "Question: Which is a mammal?\nAnswer:", Choices: []string{"shark", "whale"}, Gold: 1},
		{Query: "Question: Q2\nAnswer:", Choices: []string{"x", "y"}, Gold: 0},
		{Query: "Question: Q3\nAnswer:", Choices: []string{"x", "y", "z"}, Gold: 2},
	}
	if !reflect.DeepEqual(task.Items, want) {
		t.Errorf("items %+v, want %+v", task.Items, want)
	}
	if len(task.Train) != 10 || task.Train[3].Query != "Question: Td\nAnswer:" {
		t.Errorf("train: %d items, [3] = %+v", len(task.Train), task.Train[3])
	}
	ch, err := Load(dir, "arc_challenge", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Items) != 1 || ch.Items[0].Query != "Question: hard\nAnswer:" {
		t.Errorf("arc_challenge read %+v from %s", ch.Items, ch.Source)
	}
}

// Other datasets' parquet schemas: numeric and string labels, int lists, structs.
func TestParquetSchemas(t *testing.T) {
	dir := t.TempDir()
	writeParquet(t, filepath.Join(dir, "aps", "super_glue", "boolq", "validation-00000-of-00001.parquet"),
		[]boolqPQ{{Question: "is it", Passage: "It is.", Idx: ptr(int32(0)), Label: ptr(int64(1))}})
	writeParquet(t, filepath.Join(dir, "Rowan", "hellaswag", "data", "validation-00000-of-00001.parquet"),
		[]hellaswagPQ{{ActivityLabel: "Roof shingle removal", CtxA: "A man is sitting on a roof.", CtxB: "he", Endings: []string{"a.", "b.", "c.", "d."}, Label: "3"}})
	writeParquet(t, filepath.Join(dir, "datasets--truthfulqa--truthful_qa", "snapshots", "0123abc", "multiple_choice", "validation-00000-of-00001.parquet"),
		[]truthfulqaPQ{{Question: "Q?", MC1: &targetsPQ{Choices: []string{"a", "b"}, Labels: []*int32{ptr(int32(1)), ptr(int32(0))}},
			MC2: &targetsPQ{Choices: []string{"a", "b", "c"}, Labels: []*int32{ptr(int32(1)), ptr(int32(0)), ptr(int32(1))}}}})
	writeParquet(t, filepath.Join(dir, "allenai", "winogrande", "winogrande_xl", "validation-00000-of-00001.parquet"),
		[]winograndePQ{{Sentence: "X _ y.", Option1: "a", Option2: "b", Answer: "2"}})
	writeParquet(t, filepath.Join(dir, "allenai", "winogrande", "winogrande_xs", "validation-00000-of-00001.parquet"),
		[]winograndePQ{{Sentence: "wrong _ config.", Option1: "a", Option2: "b", Answer: "1"}})

	tests := []struct {
		task string
		want Item
	}{
		{"boolq", Item{Query: "It is.\nQuestion: is it?\nAnswer:", Choices: []string{"no", "yes"}, Gold: 1}},
		{"hellaswag", Item{Query: "Roof shingle removal: A man is sitting on a roof. He", Choices: []string{"a.", "b.", "c.", "d."}, Gold: 3}},
		{"truthfulqa_mc2", Item{Query: TruthfulQAPreamble + "\n\nQ: Q?\nA:", Choices: []string{"a", "b", "c"}, Labels: []int{1, 0, 1}}},
		{"truthfulqa_mc1", Item{Query: TruthfulQAPreamble + "\n\nQ: Q?\nA:", Choices: []string{"a", "b"}}},
		{"winogrande", Item{Choices: []string{"X a", "X b"}, Target: "y.", Gold: 1}},
	}
	for _, tt := range tests {
		task, err := Load(dir, tt.task, LoadOptions{})
		if err != nil {
			t.Errorf("%s: %v", tt.task, err)
			continue
		}
		if len(task.Items) != 1 || !reflect.DeepEqual(task.Items[0], tt.want) {
			t.Errorf("%s: %+v from %s, want %+v", tt.task, task.Items, task.Source, tt.want)
		}
	}
}

func TestLocateLayouts(t *testing.T) {
	dir := t.TempDir()
	put := func(rel, content string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("EleutherAI/lambada_openai/data/lambada_test.jsonl", `{"text": "a b c"}`+"\n")
	put("EleutherAI/lambada_openai/data/lambada_test_de.jsonl", `{"text": "x y z"}`+"\n")
	put("openbookqa/main/test.jsonl", `{"question_stem": "Why", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "B"}`+"\n")
	put("openbookqa/additional/test.jsonl", `{"question_stem": "Not this", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "A"}`+"\n")
	put("piqa/validation.jsonl", `{"goal": "g", "sol1": "s1", "sol2": "s2", "label": 0}`+"\n")
	put("unrelated/test-00000-of-00001.jsonl", `{"nothing": 1}`+"\n")

	l, err := Load(dir, "lambada_openai", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || !reflect.DeepEqual(l.Items[0], Item{Query: "a b", Target: " c"}) {
		t.Errorf("lambada: %+v from %s", l.Items, l.Source)
	}
	o, err := Load(dir, "openbookqa", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Items) != 1 || o.Items[0].Query != "Why" || o.Items[0].Gold != 1 {
		t.Errorf("openbookqa: %+v from %s", o.Items, o.Source)
	}
	if p, err := Load(dir, "piqa", LoadOptions{}); err != nil || p.Items[0].Query != "Question: g\nAnswer:" {
		t.Errorf("piqa: %v", err)
	}
	_, err = Load(dir, "winogrande", LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "winogrande: no validation split under") || !strings.Contains(err.Error(), "winogrande_xl/validation*.parquet") {
		t.Errorf("missing winogrande: %v", err)
	}
	if _, err := Load(dir, "piqa", LoadOptions{Train: true}); err == nil || !strings.Contains(err.Error(), "few-shot: piqa: no train split") {
		t.Errorf("missing piqa train: %v", err)
	}
	if _, err := Load(dir, "nope", LoadOptions{}); err == nil {
		t.Error("Load accepted an unknown task")
	}
}

func TestReadRowsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("{\"a\": 1}\n\n{\"a\": 2}\n"))
	zw.Close()
	rows, err := ReadRows(write("ok.jsonl.gz", gz.Bytes()))
	if err != nil || len(rows) != 2 || rows[1]["a"] != 2.0 {
		t.Errorf("gzip jsonl: %v %v", rows, err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"bad.jsonl", "{\"a\": 1}\n{\"a\": \n", "bad.jsonl: line 2"},
		{"arr.jsonl", "[1, 2]\n", "line 1"},
		{"null.jsonl", "null\n", "line 1: not a JSON object"},
		{"bad.json", "[{\"a\": 1}, 3]", "bad.json: JSON array of objects"},
		{"hellaswag.txt", "ctx\n7\na\nb\nc\nd\n", "line 2: gold label \"7\" is not 0-3"},
		{"short_hellaswag.txt", "ctx\n1\na\nb\n", "line 4: incomplete item: 4 of 6 lines"},
		{"data.csv", "a,b\n", "unknown data format"},
		{"bad.parquet", "PAR1 not really", "bad.parquet: parquet"},
		{"bad.jsonl.gz", "not gzip", "bad.jsonl.gz"},
	}
	for _, tt := range tests {
		_, err := ReadRows(write(tt.name, []byte(tt.data)))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := ReadRows(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("no error for a missing file")
	}
}

// TruthfulQA's original mc_task.json maps answers to labels in an object: its order is
// the choices' order, and a repeated key keeps its first place and last value as Python's
// json module does.
func TestTruthfulQAJSONOrder(t *testing.T) {
	rows, err := readJSON(strings.NewReader(`[{"question": "q", "mc1_targets": {"z": 1, "a": 0, "m": 0},
		"mc2_targets": {"b": 0, "a": 1, "b": 1}}]`))
	if err != nil {
		t.Fatal(err)
	}
	task, _ := Lookup("truthfulqa_mc2")
	it, err := task.ItemFromRow(rows[0])
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(it.Choices, []string{"b", "a"}) || !reflect.DeepEqual(it.Labels, []int{1, 1}) {
		t.Errorf("mc2 %q %v", it.Choices, it.Labels)
	}
	task, _ = Lookup("truthfulqa_mc1")
	if it, _ := task.ItemFromRow(rows[0]); !reflect.DeepEqual(it.Choices, []string{"z", "a", "m"}) {
		t.Errorf("mc1 %q", it.Choices)
	}
}

func TestMatchSplitFile(t *testing.T) {
	tests := []struct {
		rel, split, config string
		others             []string
		match, in          bool
	}{
		{"ARC-Easy/test-00000-of-00001.parquet", "test", "ARC-Easy", []string{"ARC-Challenge"}, true, true},
		{"ARC-Challenge/test-00000-of-00001.parquet", "test", "ARC-Easy", []string{"ARC-Challenge"}, false, false},
		{"ARC-Easy/test/0000.parquet", "test", "ARC-Easy", nil, true, true},
		{"ARC-Easy/train-00000-of-00001.parquet", "test", "ARC-Easy", nil, false, false},
		{"data/lambada_test.jsonl", "test", "", nil, true, false},
		{"data/lambada_test_de.jsonl", "test", "", nil, false, false},
		{"validation.json", "validation", "", nil, true, false},
		{"validation.txt", "validation", "", nil, false, false},
		{"testing-00000.parquet", "test", "", nil, false, false},
	}
	for _, tt := range tests {
		m, in := matchSplitFile(tt.rel, tt.split, tt.config, tt.others)
		if m != tt.match || in != tt.in {
			t.Errorf("matchSplitFile(%q, %q) = %v, %v; want %v, %v", tt.rel, tt.split, m, in, tt.match, tt.in)
		}
	}
}

func TestLocatePrefersConfigAndParquet(t *testing.T) {
	dir := t.TempDir()
	put := func(rel string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("EleutherAI/lambada_openai/default/test-00000-of-00001.parquet")
	put("EleutherAI/lambada_openai/en/test-00000-of-00001.parquet")
	put("EleutherAI/lambada_openai/de/test-00000-of-00001.parquet")
	put("EleutherAI/lambada_openai/data/lambada_test.jsonl")
	put("allenai/openbookqa/main/test.jsonl")
	put("allenai/openbookqa/main/test-00000-of-00001.parquet")
	put("allenai/openbookqa/main/test.json")
	l, _ := Lookup("lambada_openai")
	got, err := Locate(dir, l, "test")
	if want := []string{filepath.Join(dir, "EleutherAI/lambada_openai/default/test-00000-of-00001.parquet")}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("lambada: %v %v, want %v", got, err, want)
	}
	o, _ := Lookup("openbookqa")
	got, err = Locate(dir, o, "test")
	if want := []string{filepath.Join(dir, "allenai/openbookqa/main/test-00000-of-00001.parquet")}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("openbookqa: %v %v, want %v", got, err, want)
	}
}

// The hub cache keeps files as symlinks from snapshots/<revision> into blobs/.
func TestLocateHubCacheSymlinks(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "datasets--allenai--winogrande")
	blob := filepath.Join(repo, "blobs", "0123456789abcdef")
	snap := filepath.Join(repo, "snapshots", "abc", "winogrande_xl")
	for _, d := range []string{filepath.Dir(blob), snap, filepath.Join(dir, "models--x--y", "snapshots", "r")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(blob, []byte(`{"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "1"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(blob, filepath.Join(snap, "validation.jsonl")); err != nil {
		t.Fatal(err)
	}
	task, err := Load(dir, "winogrande", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Item{{Choices: []string{"A x", "A y"}, Target: "b.", Gold: 0}}; !reflect.DeepEqual(task.Items, want) {
		t.Errorf("%+v from %s", task.Items, task.Source)
	}
}
