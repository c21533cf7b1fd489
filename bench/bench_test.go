package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/bench"
)

// llamaBenchHeader is the first two lines of llama-bench's markdown output (llama.cpp
// examples/llama-bench/README.md).
const llamaBenchHeader = "| model                          |       size |     params | backend    | threads |          test |                  t/s |\n" +
	"| ------------------------------ | ---------: | ---------: | ---------- | ------: | ------------: | -------------------: |\n"

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name string
		recs []bench.Record
		want []string // lines after the header
	}{
		{"empty", nil, nil},
		{"pp and tg", []bench.Record{
			{ModelType: "llama 7B Q4_0", ModelSize: 3825065984, ModelParams: 6738415616, Backends: "CPU", NThreads: 2, Test: "pp128", AvgTs: 12.345, StddevTs: 0.051},
			{ModelType: "llama 7B Q4_0", ModelSize: 3825065984, ModelParams: 6738415616, Backends: "CPU", NThreads: 2, Test: "tg32", AvgTs: 4.5, StddevTs: 0},
		}, []string{
			"| llama 7B Q4_0                  |   3.56 GiB |     6.74 B | CPU        |       2 |         pp128 |         12.35 ± 0.05 |",
			"| llama 7B Q4_0                  |   3.56 GiB |     6.74 B | CPU        |       2 |          tg32 |          4.50 ± 0.00 |",
		}},
		{"small model", []bench.Record{
			{ModelType: "deci 9M F32", ModelSize: 5 << 20, ModelParams: 260000, Backends: "CPU", NThreads: 1, Test: "tg32 x16 seq", AvgTs: 1234.5, StddevTs: 6.25},
		}, []string{
			"| deci 9M F32                    |   5.00 MiB |   260.00 K | CPU        |       1 |  tg32 x16 seq |       1234.50 ± 6.25 |",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := bench.WriteMarkdown(&buf, tc.recs); err != nil {
				t.Fatal(err)
			}
			want := llamaBenchHeader
			for _, l := range tc.want {
				want += l + "\n"
			}
			if buf.String() != want {
				t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
			}
		})
	}
}

func TestMarkdownWideCells(t *testing.T) {
	var buf bytes.Buffer
	long := strings.Repeat("m", 40)
	if err := bench.WriteMarkdown(&buf, []bench.Record{{ModelType: long, Test: "pp1", NThreads: 1}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged table:\n%s", buf.String())
		}
	}
}

// TestJSONFields checks the field names scripts written for llama-bench -o json read.
func TestJSONFields(t *testing.T) {
	var buf bytes.Buffer
	recs := []bench.Record{{NPrompt: 128, NThreads: 2, AvgTs: 10, StddevTs: 1, SamplesTs: []float64{9, 10, 11}, NSeq: 1}}
	if err := bench.WriteJSON(&buf, recs); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"model_filename", "model_type", "model_size", "model_n_params", "n_prompt", "n_gen", "n_threads",
		"n_seq", "avg_ts", "stddev_ts", "avg_ns", "stddev_ns", "samples_ts", "samples_ns", "test_time", "build_commit", "cpu_info"} {
		if _, ok := got[0][k]; !ok {
			t.Errorf("JSON record has no %q", k)
		}
	}
	if got[0]["n_prompt"] != float64(128) || got[0]["avg_ts"] != float64(10) {
		t.Errorf("values: %v", got[0])
	}
	buf.Reset()
	if err := bench.WriteJSON(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no records: %q, %v", buf.String(), err)
	}
}

func TestParseCounts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{"", nil, false},
		{"1", []int{1}, false},
		{"1,4,16", []int{1, 4, 16}, false},
		{" 2 , 8 ", []int{2, 8}, false},
		{"0", nil, true},
		{"-1", nil, true},
		{"1,,2", nil, true},
		{"x", nil, true},
		{"100000", nil, true},
	}
	for _, tc := range tests {
		got, err := bench.ParseCounts(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && !equal(got, tc.want)) {
			t.Errorf("ParseCounts(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func FuzzParseCounts(f *testing.F) {
	for _, s := range []string{"", "1,4,16", "0", "1,,2", " 3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, err := bench.ParseCounts(s)
		if err != nil {
			return
		}
		for _, n := range ns {
			if n <= 0 || n > 1<<16 {
				t.Fatalf("ParseCounts(%q) gave %d", s, n)
			}
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func loadEmbedded(t *testing.T) *decilm.Model {
	t.Helper()
	m, err := decilm.Load(context.Background(), "", decilm.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestRun runs every test on the embedded stories260K model and checks the records'
// bookkeeping: one per test, the right counts, and statistics consistent with the samples.
func TestRun(t *testing.T) {
	m := loadEmbedded(t)
	var prog bytes.Buffer
	info := bench.Describe(m.Net, "stories260K")
	recs, err := bench.Run(context.Background(), m.Net, bench.Options{Prompt: 16, Gen: 4, Seqs: []int{1, 3}, Reps: 3, Model: info, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		test             string
		nPrompt, nGen, n int
	}{{"pp16", 16, 0, 1}, {"tg4", 0, 4, 1}, {"tg4 x1 seq", 0, 4, 1}, {"tg4 x3 seq", 0, 4, 3}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		r := recs[i]
		if r.Test != w.test || r.NPrompt != w.nPrompt || r.NGen != w.nGen || r.NSeq != w.n || r.NThreads != 2 {
			t.Errorf("record %d: %s p%d n%d seq%d threads %d, want %+v", i, r.Test, r.NPrompt, r.NGen, r.NSeq, r.NThreads, w)
		}
		if len(r.SamplesTs) != 3 || len(r.SamplesNs) != 3 || r.AvgTs <= 0 {
			t.Fatalf("record %d: samples %v", i, r.SamplesTs)
		}
		mean := (r.SamplesTs[0] + r.SamplesTs[1] + r.SamplesTs[2]) / 3
		if math.Abs(mean-r.AvgTs) > 1e-9*mean {
			t.Errorf("record %d: avg_ts %g, mean of samples %g", i, r.AvgTs, mean)
		}
		tokens := max(w.nPrompt, w.nGen*w.n)
		if got := float64(tokens) * 1e9 / float64(r.SamplesNs[0]); math.Abs(got-r.SamplesTs[0]) > 1e-6*got {
			t.Errorf("record %d: samples_ts %g, tokens/time %g", i, r.SamplesTs[0], got)
		}
		if r.ModelType != "llama 0M F32" && !strings.HasPrefix(r.ModelType, "llama") {
			t.Errorf("model type %q", r.ModelType)
		}
	}
	if !strings.Contains(prog.String(), "tg4 x3 seq: rep 3/3") {
		t.Errorf("progress:\n%s", prog.String())
	}
}

func TestRunErrors(t *testing.T) {
	m := loadEmbedded(t)
	for _, o := range []bench.Options{{Prompt: -1}, {Gen: 1, Seqs: []int{0}}, {Prompt: 1 << 20}} {
		if _, err := bench.Run(context.Background(), m.Net, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := bench.Run(ctx, m.Net, bench.Options{Gen: 2}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestCard(t *testing.T) {
	m := loadEmbedded(t)
	rec, err := bench.Card(context.Background(), m.Net, m.Tokenizer, bench.CardOptions{Batch: 5, Prompt: 12, Gen: 6, Reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rec.NSeq != 5 || rec.NPrompt != 12 || rec.NGen != 6 || len(rec.SamplesTs) != 2 || rec.AvgTs <= 0 {
		t.Errorf("record %+v", rec)
	}
	if got := 30 * 1e9 / float64(rec.SamplesNs[1]); math.Abs(got-rec.SamplesTs[1]) > 1e-6*got {
		t.Errorf("samples_ts %g, generated tokens/time %g", rec.SamplesTs[1], got)
	}
	if _, err := bench.Card(context.Background(), m.Net, m.Tokenizer, bench.CardOptions{Prompt: 400, Gen: 400}); err == nil {
		t.Error("prompt+gen beyond the context: no error")
	}
	if _, err := bench.Card(context.Background(), m.Net, m.Tokenizer, bench.CardOptions{Batch: -1, Reps: 1}); err == nil {
		t.Error("negative batch: no error")
	}
}
