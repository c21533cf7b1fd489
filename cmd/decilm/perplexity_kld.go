package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/eval"
	"github.com/decilm/decilm/internal/atomicfile"
)

// klFlags are perplexity's llama-perplexity-style KL-divergence flags.
type klFlags struct {
	base   *string
	kld    *bool
	chunks *int
}

func (k *klFlags) active() bool { return *k.base != "" }

// runKLBase writes the base file of llama-perplexity --kl-divergence-base: the model's
// log-probabilities over text in chunks of n tokens.
func runKLBase(ctx context.Context, e *env, m *decilm.Model, k *klFlags, text []byte, n int, quiet bool) error {
	tokens := evalTokenizer(m).Encode(string(text), true)
	o := eval.KLBaseOptions{Ctx: n, Chunks: *k.chunks, BOS: m.Tokenizer.BOS(), Vocab: m.Net.Config.Vocab}
	var bar *progress
	if !quiet {
		bar = newProgress(e.stderr, "kl-divergence base", "chunks")
		o.Progress = func(done, total int) { bar.update(int64(done), int64(total)) }
	}
	start := time.Now()
	var res eval.PerplexityResult
	err := atomicfile.WriteFile(*k.base, 0o644, func(w io.Writer) error {
		var err error
		res, err = eval.WriteKLBase(ctx, w, eval.ModelLogits(m.Net), tokens, o)
		return err
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d chunks of %d tokens; perplexity %.4f over the %d positions compared (%s)\n",
		*k.base, res.Windows, n, res.Perplexity, res.Tokens, time.Since(start).Round(time.Millisecond))
	return nil
}

// runKLD compares the model with a base file, as llama-perplexity --kl-divergence does.
func runKLD(ctx context.Context, e *env, m *decilm.Model, k *klFlags, quiet bool) error {
	f, err := os.Open(*k.base)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	o := eval.KLOptions{BOS: m.Tokenizer.BOS(), Vocab: m.Net.Config.Vocab, MaxCtx: m.Net.Config.ContextLength()}
	var bar *progress
	if !quiet {
		bar = newProgress(e.stderr, "kl-divergence", "chunks")
		o.Progress = func(done, total int) { bar.update(int64(done), int64(total)) }
	}
	start := time.Now()
	res, err := eval.KLDivergence(ctx, f, st.Size(), eval.ModelLogits(m.Net), o)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", *k.base, err)
	}
	fmt.Fprintf(e.stdout, "%s against %s: %d positions (%s)\n\n", m.Name, *k.base, res.Tokens, time.Since(start).Round(time.Millisecond))
	return res.WriteText(e.stdout)
}
