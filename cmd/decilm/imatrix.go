package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
)

func init() {
	register(&command{name: "imatrix", summary: "compute an importance matrix over a text (llama-imatrix) for quantize --imatrix", run: runImatrix})
}

func runImatrix(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "imatrix", "-m MODEL --data FILE [-o imatrix.gguf] [-c 512] [--chunks N]")
	mf := addModelFlags(fs)
	data := fs.String("data", "", "the text to run through the model")
	fs.StringVar(data, "f", "", "same as --data")
	out := fs.String("o", "imatrix.gguf", "output file: llama.cpp's GGUF imatrix format, or its legacy format when the name ends in .dat (what llama-quantize at c392e509 reads)")
	chunk := fs.Int("c", 512, "tokens a chunk (llama-imatrix's context); each chunk starts with BOS")
	fs.IntVar(chunk, "ctx", 512, "same as -c")
	chunks := fs.Int("chunks", -1, "chunks to process (-1: all the text holds)")
	withOutput := fs.Bool("process-output", false, "also collect the output projection's inputs")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *data == "" {
		return usageError("--data FILE is required")
	}
	if *chunk < 16 {
		return usageError("-c must be at least 16 tokens (llama.cpp ignores smaller products), have %d", *chunk)
	}
	if *chunks == 0 || *chunks < -1 {
		return usageError("--chunks must be positive or -1 for all, have %d", *chunks)
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	if err := checkOutputFile("-o", *out, path, *mf.tokenizer); err != nil {
		return err
	}
	text, err := os.ReadFile(*data)
	if err != nil {
		return err
	}
	m, err := loadLM(ctx, e, mf, "")
	if err != nil {
		return err
	}
	defer m.Close()
	net := m.Net
	if *chunk > net.Config.ContextLength() {
		return usageError("-c %d exceeds the model's context of %d tokens", *chunk, net.Config.ContextLength())
	}
	tokens := evalTokenizer(m).Encode(string(text), true)
	n := len(tokens) / *chunk
	if n < 1 {
		return fmt.Errorf("imatrix: %s holds %d tokens, fewer than one chunk of %d", *data, len(tokens), *chunk)
	}
	if *chunks > 0 {
		n = min(n, *chunks)
	}
	col := quantize.NewCollector(net)
	col.Output = *withOutput
	net.SetObserver(col.Observe)
	defer net.SetObserver(nil)
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "imatrix", "chunks")
	}
	start := time.Now()
	cache := model.NewCache(net.Config, *chunk)
	var b model.Batch
	for c := 0; c < n; c++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		cache.Truncate(0, 0)
		b.Reset()
		for i, t := range tokens[c**chunk : (c+1)**chunk] {
			if i == 0 {
				t = m.Tokenizer.BOS() // as llama-imatrix: every chunk starts with BOS
			}
			b.Add(0, i, t, *withOutput)
		}
		if _, err := net.Forward(&b, cache); err != nil {
			return err
		}
		if bar != nil {
			bar.update(int64(c+1), int64(n))
		}
	}
	if bar != nil {
		bar.finish()
	}
	im := col.Imatrix(n, *chunk, filepath.Base(*data))
	if err := im.WriteFile(*out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s: %d matrices over %d chunks of %d tokens (%s)\n", *out, len(im.Entries), n, *chunk, time.Since(start).Round(time.Millisecond))
	return nil
}
