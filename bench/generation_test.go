package bench_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/bench"
)

// TestGeneration: Generation calls gen once to warm up and Reps times measured, turns each
// run into tokens per second of its generation time, and sums the drafted and accepted
// counts into the record and its test name.
func TestGeneration(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	calls := 0
	rec, err := bench.Generation(context.Background(), m.Net, bench.GenOptions{Test: "tg10 text +ngram", Prompt: 5, Gen: 10, Reps: 2},
		func(context.Context) (bench.GenRun, error) {
			calls++
			return bench.GenRun{Tokens: 10, Time: time.Duration(calls) * 100 * time.Millisecond, Drafted: 8, Accepted: 6}, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 3 || len(rec.SamplesTs) != 2 || rec.SamplesTs[0] != 50 || rec.SamplesTs[1] != 100.0/3 {
		t.Fatalf("%d calls, samples %v; want 3 calls and 50, 33.3 t/s", calls, rec.SamplesTs)
	}
	if rec.NDrafted != 16 || rec.NAccepted != 12 || rec.AcceptRate != 0.75 || rec.Test != "tg10 text +ngram (75% acc)" || rec.NPrompt != 5 || rec.NGen != 10 {
		t.Fatalf("record %+v", rec)
	}
	plain, err := bench.Generation(context.Background(), m.Net, bench.GenOptions{Test: "tg10 text", Reps: 1},
		func(context.Context) (bench.GenRun, error) { return bench.GenRun{Tokens: 1, Time: time.Second}, nil })
	if err != nil || plain.Test != "tg10 text" || plain.AcceptRate != 0 {
		t.Fatalf("plain record %+v, %v", plain, err)
	}
	_, err = bench.Generation(context.Background(), m.Net, bench.GenOptions{Test: "x", Reps: 1},
		func(context.Context) (bench.GenRun, error) { return bench.GenRun{}, errors.New("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("gen error: %v", err)
	}
}
