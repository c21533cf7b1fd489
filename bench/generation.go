package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/decilm/decilm/model"
)

// GenRun is what one generation reports to Generation: the tokens it generated, the time
// it spent generating them (the prompt's prefill excluded), and for speculative decoding
// the tokens drafted and accepted.
type GenRun struct {
	Tokens            int
	Time              time.Duration
	Drafted, Accepted int
}

// GenOptions configure Generation.
type GenOptions struct {
	// Test names the record ("tg128 text", "tg128 text +self:q4_0").
	Test string
	// Prompt and Gen are the prompt and generation lengths the records report.
	Prompt, Gen int
	// Reps is the number of measured repetitions (default 3).
	Reps int
	// Model describes the model in the record (see Describe).
	Model ModelInfo
	// Progress, when set, receives a line per repetition.
	Progress io.Writer
}

// Generation measures real generation, as the tg test cannot for speculative decoding
// (whose speed depends on the text): gen runs one whole generation and reports it; it is
// called once unmeasured (the warm-up), then Reps times. Each sample is the generated
// tokens per second of generation time. For speculative runs the record's n_drafted and
// n_accepted sum the measured repetitions, accept_rate is their ratio, and the test name
// ends with the acceptance in per cent.
func Generation(ctx context.Context, m *model.Model, o GenOptions, gen func(context.Context) (GenRun, error)) (Record, error) {
	if o.Reps <= 0 {
		o.Reps = 3
	}
	rec := baseRecord(m, o.Model)
	rec.Test, rec.NPrompt, rec.NGen, rec.NSeq, rec.NBatch = o.Test, o.Prompt, o.Gen, 1, o.Prompt
	rec.TestTime = time.Now().UTC().Format(time.RFC3339)
	progress(o.Progress, "bench: %s: warm-up", o.Test)
	if _, err := gen(ctx); err != nil {
		return Record{}, err
	}
	for i := 0; i < o.Reps; i++ {
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		r, err := gen(ctx)
		if err != nil {
			return Record{}, err
		}
		if r.Tokens <= 0 {
			return Record{}, errors.New("bench: the generation produced no tokens")
		}
		ns := max(r.Time.Nanoseconds(), 1)
		rec.SamplesNs = append(rec.SamplesNs, ns)
		rec.SamplesTs = append(rec.SamplesTs, float64(r.Tokens)*1e9/float64(ns))
		rec.NDrafted += r.Drafted
		rec.NAccepted += r.Accepted
		progress(o.Progress, "bench: %s: rep %d/%d: %.2f t/s, %d drafted, %d accepted", o.Test, i+1, o.Reps, rec.SamplesTs[i], r.Drafted, r.Accepted)
	}
	rec.summarise()
	if rec.NDrafted > 0 {
		rec.AcceptRate = float64(rec.NAccepted) / float64(rec.NDrafted)
		rec.Test = fmt.Sprintf("%s (%.0f%% acc)", rec.Test, 100*rec.AcceptRate)
	}
	return rec, nil
}
