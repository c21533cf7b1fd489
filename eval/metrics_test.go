package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func taskWith(t *testing.T, name string, items ...Item) *Task {
	t.Helper()
	task, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	task.Items = items
	return task
}

func metricOf(t *testing.T, rep *Report, task, name string) Metric {
	t.Helper()
	tr, ok := rep.Find(task)
	if !ok {
		t.Fatalf("no task %s in the report", task)
	}
	m, ok := tr.Metric(name)
	if !ok {
		t.Fatalf("%s: no metric %s", task, name)
	}
	return m
}

// Every expected value below is worked out by hand from the given log-likelihoods and
// lm-evaluation-harness's process_results (acc = argmax LL == gold, first on ties;
// acc_norm divides by the choice's character count; mc2 = normalised mass of the true
// answers; LAMBADA acc = is_greedy, perplexity = exp(−mean LL)); stderr of a mean =
// sample stddev / √n.
func TestMetricsByHand(t *testing.T) {
	ln := math.Log
	sc := tableScorer{
		// ARC-like: acc picks the largest LL, acc_norm the largest LL per character
		"Q0| a": {LogLikelihood: -2}, "Q0| bbbb": {LogLikelihood: -4}, // acc 0 (pred 0), norm -2 vs -1: 1
		"Q1| cc": {LogLikelihood: -1}, "Q1| d": {LogLikelihood: -1}, // tie: pred 0 = gold; norm -0.5 vs -1: 0 = gold
		"Q2| e": {LogLikelihood: -3}, "Q2| f": {LogLikelihood: -2}, "Q2| g": {LogLikelihood: -1}, // both 2 = gold
		"Q3| hh": {LogLikelihood: -3}, "Q3| i": {LogLikelihood: -2}, // acc 1 (pred 1), norm -1.5 vs -2: pred 0, 0
		// acc_norm counts characters, not bytes: "é" is one character (two bytes)
		"Q4| éé": {LogLikelihood: -3}, "Q4| xxx": {LogLikelihood: -4}, // norm -1.5 vs -1.33: pred 1
		// TruthfulQA mc2
		"T0| x": {LogLikelihood: ln(0.2)}, "T0| y": {LogLikelihood: ln(0.3)}, "T0| z": {LogLikelihood: ln(0.5)}, // labels 1,0,1: 0.7
		"T1| u": {LogLikelihood: -1000}, "T1| v": {LogLikelihood: -1001}, // labels 0,1: e^-1/(1+e^-1)
		// LAMBADA
		"L0| w": {LogLikelihood: -1, IsGreedy: true}, "L1| w": {LogLikelihood: -2}, "L2| w": {LogLikelihood: -3, IsGreedy: true},
		// Winogrande: the shared continuation after each context
		"A did| it.": {LogLikelihood: -5}, "B did| it.": {LogLikelihood: -3}, // gold 1: acc 1
		"C did| it.": {LogLikelihood: -2}, "D did| it.": {LogLikelihood: -4}, // gold 1: acc 0
	}
	tasks := []*Task{
		taskWith(t, "arc_easy",
			Item{Query: "Q0", Choices: []string{"a", "bbbb"}, Gold: 1},
			Item{Query: "Q1", Choices: []string{"cc", "d"}, Gold: 0},
			Item{Query: "Q2", Choices: []string{"e", "f", "g"}, Gold: 2},
			Item{Query: "Q3", Choices: []string{"hh", "i"}, Gold: 1}),
		taskWith(t, "piqa", Item{Query: "Q4", Choices: []string{"éé", "xxx"}, Gold: 1}),
		taskWith(t, "truthfulqa_mc2",
			Item{Query: "T0", Choices: []string{"x", "y", "z"}, Labels: []int{1, 0, 1}},
			Item{Query: "T1", Choices: []string{"u", "v"}, Labels: []int{0, 1}}),
		taskWith(t, "lambada_openai", Item{Query: "L0", Target: " w"}, Item{Query: "L1", Target: " w"}, Item{Query: "L2", Target: " w"}),
		taskWith(t, "winogrande",
			Item{Choices: []string{"A did", "B did"}, Target: "it.", Gold: 1},
			Item{Choices: []string{"C did", "D did"}, Target: "it.", Gold: 1}),
	}
	var log bytes.Buffer
	rep, err := Run(context.Background(), tasks, byteTok{}, sc, Options{BootstrapIters: -1, LogSamples: &log})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		task, metric  string
		value, stderr float64
	}{
		{"arc_easy", "acc", 0.75, 0.25},
		{"arc_easy", "acc_norm", 0.75, 0.25},
		{"piqa", "acc", 0, math.NaN()},
		{"piqa", "acc_norm", 1, math.NaN()},
		{"truthfulqa_mc2", "acc", (0.7 + 1/(1+math.E)) / 2, math.Abs(0.7-1/(1+math.E)) / math.Sqrt2 / math.Sqrt2},
		{"lambada_openai", "acc", 2.0 / 3, 1.0 / 3},
		{"lambada_openai", "perplexity", math.Exp(2), math.NaN()},
		{"winogrande", "acc", 0.5, 0.5},
	}
	for _, tt := range tests {
		m := metricOf(t, rep, tt.task, tt.metric)
		if !near(m.Value, tt.value, 1e-12) {
			t.Errorf("%s %s = %v, want %v", tt.task, tt.metric, m.Value, tt.value)
		}
		if math.IsNaN(tt.stderr) != math.IsNaN(m.Stderr) || (!math.IsNaN(tt.stderr) && !near(m.Stderr, tt.stderr, 1e-12)) {
			t.Errorf("%s %s stderr = %v, want %v", tt.task, tt.metric, m.Stderr, tt.stderr)
		}
	}

	// the samples log: one line per item, with the requests and the predictions
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 4+1+2+3+2 {
		t.Fatalf("%d sample lines, want 12", len(lines))
	}
	var s Sample
	if err := json.Unmarshal([]byte(lines[0]), &s); err != nil {
		t.Fatal(err)
	}
	if s.Task != "arc_easy" || s.DocID != 0 || s.Pred != 0 || s.PredNorm != 1 || s.Requests[1] != [2]string{"Q0", " bbbb"} ||
		s.LogLikelihoods[1] != -4 || s.Metrics["acc"] != 0 || s.Metrics["acc_norm"] != 1 || s.Gold != 1 {
		t.Errorf("first sample: %+v", s)
	}
}

// The expected values were computed by lm-evaluation-harness's bootstrap_stderr algorithm
// in CPython 3.11 (chunks of 1000 resamples, chunk i drawing with random.Random(i).choices).
func TestBootstrapMatchesHarness(t *testing.T) {
	xs := []float64{-1.5, -0.25, -3.0, -2.125, -0.5, -4.0, -1.0}
	if got, want := Bootstrap(PerplexityOf, xs, 2000), 3.443015749475413; !near(got, want, 1e-12) {
		t.Errorf("perplexity bootstrap = %.16g, want %.16g", got, want)
	}
	if got, want := Bootstrap(mean, []float64{0, 1, 1, 0, 1}, 300), 0.22655384430665168; !near(got, want, 1e-12) {
		t.Errorf("mean bootstrap = %.16g, want %.16g", got, want)
	}
	if !math.IsNaN(Bootstrap(mean, xs, 0)) || !math.IsNaN(Bootstrap(mean, xs[:1], 1000)) {
		t.Error("bootstrap without iterations or with one value is not NaN")
	}
}

func TestScoreErrors(t *testing.T) {
	task := taskWith(t, "arc_easy", Item{Query: "q", Choices: []string{"a", "b"}})
	if _, err := task.Score(&task.Items[0], []Result{{}}); err == nil {
		t.Error("Score accepted 1 result for 2 choices")
	}
	short := ScorerFunc(func(context.Context, []TokenRequest) ([]Result, error) { return nil, nil })
	if _, err := Run(context.Background(), []*Task{task}, byteTok{}, short, Options{}); err == nil || !strings.Contains(err.Error(), "0 results for 2 requests") {
		t.Errorf("Run with a short scorer: %v", err)
	}
	if _, err := Run(context.Background(), []*Task{taskWith(t, "piqa")}, byteTok{}, short, Options{}); err == nil {
		t.Error("Run accepted a task without items")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, []*Task{task}, byteTok{}, &hashScorer{}, Options{}); err == nil {
		t.Error("Run ignored a cancelled context")
	}
}
