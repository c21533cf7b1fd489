//go:build oracle

package eval_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/eval"
	"github.com/decilm/decilm/internal/testutil"
)

// Every task on the local fixtures, 6 items each, scored by the embedded stories260K
// model through ModelScorer: the run completes with finite metrics, and each item's
// log-likelihoods are the same whether it is scored alone or in a batch of all of them,
// to 1e-5 relative (float32 sums in a different order differ by ~1e-5 absolute on
// log-likelihoods of −100 to −400).
func TestRunEmbeddedModel(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok := eval.TokenizerFunc(func(s string, bos bool) []int {
		o := m.Tokenizer.DefaultOptions()
		o.AddBOS = bos
		return m.Tokenizer.Encode(s, o)
	})
	dir := filepath.Join(testutil.Fixtures(t), "eval")
	names, err := eval.ParseTaskList("card,truthfulqa_mc1")
	if err != nil {
		t.Fatal(err)
	}
	var tasks []*eval.Task
	for _, n := range names {
		task, err := eval.Load(dir, n, eval.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tasks = append(tasks, task)
	}
	run := func(batch int) (*eval.Report, []eval.Sample) {
		var log bytes.Buffer
		rep, err := eval.Run(context.Background(), tasks, tok, &eval.ModelScorer{Net: m.Net}, eval.Options{
			Limit: 6, BatchItems: batch, BootstrapIters: 1000, LogSamples: &log,
			Encode: eval.EncodeOptions{MaxLength: m.Net.Config.ContextLength()}})
		if err != nil {
			t.Fatal(err)
		}
		var samples []eval.Sample
		sc := bufio.NewScanner(&log)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var s eval.Sample
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			samples = append(samples, s)
		}
		return rep, samples
	}
	rep, big := run(64)
	_, alone := run(1)
	if len(big) != 60 || len(alone) != 60 {
		t.Fatalf("%d and %d samples, want 60", len(big), len(alone))
	}
	for i := range big {
		for j, ll := range big[i].LogLikelihoods {
			if d := math.Abs(ll - alone[i].LogLikelihoods[j]); d > 1e-5*math.Max(1, math.Abs(ll)) || math.IsNaN(ll) || ll > 0 {
				t.Errorf("%s item %d choice %d: LL %v in a batch, %v alone", big[i].Task, big[i].DocID, j, ll, alone[i].LogLikelihoods[j])
			}
		}
	}
	for _, tr := range rep.Tasks {
		for _, mt := range tr.Metrics {
			if math.IsNaN(mt.Value) || math.IsInf(mt.Value, 0) || math.IsNaN(mt.Stderr) {
				t.Errorf("%s %s = %v ± %v", tr.Task, mt.Name, mt.Value, mt.Stderr)
			}
		}
	}
	var md bytes.Buffer
	rep.WriteMarkdown(&md, eval.Cards)
	t.Logf("stories260K, 6 items per task:\n%s", md.String())
}

// BenchmarkRunEmbedded reports items/s of Run on the embedded stories260K model for
// arc_easy and hellaswag (the fixtures' first 50 items), with and without computing a
// shared context once (ModelScorer.NoShare).
func BenchmarkRunEmbedded(b *testing.B) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	tok := eval.TokenizerFunc(func(s string, bos bool) []int {
		o := m.Tokenizer.DefaultOptions()
		o.AddBOS = bos
		return m.Tokenizer.Encode(s, o)
	})
	dir := filepath.Join(testutil.Fixtures(b), "eval")
	for _, name := range []string{"arc_easy", "hellaswag"} {
		task, err := eval.Load(dir, name, eval.LoadOptions{Limit: 50})
		if err != nil {
			b.Fatal(err)
		}
		for _, share := range []bool{true, false} {
			b.Run(fmt.Sprintf("%s/share=%v", name, share), func(b *testing.B) {
				sc := &eval.ModelScorer{Net: m.Net, NoShare: !share}
				for b.Loop() {
					if _, err := eval.Run(context.Background(), []*eval.Task{task}, tok, sc, eval.Options{
						BootstrapIters: -1, Encode: eval.EncodeOptions{MaxLength: m.Net.Config.ContextLength()}}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(task.Items)*b.N)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}
