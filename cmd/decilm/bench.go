package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/bench"
)

func init() {
	register(&command{name: "bench", summary: "measure prompt, generation and batched tokens/s (llama-bench's table and JSON)", run: runBench})
}

func runBench(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "bench", "-m MODEL [-p 128] [-n 32] [-b 1,4,16] [--threads N] [-r 3] [--json] [--card [--text FILE]] [--draft-model M | --draft ngram [--text FILE]]")
	mf := addModelFlags(fs)
	p := fs.Int("p", 128, "prompt tokens of the pp test (0: skip it); with --card, tokens per prompt (default there 32)")
	n := fs.Int("n", 32, "decode steps of the tg and batched tests (0: skip them); with --card, tokens generated per prompt")
	b := fs.String("b", "", "comma-separated sequence counts for batched generation, e.g. 1,4,16; with --card, the batch (default 64)")
	reps := fs.Int("r", 3, "repetitions of each test")
	asJSON := fs.Bool("json", false, "print a JSON array of records with llama-bench's field names instead of the table")
	card := fs.Bool("card", false, "the model card's method: a batch of prompts cut from a text, sampled at temperature 0.2 / top-p 0.95, generated tokens/s")
	text := fs.String("text", "", "with --card: the text file prompts are cut from (default: a built-in paragraph)")
	seed := fs.Uint64("seed", 1, "with --card: sampler seed")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	df := addDraftFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := df.check(); err != nil {
		return err
	}
	seqs, err := bench.ParseCounts(*b)
	if err != nil {
		return usageError("-b %q: want comma-separated positive sequence counts such as 1,4,16", *b)
	}
	switch {
	case *p < 0:
		return usageError("-p must be >= 0 (0: skip the prompt test), have %d", *p)
	case *n < 0:
		return usageError("-n must be >= 0 (0: skip the generation tests), have %d", *n)
	case *reps < 1:
		return usageError("-r must be >= 1, have %d", *reps)
	}
	if *card && len(seqs) > 1 {
		return usageError("--card takes one batch size in -b, have %q", *b)
	}
	var sample string
	if *text != "" {
		t, err := os.ReadFile(*text)
		if err != nil {
			return err
		}
		sample = string(t)
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	m, err := decilm.Load(ctx, path, mf.options(""))
	if err != nil {
		return err
	}
	defer m.Close()
	info := bench.Describe(m.Net, mf.name())
	var prog io.Writer
	if !*quiet {
		prog = e.stderr
	}
	var recs []bench.Record
	if *card {
		co := bench.CardOptions{Text: sample, Gen: *n, Seed: *seed, Reps: *reps, Model: info, Progress: prog}
		if benchFlagGiven(fs, "p") {
			co.Prompt = *p
		}
		if len(seqs) == 1 {
			co.Batch = seqs[0]
		}
		rec, err := bench.Card(ctx, m.Net, m.Tokenizer, co)
		if err != nil {
			return err
		}
		recs = append(recs, rec)
	} else {
		recs, err = bench.Run(ctx, m.Net, bench.Options{Prompt: *p, Gen: *n, Seqs: seqs, Reps: *reps, Model: info, Progress: prog})
		if err != nil {
			return err
		}
	}
	if df.on() {
		spec, err := benchDraft(ctx, e, mf, df, m, info, sample, *p, *n, *reps, prog)
		if err != nil {
			return err
		}
		recs = append(recs, spec...)
	}
	if *asJSON {
		return bench.WriteJSON(e.stdout, recs)
	}
	return bench.WriteMarkdown(e.stdout, recs)
}

// benchFlagGiven reports whether the flag name was set on the command line.
func benchFlagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
