package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/eval"
	"github.com/decilm/decilm/hub"
	"github.com/decilm/decilm/internal/atomicfile"
)

func init() {
	register(&command{name: "eval", summary: "score a model on the model card's benchmark tasks (lm-evaluation-harness semantics)", run: runEval})
	register(&command{name: "perplexity", summary: "token-weighted perplexity of a text file with a sliding window", run: runPerplexity})
}

// evalTokenizer adapts the model's tokenizer to eval.Tokenizer.
func evalTokenizer(m *decilm.Model) eval.Tokenizer {
	return eval.TokenizerFunc(func(s string, bos bool) []int {
		o := m.Tokenizer.DefaultOptions()
		o.AddBOS = bos
		ids := m.Tokenizer.Encode(s, o)
		if len(ids) == 0 && bos {
			ids = []int{m.Tokenizer.BOS()}
		}
		return ids
	})
}

func runEval(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "eval", "[-m MODEL] --tasks LIST [flags]")
	mf := addModelFlags(fs)
	tasks := fs.String("tasks", "card", "comma-separated tasks ("+joinNames(eval.TaskNames())+"), or card for the model card's nine")
	limit := fs.Int("limit", 0, "score only the first N items of each task (0: all)")
	shots := fs.Int("num-fewshot", 0, "few-shot examples from the training split")
	data := fs.String("data", "", "directory with the datasets (default: the Hugging Face cache); ../shared/fixtures/eval works as it is")
	output := fs.String("output", "", "write every metric with its standard error as JSON to this file")
	logSamples := fs.String("log-samples", "", "write one JSON line per item (prompt, choices, log-likelihoods, prediction) to this file")
	compare := fs.String("compare", "", "show a model card's numbers beside ours: card (both), DeciLM-6B-instruct or DeciLM-6B")
	noBOS := fs.Bool("no-bos", false, "encode without BOS, as lm-evaluation-harness v0.4.9.1 and earlier did")
	quiet := fs.Bool("q", false, "no progress bar")
	noShare := fs.Bool("no-share-context", false, "compute each choice's context separately (slower; to measure what sharing saves)")
	lf := addLoRAFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	names, err := eval.ParseTaskList(*tasks)
	if err != nil {
		return usageError("--tasks: %v", err)
	}
	var cards []eval.Card
	if *compare != "" {
		if cards, err = eval.LookupCards(*compare); err != nil {
			return usageError("--compare: %v", err)
		}
	}
	dir := *data
	if dir == "" {
		dir = hub.CacheDir(nil)
	}
	var ts []*eval.Task
	for _, n := range names {
		t, err := eval.Load(dir, n, eval.LoadOptions{Train: *shots > 0, Limit: *limit})
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	m, err := loadLM(ctx, e, mf, "")
	if err != nil {
		return err
	}
	defer m.Close()
	if err := lf.apply(m); err != nil {
		return err
	}
	opts := eval.Options{
		Limit:      *limit,
		NumFewshot: *shots,
		Encode:     eval.EncodeOptions{NoBOS: *noBOS, MaxLength: m.Net.Config.ContextLength()},
	}
	if *logSamples != "" {
		f, err := os.Create(*logSamples)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(f)
		defer func() { w.Flush(); f.Close() }()
		opts.LogSamples = w
	}
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "eval", "items")
		opts.Progress = func(p eval.Progress) {
			bar.label = "eval " + p.Task
			bar.update(int64(p.Done), int64(p.Total))
		}
	}
	start := time.Now()
	rep, err := eval.Run(ctx, ts, evalTokenizer(m), &eval.ModelScorer{Net: m.Net, NoShare: *noShare}, opts)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	rep.Model = m.Name
	if err := rep.WriteMarkdown(e.stdout, cards); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%s in %s\n", m.Name, time.Since(start).Round(time.Millisecond))
	if *output != "" {
		return atomicfile.WriteFile(*output, 0o644, rep.WriteJSON)
	}
	return nil
}

func joinNames(n []string) string {
	s := ""
	for i, x := range n {
		if i > 0 {
			s += ", "
		}
		s += x
	}
	return s
}

func runPerplexity(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "perplexity", "[-m MODEL] [-c N] [--stride S] FILE | --kl-divergence-base BASE [--kl-divergence] [FILE]")
	mf := addModelFlags(fs)
	window := fs.Int("ctx", 0, "window length in tokens (default: the model's context length; 512 with --kl-divergence-base)")
	fs.IntVar(window, "c", 0, "same as --ctx")
	stride := fs.Int("stride", 0, "tokens the window advances by; only the last stride tokens of a window are scored after the first (default: ctx/2)")
	quiet := fs.Bool("q", false, "no progress bar")
	lf := addLoRAFlags(fs)
	kl := &klFlags{
		base:   fs.String("kl-divergence-base", "", "llama-perplexity's log-probability file: written from this model's logits over FILE, or with --kl-divergence read as the base to compare with"),
		kld:    fs.Bool("kl-divergence", false, "compare this model with --kl-divergence-base (KL divergence, top-token agreement, perplexity ratio)"),
		chunks: fs.Int("chunks", 0, "with --kl-divergence-base: chunks of -c tokens to use (0: all the text holds)"),
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	if *kl.kld && !kl.active() {
		return usageError("--kl-divergence needs --kl-divergence-base BASE")
	}
	if *kl.chunks < 0 {
		return usageError("--chunks must be ≥ 0, have %d", *kl.chunks)
	}
	if *kl.kld {
		if fs.NArg() > 1 {
			return usageError("--kl-divergence reads the tokens from the base file: at most one FILE (ignored)")
		}
		m, err := loadLM(ctx, e, mf, "")
		if err != nil {
			return err
		}
		defer m.Close()
		if err := lf.apply(m); err != nil {
			return err
		}
		return runKLD(ctx, e, m, kl, *quiet)
	}
	if fs.NArg() != 1 {
		return usageError("want one FILE")
	}
	text, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	m, err := loadLM(ctx, e, mf, "")
	if err != nil {
		return err
	}
	defer m.Close()
	if err := lf.apply(m); err != nil {
		return err
	}
	if kl.active() {
		n := *window
		if n <= 0 {
			n = min(512, m.Net.Config.ContextLength())
		}
		if n > m.Net.Config.ContextLength() {
			return usageError("-c %d exceeds the model's context of %d tokens", n, m.Net.Config.ContextLength())
		}
		return runKLBase(ctx, e, m, kl, text, n, *quiet)
	}
	w := *window
	if w <= 0 || w > m.Net.Config.ContextLength() {
		w = m.Net.Config.ContextLength()
	}
	s := *stride
	if s <= 0 {
		s = w / 2
	}
	tokens := evalTokenizer(m).Encode(string(text), true)
	o := eval.PerplexityOptions{Window: w, Stride: s}
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "perplexity", "windows")
		o.Progress = func(done, total int) { bar.update(int64(done), int64(total)) }
	}
	start := time.Now()
	res, err := eval.Perplexity(ctx, &eval.ModelScorer{Net: m.Net}, tokens, o)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "perplexity %.4f over %d tokens (%d windows of %d, stride %d; %s)\n",
		res.Perplexity, res.Tokens, res.Windows, w, s, time.Since(start).Round(time.Millisecond))
	return nil
}
