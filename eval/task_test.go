package eval

import (
	"reflect"
	"strings"
	"testing"
)

func TestItemFromRowErrors(t *testing.T) {
	tests := []struct {
		task, want string
		row        Row
	}{
		{"arc_easy", `field "question" missing`, Row{"choices": Row{}}},
		{"arc_easy", `answerKey "E" is not among the labels`, Row{"question": "q", "answerKey": "E", "choices": Row{"text": []any{"a"}, "label": []any{"A"}}}},
		{"arc_easy", `3 texts but 1 labels`, Row{"question": "q", "answerKey": "A", "choices": Row{"text": []any{"a", "b", "c"}, "label": []any{"A"}}}},
		{"arc_easy", `gold 4 out of range for 2 choices`, Row{"query": "Question: q", "choices": []any{"a", "b"}, "gold": 4.0}},
		{"boolq", `field "label": want an integer`, Row{"passage": "p", "question": "q", "label": "maybe"}},
		{"boolq", `does not start with "Passage: "`, Row{"query": "q", "choices": []any{"no", "yes"}, "gold": 0.0}},
		{"hellaswag", `field "endings": want a list`, Row{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": "d", "label": "0"}},
		{"hellaswag", `field "label": want an integer`, Row{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": []any{"d"}, "label": ""}},
		{"lambada_openai", `field "text": want a string`, Row{"text": 3.0}},
		{"piqa", `want "Question: <goal>\n"`, Row{"query": "How?", "choices": []any{"a", "b"}, "gold": 0.0}},
		{"truthfulqa_mc2", `2 choices but 1 labels`, Row{"question": "q", "mc2_targets": Row{"choices": []any{"a", "b"}, "labels": []any{1.0}}}},
		{"winogrande", `no "_" blank`, Row{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}},
		{"winogrande", `the test split has no answers`, Row{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": ""}},
		{"openbookqa", `field "choices"[1]: want a string`, Row{"query": "q", "choices": []any{"a", 2.0}, "gold": 0.0}},
	}
	for _, tt := range tests {
		task, err := Lookup(tt.task)
		if err != nil {
			t.Fatal(err)
		}
		_, err = task.ItemFromRow(tt.row)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: error %v, want one containing %q", tt.task, tt.row, err, tt.want)
		}
	}
}

func TestParseTaskList(t *testing.T) {
	got, err := ParseTaskList("card,truthfulqa_mc1, arc_easy")
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string{}, CardTasks...), "truthfulqa_mc1")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"", " , ", "mmlu", "arc_easy,nope"} {
		if _, err := ParseTaskList(bad); err == nil {
			t.Errorf("ParseTaskList(%q) succeeded", bad)
		}
	}
}
