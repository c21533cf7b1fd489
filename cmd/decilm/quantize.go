package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
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
	m, err := decilm.Load(ctx, path, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	net, tok, mname := m.Net, m.Tokenizer, m.Name
	o := quantize.Options{Type: d, Arch: *arch, OutputType: *outType, Name: *name}
	if src, ok := chat.JinjaSource(m.Template); ok {
		o.ChatTemplate = src
	}
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
