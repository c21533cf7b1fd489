package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

func init() {
	register(&command{name: "quantize", summary: "write a model as a GGUF file (f32, f16, bf16, q8_0, q4_0) that llama.cpp loads", run: runQuantize})
}

func runQuantize(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "quantize", "-m MODEL --type q8_0|q4_0|f16|bf16|f32 -o OUT.gguf [flags]")
	mf := addModelFlags(fs)
	typ := fs.String("type", "q8_0", "weight type: f32, f16, bf16, q8_0 or q4_0")
	out := fs.String("o", "", "output GGUF file")
	arch := fs.String("arch", "deci", "general.architecture: deci, or llama when every layer has the same KV heads")
	outType := fs.String("output-type", "", "type of the output projection (default: --type, but q8_0 for q4_0)")
	name := fs.String("name", "", "general.name (default: the model's name)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError("-o OUT.gguf is required")
	}
	d, err := tensor.ParseDType(*typ)
	if err != nil || !(d == tensor.F32 || d == tensor.F16 || d == tensor.BF16 || d == tensor.Q8_0 || d == tensor.Q4_0) {
		return usageError("--type must be one of f32, f16, bf16, q8_0, q4_0, have %q", *typ)
	}
	if *arch != "deci" && *arch != "llama" {
		return usageError("--arch must be deci or llama, have %q", *arch)
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	if err := checkOutputFile("-o", *out, path, *mf.tokenizer); err != nil {
		return err
	}
	opts := mf.options("")
	opts.NoPack = true // the weights are read once
	var (
		net   *model.Model
		tok   *tokenizer.Tokenizer
		vocab []gguf.KV
		mname string
	)
	if tj, tc, ok := llama3Tokenizer(path, *mf.tokenizer); ok {
		// A Llama-3 byte-level BPE vocabulary goes into the file as llama.cpp's converter
		// writes it (tokenizer.ggml.model gpt2), straight from tokenizer.json.
		if net, err = model.Load(path, model.Options{Threads: opts.Threads, NoPack: true}); err != nil {
			return err
		}
		defer net.Close()
		c := net.Config
		eos := -1
		if len(c.EOS) > 0 {
			eos = c.EOS[0]
		}
		if vocab, err = quantize.GPT2Vocab(tj, tc, c.Vocab, c.BOS, eos); err != nil {
			return err
		}
		mname = filepath.Base(filepath.Clean(path))
	} else {
		m, err := decilm.Load(ctx, path, opts)
		if err != nil {
			return err
		}
		defer m.Close()
		net, tok, mname = m.Net, m.Tokenizer, m.Name
	}
	o := quantize.Options{Type: d, Arch: *arch, OutputType: *outType, Name: *name, Vocab: vocab}
	if o.Name == "" {
		o.Name = strings.TrimSuffix(mname, filepath.Ext(mname))
	}
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "quantize "+d.String(), "B")
		o.Progress = bar.update
	}
	err = quantize.WriteFile(*out, net, tok, o)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s, architecture %s)\n", *out, d, *arch)
	return nil
}

// llama3Tokenizer returns the tokenizer.json (and tokenizer_config.json, or nil) beside a
// checkpoint directory (or at tokFlag) when it holds a Llama-3 byte-level BPE vocabulary.
func llama3Tokenizer(path, tokFlag string) (tj, tc []byte, ok bool) {
	dir := path
	if tokFlag != "" {
		dir = tokFlag
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, false
	}
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil || !quantize.IsLlama3BPE(tj) {
		return nil, nil, false
	}
	tc, _ = os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	return tj, tc, true
}
