//go:build oracle

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
