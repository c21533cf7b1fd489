package eval

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Report is the outcome of Run: every task's aggregated metrics and the settings used.
type Report struct {
	// Model names the model evaluated; Run leaves it for the caller to fill.
	Model string `json:"model,omitempty"`
	// NumFewshot, Limit, BOS (BOS prepended when encoding), MaxLength (context window,
	// 0 for none) and BootstrapIters are the settings of the run.
	NumFewshot     int  `json:"num_fewshot"`
	Limit          int  `json:"limit,omitempty"`
	BOS            bool `json:"bos"`
	MaxLength      int  `json:"max_length,omitempty"`
	BootstrapIters int  `json:"bootstrap_iters"`
	// Tasks are the results, in the order the tasks were given.
	Tasks []TaskReport `json:"tasks"`
}

// TaskReport is one task's result.
type TaskReport struct {
	// Task and Title are the task's name and column heading.
	Task  string `json:"task"`
	Title string `json:"title"`
	// Items is the number of items scored; Source the data files they came from.
	Items  int    `json:"items"`
	Source string `json:"source,omitempty"`
	// Headline is the metric the card's table shows.
	Headline string `json:"headline"`
	// Metrics are every metric of the task, in the task's order.
	Metrics []Metric `json:"metrics"`
}

// Metric returns the named metric of the task.
func (t *TaskReport) Metric(name string) (Metric, bool) {
	for _, m := range t.Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// Find returns the report of the named task.
func (r *Report) Find(task string) (*TaskReport, bool) {
	for i := range r.Tasks {
		if r.Tasks[i].Task == task {
			return &r.Tasks[i], true
		}
	}
	return nil, false
}

// Average is the mean of the tasks' headline metrics (a fraction), as the card's Average
// column; NaN for an empty report.
func (r *Report) Average() float64 {
	var s float64
	n := 0
	for i := range r.Tasks {
		if m, ok := r.Tasks[i].Metric(r.Tasks[i].Headline); ok {
			s += m.Value
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// MarshalJSON writes a metric with null for a value or stderr that is not finite.
func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name   string   `json:"name"`
		Value  *float64 `json:"value"`
		Stderr *float64 `json:"stderr"`
	}{m.Name, finite(m.Value), finite(m.Stderr)})
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// WriteJSON writes the report as indented JSON: the settings, the tasks in order with
// every metric and its stderr, the average of the headline metrics, and a "results"
// object keyed like lm-evaluation-harness's ("acc,none", "acc_stderr,none", ...).
func (r *Report) WriteJSON(w io.Writer) error {
	results := map[string]map[string]*float64{}
	for _, t := range r.Tasks {
		m := map[string]*float64{}
		for _, x := range t.Metrics {
			m[x.Name+",none"] = finite(x.Value)
			m[x.Name+"_stderr,none"] = finite(x.Stderr)
		}
		results[t.Task] = m
	}
	out := struct {
		*Report
		Average *float64                       `json:"average"`
		Results map[string]map[string]*float64 `json:"results"`
	}{r, finite(r.Average()), results}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// Card is a model card's evaluation row: percent scores by task name and the card's
// stated average.
type Card struct {
	// Model is the model the card describes.
	Model string
	// Scores maps task names to the card's percentages.
	Scores map[string]float64
	// Average is the card's Average column.
	Average float64
}

// Cards holds the DeciLM-6B model cards' 0-shot tables (percent). The card marks ARC
// Challenge, ARC Easy and HellaSwag as acc_norm, the rest as acc; TruthfulQA is mc2.
var Cards = []Card{
	{Model: "DeciLM-6B-instruct", Average: 62.01, Scores: map[string]float64{
		"arc_challenge": 43.43, "arc_easy": 70.58, "boolq": 77.34, "hellaswag": 74.57, "lambada_openai": 70.1,
		"openbookqa": 33, "piqa": 77.52, "truthfulqa_mc2": 43.89, "winogrande": 67.64}},
	{Model: "DeciLM-6B", Average: 60.33, Scores: map[string]float64{
		"arc_challenge": 42.06, "arc_easy": 70.02, "boolq": 71.01, "hellaswag": 74.58, "lambada_openai": 69.78,
		"openbookqa": 34, "piqa": 77.09, "truthfulqa_mc2": 36.19, "winogrande": 68.03}},
}

// LookupCards resolves a --compare value: "card" gives both DeciLM-6B cards, a model
// name (DeciLM-6B-instruct, DeciLM-6B; case-insensitive) one of them.
func LookupCards(name string) ([]Card, error) {
	if name == "card" {
		return Cards, nil
	}
	for _, c := range Cards {
		if strings.EqualFold(c.Model, name) {
			return []Card{c}, nil
		}
	}
	return nil, fmt.Errorf("unknown --compare %q (want card, DeciLM-6B-instruct or DeciLM-6B)", name)
}

// WriteMarkdown writes the report as the model card's table: a column per task (Average
// first), a row naming each column's metric, our scores in percent, and a row per card in
// compare; then a table of every metric with its stderr. Card cells are blank for tasks
// the card lacks; the card's Average is its stated one when all its tasks were run, else
// the mean of the tasks shown.
func (r *Report) WriteMarkdown(w io.Writer, compare []Card) error {
	var b strings.Builder
	row := func(cells ...string) { b.WriteString("| " + strings.Join(cells, " | ") + " |\n") }
	head := []string{"", "Average"}
	sep := []string{"---", "---:"}
	metric := []string{"metric", ""}
	ours := []string{"decilm", pct(r.Average())}
	if r.Model != "" {
		ours[0] = r.Model + " (decilm)"
	}
	for _, t := range r.Tasks {
		head = append(head, t.Title)
		sep = append(sep, "---:")
		metric = append(metric, t.Headline)
		m, _ := t.Metric(t.Headline)
		ours = append(ours, pct(m.Value))
	}
	row(head...)
	row(sep...)
	row(metric...)
	row(ours...)
	for _, c := range compare {
		cells := []string{c.Model + " (card)", ""}
		var s float64
		n, all := 0, 0
		for _, t := range r.Tasks {
			v, ok := c.Scores[t.Task]
			if !ok {
				cells = append(cells, "")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.2f", v))
			s += v
			n++
		}
		for task := range c.Scores {
			if _, ok := r.Find(task); ok {
				all++
			}
		}
		switch {
		case all == len(c.Scores) && n == len(r.Tasks):
			cells[1] = fmt.Sprintf("%.2f", c.Average)
		case n > 0:
			cells[1] = fmt.Sprintf("%.2f", s/float64(n))
		}
		row(cells...)
	}
	b.WriteString("\n| task | items | metric | value | stderr |\n| --- | ---: | --- | ---: | ---: |\n")
	for _, t := range r.Tasks {
		for _, m := range t.Metrics {
			v, se := fmt.Sprintf("%.4f", m.Value), fmt.Sprintf("%.4f", m.Stderr)
			if math.IsNaN(m.Stderr) {
				se = "n/a"
			}
			row(t.Task, fmt.Sprint(t.Items), m.Name, v, se)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(x float64) string {
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", 100*x)
}
