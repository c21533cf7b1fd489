package eval

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// The card's table, shaped by hand from the DeciLM-6B-instruct model card.
func TestWriteMarkdown(t *testing.T) {
	rep := &Report{Tasks: []TaskReport{
		{Task: "arc_easy", Title: "ARC Easy", Items: 4, Headline: "acc_norm", Metrics: []Metric{{"acc", 0.5, 0.25}, {"acc_norm", 0.75, 0.125}}},
		{Task: "lambada_openai", Title: "LAMBADA OpenAI", Items: 2, Headline: "acc", Metrics: []Metric{{"perplexity", 12.5, math.NaN()}, {"acc", 0.5, 0.5}}},
	}}
	var b bytes.Buffer
	cards, err := LookupCards("DeciLM-6B-instruct")
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&b, cards); err != nil {
		t.Fatal(err)
	}
	want := `|  | Average | ARC Easy | LAMBADA OpenAI |
| --- | ---: | ---: | ---: |
| metric |  | acc_norm | acc |
| decilm | 62.50 | 75.00 | 50.00 |
| DeciLM-6B-instruct (card) | 70.34 | 70.58 | 70.10 |

| task | items | metric | value | stderr |
| --- | ---: | --- | ---: | ---: |
| arc_easy | 4 | acc | 0.5000 | 0.2500 |
| arc_easy | 4 | acc_norm | 0.7500 | 0.1250 |
| lambada_openai | 2 | perplexity | 12.5000 | n/a |
| lambada_openai | 2 | acc | 0.5000 | 0.5000 |
`
	if b.String() != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", b.String(), want)
	}
	if _, err := LookupCards("llama"); err == nil {
		t.Error("LookupCards accepted an unknown model")
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"name": "perplexity",
          "value": 12.5,
          "stderr": null`) {
		t.Errorf("JSON does not write a NaN stderr as null:\n%s", js.String())
	}
}

// The card's averages: the instruct card's 62.01 is the mean of its nine numbers.
func TestCardAverages(t *testing.T) {
	var s float64
	for _, task := range CardTasks {
		s += Cards[0].Scores[task]
	}
	if got := math.Round(s/9*100) / 100; got != Cards[0].Average {
		t.Errorf("instruct card mean %v, card says %v", got, Cards[0].Average)
	}
	if len(Cards[1].Scores) != 9 {
		t.Errorf("base card has %d scores", len(Cards[1].Scores))
	}
}
