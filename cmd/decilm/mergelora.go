package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
)

func init() {
	register(&command{name: "merge-lora", summary: "merge LoRA adapters into a model's weights and write a checkpoint (Hugging Face safetensors or GGUF)", run: runMergeLoRA})
}

func runMergeLoRA(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "merge-lora", "-m BASE --lora PATH[:SCALE] [--lora ...] -o OUT_DIR|OUT.gguf [--type TYPE] [--dtype f32|f16|bf16] [--force]\n\n"+
		"Adds s·B·A of every adapter to the weights it targets (in float64, per element) and writes\n"+
		"OUT.gguf (any type quantize writes, --type; quantized bases are dequantized, merged and\n"+
		"requantized) or OUT_DIR in the Hugging Face layout (config.json, model.safetensors and\n"+
		"the tokenizer files, as convert writes them).")
	mf := addModelFlags(fs)
	lf := addLoRAFlags(fs)
	out := fs.String("o", "", "output: a .gguf file, or a directory for the Hugging Face layout")
	typ := fs.String("type", "f16", "weight type of a GGUF output (f32, f16, bf16, q8_0, q4_0, ...: what quantize writes)")
	arch := fs.String("arch", "deci", "general.architecture of a GGUF output: deci, or llama when every layer has the same KV heads")
	dt := fs.String("dtype", "", "weight type of a Hugging Face output: f32, f16 or bf16 (default: as stored when possible, else f32)")
	force := fs.Bool("force", false, "write into an output directory that already holds files (an input is never overwritten)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments %q", fs.Args())
	}
	if *out == "" {
		return usageError("-o OUT_DIR or -o OUT.gguf is required")
	}
	if len(lf.specs) == 0 {
		return usageError("--lora PATH[:SCALE] is required")
	}
	if err := lf.check(); err != nil {
		return err
	}
	toGGUF := strings.HasSuffix(strings.ToLower(*out), ".gguf")
	var want tensor.DType
	if toGGUF {
		d, err := tensor.ParseDType(*typ)
		if err != nil {
			return usageError("--type: %v", err)
		}
		want = d
		if *arch != "deci" && *arch != "llama" {
			return usageError("--arch must be deci or llama, have %q", *arch)
		}
		if *dt != "" {
			return usageError("--dtype is for a Hugging Face output; a GGUF output takes --type")
		}
	} else if *dt != "" {
		d, err := tensor.ParseDType(*dt)
		if err != nil || (d != tensor.F32 && d != tensor.F16 && d != tensor.BF16) {
			return usageError("--dtype must be f32, f16 or bf16")
		}
		want = d
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	inputs, err := modelInputs(path, *mf.tokenizer)
	if err != nil {
		return err
	}
	for _, s := range lf.specs {
		p, _, _ := lora.ParseSpec(s)
		more, err := modelInputs(p, "")
		if err != nil {
			return fmt.Errorf("--lora %s: %w", s, err)
		}
		inputs = append(inputs, more...)
	}

	if toGGUF {
		if err := atomicfile.CheckNotInput("-o", *out, inputs...); err != nil {
			return err
		}
		opts := mf.options("")
		opts.NoPack = true // the weights are read once
		m, err := decilm.Load(ctx, path, opts)
		if err != nil {
			return err
		}
		defer m.Close()
		if err := mergeAdapters(e, m.Net, lf); err != nil {
			return err
		}
		o := quantize.Options{Type: want, Arch: *arch, Name: strings.TrimSuffix(m.Name, filepath.Ext(m.Name)) + "-lora"}
		if src, ok := chat.JinjaSource(m.Template); ok {
			o.ChatTemplate = src
		}
		var bar *progress
		if !*quiet {
			bar = newProgress(e.stderr, "merge-lora "+want.String(), "B")
			o.Progress = bar.update
		}
		err = quantize.WriteFile(*out, m.Net, m.Tokenizer, o)
		if bar != nil {
			bar.finish()
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (%s, architecture %s)\n", *out, want, *arch)
		return nil
	}

	// The Hugging Face layout, as convert writes it.
	if err := atomicfile.CheckOutputDir("-o", *out, *force); err != nil {
		return err
	}
	m, toks, note, err := openForHF(ctx, path, *out, mf, inputs)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := mergeAdapters(e, m, lf); err != nil {
		return err
	}
	if *dt == "" { // the base's float type (quantized bases: f32), merged weights too
		want = tensor.F32
		if d := m.Embed.DType; d == tensor.F16 || d == tensor.BF16 {
			want = d
		}
	}
	if err := writeHF(m, *out, true, want); err != nil {
		return err
	}
	for _, tf := range toks {
		if err := atomicfile.WriteBytes(filepath.Join(*out, tf.name), tf.data, 0o644); err != nil {
			return err
		}
	}
	if note != "" {
		fmt.Fprintf(e.stderr, "merge-lora: %s\n", note)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// mergeAdapters loads every --lora adapter for m and merges it into m's weights.
func mergeAdapters(e *env, m *model.Model, lf *loraFlags) error {
	for _, s := range lf.specs {
		p, scale, _ := lora.ParseSpec(s)
		a, err := lora.Load(p, m.Config, scale)
		if err != nil {
			return fmt.Errorf("--lora %s: %w", s, err)
		}
		if err := m.MergeAdapter(a); err != nil {
			return fmt.Errorf("--lora %s: %w", s, err)
		}
		fmt.Fprintf(e.stderr, "merge-lora: merged %d updates of %s (scale %g)\n", a.Len(), p, scale)
	}
	return nil
}
