package eval_test

import (
	"context"
	"fmt"
	"os"

	"github.com/decilm/decilm/eval"
)

// runeTok is a stand-in tokenizer: one token per character, BOS = 1.
type runeTok struct{}

func (runeTok) Encode(text string, addBOS bool) []int {
	var ids []int
	if addBOS {
		ids = append(ids, 1)
	}
	for _, r := range text {
		ids = append(ids, int(r)+2)
	}
	return ids
}

// A model stands behind the Scorer; this one gives each continuation token log-probability
// −1, so acc picks the shorter choice and acc_norm (per character, " shark" and " whale"
// tie at −6/5, the first wins) favours the longer one.
func ExampleRun() {
	task, err := eval.Lookup("arc_easy")
	if err != nil {
		panic(err)
	}
	// Load(dir, "arc_easy", eval.LoadOptions{}) reads these from the dataset's files.
	task.Items = []eval.Item{
		{Query: "Question: Which animal is a mammal?\nAnswer:", Choices: []string{"shark", "whale"}, Gold: 1},
		{Query: "Question: What do plants need?\nAnswer:", Choices: []string{"light", "darkness"}, Gold: 0},
	}
	sc := eval.ScorerFunc(func(_ context.Context, reqs []eval.TokenRequest) ([]eval.Result, error) {
		out := make([]eval.Result, len(reqs))
		for i, r := range reqs {
			out[i] = eval.Result{LogLikelihood: -float64(len(r.Continuation))}
		}
		return out, nil
	})
	rep, err := eval.Run(context.Background(), []*eval.Task{task}, runeTok{}, sc, eval.Options{})
	if err != nil {
		panic(err)
	}
	if err := rep.WriteMarkdown(os.Stdout, nil); err != nil {
		panic(err)
	}
	// Output:
	// |  | Average | ARC Easy |
	// | --- | ---: | ---: |
	// | metric |  | acc_norm |
	// | decilm | 0.00 | 0.00 |
	//
	// | task | items | metric | value | stderr |
	// | --- | ---: | --- | ---: | ---: |
	// | arc_easy | 2 | acc | 0.5000 | 0.5000 |
	// | arc_easy | 2 | acc_norm | 0.0000 | 0.0000 |
}

// The requests of a Winogrande item, as lm-evaluation-harness builds them: one context
// per option, the rest of the sentence as the shared continuation.
func ExampleTask_Requests() {
	task, _ := eval.Lookup("winogrande")
	it, err := task.ItemFromRow(eval.Row{"sentence": "The trophy didn't fit in the suitcase because the _ was too big.",
		"option1": "trophy", "option2": "suitcase", "answer": "1"})
	if err != nil {
		panic(err)
	}
	for _, r := range task.Requests(&it, nil) {
		fmt.Printf("%q + %q\n", r.Context, r.Continuation)
	}
	// Output:
	// "The trophy didn't fit in the suitcase because the trophy" + " was too big."
	// "The trophy didn't fit in the suitcase because the suitcase" + " was too big."
}

// Sliding windows of 4 tokens every 2: each token after the first is scored once.
func ExamplePerplexityWindows() {
	windows, err := eval.PerplexityWindows([]int{10, 11, 12, 13, 14, 15, 16}, 4, 2)
	if err != nil {
		panic(err)
	}
	for _, w := range windows {
		fmt.Println(w.Context, w.Continuation)
	}
	// Output:
	// [10] [11 12 13]
	// [12 13] [14 15]
	// [14 15] [16]
}
