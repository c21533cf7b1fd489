//go:build oracle

package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// harnessFile is testdata/harness_requests.json, written by testdata/gen_harness_requests.py
// from lm-evaluation-harness's own task files (its YAML templates rendered by Jinja2, its
// hellaswag and winogrande Python functions run by CPython).
type harnessFile struct {
	First   int `json:"first"`
	Digests []struct {
		Task, Fixture, SHA256 string
	} `json:"digests"`
	HellaSwag []struct {
		Row      Row         `json:"row"`
		Requests [][2]string `json:"requests"`
	} `json:"hellaswag"`
}

func readHarnessFile(t *testing.T) harnessFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "harness_requests.json"))
	if err != nil {
		t.Fatal(err)
	}
	var h harnessFile
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// harnessRows rewrites the first n items of a fixture file into the Hugging Face schema
// of the task, as gen_harness_requests.py does.
func harnessRows(t *testing.T, fixture string, n int) []Row {
	t.Helper()
	rows, err := ReadRows(filepath.Join(testutil.Fixtures(t), "eval", fixture))
	if err != nil {
		t.Fatal(err)
	}
	rows = rows[:n]
	out := make([]Row, len(rows))
	for i, r := range rows {
		str := func(k string) string { s, _ := getString(r, k); return s }
		strs := func(k string) []any { l, _ := getList(r, k); return l }
		gold, _ := getInt(r, "gold")
		switch fixture {
		case "arc_easy.jsonl", "arc_challenge.jsonl", "openbookqa.jsonl":
			labels := []any{}
			for j := range strs("choices") {
				labels = append(labels, string(rune('A'+j)))
			}
			choices := Row{"text": strs("choices"), "label": labels}
			if fixture == "openbookqa.jsonl" {
				out[i] = Row{"question_stem": str("query"), "choices": choices, "answerKey": labels[gold]}
			} else {
				out[i] = Row{"question": strings.TrimPrefix(str("query"), "Question: "), "choices": choices, "answerKey": labels[gold]}
			}
		case "boolq.jsonl":
			p, q, _ := strings.Cut(strings.TrimPrefix(str("query"), "Passage: "), "\nQuestion: ")
			out[i] = Row{"passage": p, "question": strings.TrimSuffix(q, "?"), "label": float64(gold)}
		case "lambada_openai.jsonl":
			out[i] = Row{"text": str("context") + " " + str("continuation")}
		case "piqa.jsonl":
			c := strs("choices")
			out[i] = Row{"goal": strings.TrimSuffix(strings.TrimPrefix(str("query"), "Question: "), "\n"), "sol1": c[0], "sol2": c[1], "label": float64(gold)}
		case "truthfulqa_mc_task.json":
			out[i] = r
		case "winogrande.jsonl":
			c := strs("context_options")
			a, b := c[0].(string), c[1].(string)
			k := 0
			for k < min(len(a), len(b)) && a[k] == b[k] {
				k++
			}
			k = strings.LastIndexByte(a[:k], ' ') + 1
			out[i] = Row{"sentence": a[:k] + "_ " + str("continuation"), "option1": a[k:], "option2": b[k:], "answer": string(rune('1' + gold))}
		default:
			t.Fatalf("no schema rewrite for %s", fixture)
		}
	}
	return out
}

// Our requests for hub-schema rows are byte for byte the harness's: for the first 100
// items of every fixture (compared through a digest) and for random WikiHow-like
// HellaSwag rows (compared whole).
func TestRequestsMatchHarnessTemplates(t *testing.T) {
	h := readHarnessFile(t)
	if len(h.Digests) != 9 || len(h.HellaSwag) == 0 {
		t.Fatalf("harness file has %d digests and %d hellaswag rows", len(h.Digests), len(h.HellaSwag))
	}
	for _, d := range h.Digests {
		task, err := Lookup(d.Task)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.New()
		for i, r := range harnessRows(t, d.Fixture, h.First) {
			it, err := task.ItemFromRow(r)
			if err != nil {
				t.Fatalf("%s row %d: %v", d.Fixture, i, err)
			}
			for _, q := range task.Requests(&it, nil) {
				sum.Write([]byte(q.Context + "\x00" + q.Continuation + "\x01"))
			}
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != d.SHA256 {
			t.Errorf("%s on the first %d rows of %s: digest %s, the harness's %s", d.Task, h.First, d.Fixture, got, d.SHA256)
		}
	}
	task, _ := Lookup("hellaswag")
	for i, c := range h.HellaSwag {
		it, err := task.ItemFromRow(c.Row)
		if err != nil {
			t.Fatalf("hellaswag row %d: %v", i, err)
		}
		var got [][2]string
		for _, q := range task.Requests(&it, nil) {
			got = append(got, [2]string{q.Context, q.Continuation})
		}
		if !reflect.DeepEqual(got, c.Requests) {
			t.Errorf("hellaswag row %d %q:\n got %q\nwant %q", i, c.Row, got, c.Requests)
		}
	}
}
