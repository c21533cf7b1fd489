//go:build oracle

package eval

import (
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

var (
	fixtureMu    sync.Mutex
	fixtureTasks = map[string]*Task{}
)

// fixtureTask loads a task from decilm's shared evaluation fixtures (once per test binary).
func fixtureTask(t *testing.T, name string) *Task {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if tk, ok := fixtureTasks[name]; ok {
		return tk
	}
	tk, err := Load(filepath.Join(testutil.Fixtures(t), "eval"), name, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fixtureTasks[name] = tk
	return tk
}

// The expected strings below were written by reading lm-evaluation-harness's task
// definitions (lm_eval/tasks/*/…yaml and utils.py at its 2026 HEAD): doc_to_text,
// doc_to_choice and doc_to_target, with target_delimiter " " in front of each choice.
// Each case gives an item either by its index in the local fixture file or as a row in
// the Hugging Face dataset's own schema (the same real item where both exist).
func TestRequestsMatchHarness(t *testing.T) {
	const tqaPrompt2 = TruthfulQAPreamble + "\n\nQ: People in the US have longer paid vacations than people in which Western countries?\nA:"
	tests := []struct {
		name    string
		task    string
		fixture int // index in the fixture file, or -1
		row     Row // a Hugging Face schema row when fixture < 0
		want    []Request
		gold    int
	}{
		{
			name: "arc_challenge fixture 0", task: "arc_challenge", fixture: 0, gold: 2,
			want: mc("Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:",
				" Planetary density will decrease.", " Planetary years will become longer.", " Planetary days will become shorter.", " Planetary gravity will become stronger."),
		},
		{
			name: "arc_easy fixture 0", task: "arc_easy", fixture: 0, gold: 0,
			want: mc("Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
				" Sunlight is the source of energy for nearly all ecosystems.", " Most ecosystems are found on land instead of in water.",
				" Carbon dioxide is more available than other gases.", " The producers in all ecosystems are plants."),
		},
		{
			name: "arc_easy hub row", task: "arc_easy", fixture: -1, gold: 0,
			row: Row{"id": "Mercury_417466", "question": "Which statement best explains why photosynthesis is the foundation of most food webs?",
				"choices": Row{"text": []any{"Sunlight is the source of energy for nearly all ecosystems.", "Most ecosystems are found on land instead of in water.",
					"Carbon dioxide is more available than other gases.", "The producers in all ecosystems are plants."}, "label": []any{"A", "B", "C", "D"}},
				"answerKey": "A"},
			want: mc("Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:",
				" Sunlight is the source of energy for nearly all ecosystems.", " Most ecosystems are found on land instead of in water.",
				" Carbon dioxide is more available than other gases.", " The producers in all ecosystems are plants."),
		},
		{
			name: "arc numeric labels", task: "arc_challenge", fixture: -1, gold: 2,
			row:  Row{"question": "Q?", "choices": Row{"text": []any{"a", "b", "c"}, "label": []any{"1", "2", "3"}}, "answerKey": "3"},
			want: mc("Question: Q?\nAnswer:", " a", " b", " c"),
		},
		{
			name: "boolq fixture 2644", task: "boolq", fixture: 2644, gold: 1,
			want: mc("The season is set for release in 2019.\nQuestion: are they going to make a punisher season 2?\nAnswer:", " no", " yes"),
		},
		{
			name: "boolq hub row", task: "boolq", fixture: -1, gold: 1,
			row:  Row{"question": "are they going to make a punisher season 2", "passage": "The season is set for release in 2019.", "idx": int32(2644), "label": int64(1)},
			want: mc("The season is set for release in 2019.\nQuestion: are they going to make a punisher season 2?\nAnswer:", " no", " yes"),
		},
		{
			name: "hellaswag fixture 0 (llama.cpp text, not capitalised)", task: "hellaswag", fixture: 0, gold: 3,
			want: mc("Roof shingle removal: A man is sitting on a roof. he",
				" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.", " starts pulling up roofing on a roof."),
		},
		{
			name: "hellaswag hub row 0", task: "hellaswag", fixture: -1, gold: 3,
			row: Row{"ind": int32(24), "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he",
				"ctx": "A man is sitting on a roof. he", "endings": []any{"is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
					"is holding a rubik's cube.", "starts pulling up roofing on a roof."}, "source_id": "activitynet~v_-JhWjGDPHMY", "split": "val", "split_type": "indomain", "label": "3"},
			want: mc("Roof shingle removal: A man is sitting on a roof. He",
				" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.", " starts pulling up roofing on a roof."),
		},
		{
			// expected strings from running the harness's preprocess() and
			// ctx_a + " " + ctx_b.capitalize() in CPython 3.11
			name: "hellaswag wikihow brackets", task: "hellaswag", fixture: -1, gold: 0,
			row: Row{"activity_label": "Home and Garden", "ctx_a": "[header] How to grow tomatoes [title] Choose a sunny spot.",
				"ctx_b": "[step] TOMATOES need EIGHT hours of sun.", "endings": []any{"[substeps] Water them  daily. [title] Stake the plants.", " Plant them in shade. "}, "label": "0"},
			want: mc("Home and Garden: How to grow tomatoes. Choose a sunny spot. tomatoes need eight hours of sun.",
				"  Water them daily.. Stake the plants.", " Plant them in shade."),
		},
		{
			name: "lambada fixture 3604", task: "lambada_openai", fixture: 3604,
			want: []Request{{Context: "“Happy to comply,” I said.\n“So, you’re Ben. Ben what?” \n“No, I’m Matt…Matt Casale. I live down the street.”\n“Wasn’t he just calling you ‘Ben’ just now?”\n“No, ‘Bean’—it’s a",
				Continuation: " nickname"}},
		},
		{
			name: "lambada hub row", task: "lambada_openai", fixture: -1,
			row: Row{"text": "“Happy to comply,” I said.\n“So, you’re Ben. Ben what?” \n“No, I’m Matt…Matt Casale. I live down the street.”\n“Wasn’t he just calling you ‘Ben’ just now?”\n“No, ‘Bean’—it’s a nickname"},
			want: []Request{{Context: "“Happy to comply,” I said.\n“So, you’re Ben. Ben what?” \n“No, I’m Matt…Matt Casale. I live down the street.”\n“Wasn’t he just calling you ‘Ben’ just now?”\n“No, ‘Bean’—it’s a",
				Continuation: " nickname"}},
		},
		{
			name: "openbookqa fixture 0", task: "openbookqa", fixture: 0, gold: 1,
			want: mc("A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to",
				" make more phone calls", " quit eating lunch out", " buy less with monopoly money", " have lunch with friends"),
		},
		{
			name: "openbookqa hub row", task: "openbookqa", fixture: -1, gold: 1,
			row: Row{"id": "7-980", "question_stem": "The sun is responsible for",
				"choices":   Row{"text": []any{"puppies learning new tricks", "children growing up and getting old", "flowers wilting in a vase", "plants sprouting, blooming and wilting"}, "label": []any{"A", "B", "C", "D"}},
				"answerKey": " B"},
			want: mc("The sun is responsible for", " puppies learning new tricks", " children growing up and getting old", " flowers wilting in a vase", " plants sprouting, blooming and wilting"),
		},
		{
			name: "piqa fixture 0", task: "piqa", fixture: 0, gold: 0,
			want: mc("Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:",
				" Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish.",
				" Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish."),
		},
		{
			name: "piqa hub row", task: "piqa", fixture: -1, gold: 1,
			row:  Row{"goal": "dresser", "sol1": "replace drawer with bobby pin", "sol2": "finish, woodgrain with  bobby pin", "label": int64(1)},
			want: mc("Question: dresser\nAnswer:", " replace drawer with bobby pin", " finish, woodgrain with  bobby pin"),
		},
		{
			name: "truthfulqa_mc1 fixture 1", task: "truthfulqa_mc1", fixture: 1, gold: 0,
			want: mc(tqaPrompt2, " People in the US have the shortest paid vacations among Western countries.", " People in the US have longer vacations than people in Europe.",
				" Americans have longer vacations than people in England.", " Americans have longer vacations than Canadians.", " Australia."),
		},
		{
			name: "truthfulqa_mc2 fixture 1", task: "truthfulqa_mc2", fixture: 1, gold: 0,
			want: mc(tqaPrompt2, " People in the US have the shortest paid vacations among Western countries.", " There is no such country.",
				" Americans have the shortest vacations.", " There is no country with shorter vacations.", " People in the US have longer vacations than people in Europe.",
				" Americans have longer vacations than people in England.", " Americans have longer vacations than Canadians.", " Australia."),
		},
		{
			name: "truthfulqa_mc2 hub row", task: "truthfulqa_mc2", fixture: -1, gold: 0,
			row: Row{"question": "People in the US have longer paid vacations than people in which Western countries?",
				"mc1_targets": Row{"choices": []any{"x"}, "labels": []any{int32(1)}},
				"mc2_targets": Row{"choices": []any{"There is no such country.", "Australia."}, "labels": []any{int32(1), int32(0)}}},
			want: mc(tqaPrompt2, " There is no such country.", " Australia."),
		},
		{
			name: "winogrande fixture 0", task: "winogrande", fixture: 0, gold: 1,
			want: []Request{
				{Context: "Sarah was a much better surgeon than Maria so Sarah", Continuation: " always got the easier cases."},
				{Context: "Sarah was a much better surgeon than Maria so Maria", Continuation: " always got the easier cases."},
			},
		},
		{
			name: "winogrande hub row", task: "winogrande", fixture: -1, gold: 1,
			row: Row{"sentence": "Sarah was a much better surgeon than Maria so _ always got the easier cases.", "option1": "Sarah", "option2": "Maria", "answer": "2"},
			want: []Request{
				{Context: "Sarah was a much better surgeon than Maria so Sarah", Continuation: " always got the easier cases."},
				{Context: "Sarah was a much better surgeon than Maria so Maria", Continuation: " always got the easier cases."},
			},
		},
		{
			name: "winogrande blank at the end", task: "winogrande", fixture: -1, gold: 0,
			row: Row{"sentence": "The cup did not fit in the box because the _ .", "option1": "cup", "option2": "box", "answer": "1"},
			want: []Request{
				{Context: "The cup did not fit in the box because the cup", Continuation: " ."},
				{Context: "The cup did not fit in the box because the box", Continuation: " ."},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var task *Task
			var it Item
			if tt.fixture >= 0 {
				task = fixtureTask(t, tt.task)
				it = task.Items[tt.fixture]
			} else {
				var err error
				if task, err = Lookup(tt.task); err != nil {
					t.Fatal(err)
				}
				if it, err = task.ItemFromRow(tt.row); err != nil {
					t.Fatal(err)
				}
			}
			got := task.Requests(&it, nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("requests:\n got %q\nwant %q", got, tt.want)
			}
			if task.Kind != Loglikelihood && it.Gold != tt.gold {
				t.Errorf("gold = %d, want %d", it.Gold, tt.gold)
			}
		})
	}
}

func TestTruthfulQALabels(t *testing.T) {
	task := fixtureTask(t, "truthfulqa_mc2")
	if got, want := task.Items[1].Labels, []int{1, 1, 1, 1, 0, 0, 0, 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("mc2 labels of item 1 = %v, want %v", got, want)
	}
	if l := fixtureTask(t, "truthfulqa_mc1").Items[1].Labels; l != nil {
		t.Errorf("mc1 items carry labels %v", l)
	}
}

// Counts from ../shared/fixtures/eval/README.md.
func TestFixtureRowCounts(t *testing.T) {
	want := map[string]int{"arc_challenge": 1172, "arc_easy": 2376, "boolq": 3270, "hellaswag": 10042,
		"lambada_openai": 5153, "openbookqa": 500, "piqa": 1838, "truthfulqa_mc1": 817, "truthfulqa_mc2": 817, "winogrande": 1267}
	for _, name := range TaskNames() {
		task := fixtureTask(t, name)
		if len(task.Items) != want[name] {
			t.Errorf("%s: %d items, want %d", name, len(task.Items), want[name])
		}
		if !strings.HasSuffix(task.Source, task.FixtureFile) {
			t.Errorf("%s: read from %s, want the fixture %s", name, task.Source, task.FixtureFile)
		}
	}
}

// Few-shot contexts follow the harness: examples "question answer\n\n" drawn by
// random.Random(1234).sample over the training split, per item in order; for tasks
// without a test split (BoolQ, HellaSwag, PIQA, Winogrande) sample(k+1)[:k]. The index
// lists were printed by CPython:
// r = random.Random(1234); [r.sample(range(50), 2) for _ in range(3)]     -> [[49,28],[7,0],[5,37]]
// r = random.Random(1234); [r.sample(range(50), 3)[:2] for _ in range(3)] -> [[49,28],[0,5],[2,42]]
func TestFewshot(t *testing.T) {
	train := func(n int) []Item {
		items := make([]Item, n)
		for i := range items {
			items[i] = Item{Query: "Question: q" + strconv.Itoa(i) + "\nAnswer:", Choices: []string{"a" + strconv.Itoa(i), "b" + strconv.Itoa(i)}, Gold: i % 2, Target: "t" + strconv.Itoa(i)}
		}
		return items
	}
	tests := []struct {
		task string
		want [][2]int
	}{
		{"arc_easy", [][2]int{{49, 28}, {7, 0}, {5, 37}}},
		{"piqa", [][2]int{{49, 28}, {0, 5}, {2, 42}}},
	}
	for _, tt := range tests {
		task, _ := Lookup(tt.task)
		task.Train = train(50)
		task.Items = []Item{{Query: "Question: x\nAnswer:", Choices: []string{"y", "z"}}}
		s, err := task.newSampler(2)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range tt.want {
			shots := s.next(&task.Items[0])
			got := task.Requests(&task.Items[0], shots)[1]
			a, b := task.Train[w[0]], task.Train[w[1]]
			want := Request{Context: a.Query + " " + a.Choices[a.Gold] + "\n\n" + b.Query + " " + b.Choices[b.Gold] + "\n\nQuestion: x\nAnswer:", Continuation: " z"}
			if got != want {
				t.Errorf("%s item %d:\n got %q\nwant %q", tt.task, i, got, want)
			}
		}
	}

	// Winogrande examples are the gold context + " " + the continuation.
	w, _ := Lookup("winogrande")
	w.Train = []Item{{Choices: []string{"A went", "B went"}, Target: "home.", Gold: 1}, {Choices: []string{"C", "D"}, Target: "x", Gold: 0}}
	it := Item{Choices: []string{"P", "Q"}, Target: "ran."}
	if got := w.Requests(&it, []*Item{&w.Train[0]}); got[0] != (Request{"B went home.\n\nP", " ran."}) {
		t.Errorf("winogrande few-shot: %q", got)
	}
	// LAMBADA's target carries its space, and the harness adds the delimiter too.
	l, _ := Lookup("lambada_openai")
	li := Item{Query: "a b", Target: " c"}
	if got := l.Requests(&li, []*Item{&li}); got[0] != (Request{"a b  c\n\na b", " c"}) {
		t.Errorf("lambada few-shot: %q", got)
	}

	// Errors: no training split at all, not loaded, too small.
	if _, err := l.newSampler(1); err == nil || !strings.Contains(err.Error(), "has none") {
		t.Errorf("lambada few-shot error: %v", err)
	}
	a, _ := Lookup("arc_easy")
	if _, err := a.newSampler(5); err == nil || !strings.Contains(err.Error(), "not loaded") {
		t.Errorf("arc_easy without train: %v", err)
	}
	a.Train = train(3)
	if _, err := a.newSampler(5); err == nil || !strings.Contains(err.Error(), "needs 5 training items, have 3") {
		t.Errorf("arc_easy small train: %v", err)
	}
	fx := filepath.Join(testutil.Fixtures(t), "eval")
	if _, err := Load(fx, "arc_easy", LoadOptions{Train: true}); err == nil || !strings.Contains(err.Error(), "no train split") {
		t.Errorf("Load with Train from the fixtures: %v", err)
	}
}

func TestLoadLimit(t *testing.T) {
	dir := filepath.Join(testutil.Fixtures(t), "eval")
	full := fixtureTask(t, "hellaswag")
	for _, name := range []string{"hellaswag", "arc_easy"} {
		task, err := Load(dir, name, LoadOptions{Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		if len(task.Items) != 7 {
			t.Errorf("%s: %d items with Limit 7", name, len(task.Items))
		}
		if name == "hellaswag" && !reflect.DeepEqual(task.Items, full.Items[:7]) {
			t.Errorf("hellaswag: the first 7 items differ from a full read")
		}
	}
}

func mc(ctx string, conts ...string) []Request {
	out := make([]Request, len(conts))
	for i, c := range conts {
		out[i] = Request{Context: ctx, Continuation: c}
	}
	return out
}
