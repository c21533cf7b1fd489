package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// Every task on the local fixtures, 20 items each, through the whole path: requests,
// tokenization, scoring, metrics, samples log, JSON and markdown. The report must not
// depend on how items are batched.
func TestRunAllTasksOnFixtures(t *testing.T) {
	names, err := ParseTaskList("card,truthfulqa_mc1")
	if err != nil {
		t.Fatal(err)
	}
	var tasks []*Task
	for _, n := range names {
		tasks = append(tasks, fixtureTask(t, n))
	}
	run := func(batch int) (*Report, string, []Progress, *hashScorer) {
		var log bytes.Buffer
		var prog []Progress
		sc := &hashScorer{}
		rep, err := Run(context.Background(), tasks, byteTok{}, sc, Options{Limit: 20, BatchItems: batch, BootstrapIters: 2000,
			LogSamples: &log, Progress: func(p Progress) { prog = append(prog, p) }, Encode: EncodeOptions{MaxLength: 512}})
		if err != nil {
			t.Fatal(err)
		}
		return rep, log.String(), prog, sc
	}
	rep1, log1, prog1, sc1 := run(1)
	rep2, log2, prog2, sc2 := run(7)
	if !reflect.DeepEqual(rep1, rep2) || log1 != log2 {
		t.Error("results differ between batches of 1 and 7 items")
	}
	if sc1.reqs != sc2.reqs || sc1.calls != 200 || sc2.calls != 30 {
		t.Errorf("scorer calls %d/%d requests %d/%d, want 200/30 and equal", sc1.calls, sc2.calls, sc1.reqs, sc2.reqs)
	}
	if last := prog1[len(prog1)-1]; last.Done != 200 || last.Total != 200 || last.Requests != sc1.reqs || len(prog2) != 30 {
		t.Errorf("progress: last %+v, %d calls", last, len(prog2))
	}
	if n := strings.Count(log1, "\n"); n != 200 {
		t.Errorf("%d sample lines, want 200", n)
	}
	for _, tr := range rep1.Tasks {
		if tr.Items != 20 {
			t.Errorf("%s: %d items", tr.Task, tr.Items)
		}
		for _, m := range tr.Metrics {
			if math.IsNaN(m.Value) || math.IsNaN(m.Stderr) {
				t.Errorf("%s %s = %v ± %v", tr.Task, m.Name, m.Value, m.Stderr)
			}
		}
	}
	var js bytes.Buffer
	if err := rep1.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Tasks   []map[string]any              `json:"tasks"`
		Results map[string]map[string]float64 `json:"results"`
		Average float64                       `json:"average"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	m, _ := rep1.Tasks[4].Metric("perplexity")
	if len(back.Tasks) != 10 || back.Results["lambada_openai"]["perplexity,none"] != m.Value ||
		back.Results["lambada_openai"]["perplexity_stderr,none"] != m.Stderr || back.Average != rep1.Average() {
		t.Errorf("JSON round trip: %s", js.String()[:min(400, js.Len())])
	}
	var md bytes.Buffer
	if err := rep1.WriteMarkdown(&md, Cards); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| DeciLM-6B-instruct (card) | 62.01 | 43.43 | 70.58 | 77.34 | 74.57 | 70.10 | 33.00 | 77.52 | 43.89 | 67.64 |  |") {
		t.Errorf("markdown lacks the card row:\n%s", md.String())
	}
}

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
