package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/quantize"
)

func init() {
	register(&command{name: "quantize", summary: "write a model as a GGUF file llama.cpp loads (f16, q8_0, q4_k_m, q5_k_m, iq4_xs, ...; --imatrix)", run: runQuantize})
}

func runQuantize(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "quantize", "-m MODEL --type q4_k_m|q5_k_m|q6_k|iq4_xs|q8_0|f16|... -o OUT.gguf [--imatrix FILE] [flags]")
	mf := addModelFlags(fs)
	typ := fs.String("type", "q8_0", "file type, as llama-quantize names them: "+strings.Join(quantize.FileTypeNames(), ", ")+" (q3_k, q4_k, q5_k: the _m types)")
	out := fs.String("o", "", "output GGUF file")
	arch := fs.String("arch", "deci", "general.architecture: deci, or llama when every layer has the same KV heads")
	outType := fs.String("output-tensor-type", "", "type of the output projection (default: llama-quantize's choice, q6_k in quantized files)")
	fs.StringVar(outType, "output-type", "", "same as --output-tensor-type")
	embType := fs.String("token-embedding-type", "", "type of the token embedding (default: the file type's)")
	imatrix := fs.String("imatrix", "", "importance matrix (llama.cpp's GGUF imatrix or legacy .dat file, or decilm imatrix's) to weigh the quantization error by")
	pure := fs.Bool("pure", false, "every matrix in the file type's base type, without llama-quantize's per-tensor mix")
	name := fs.String("name", "", "general.name (default: the model's name)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError("-o OUT.gguf is required")
	}
	ft, err := quantize.ParseFileType(*typ)
	if err != nil {
		return usageError("--type: %v", err)
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
	o := quantize.Options{FileType: ft.Name, Arch: *arch, OutputType: *outType, TokenEmbeddingType: *embType, Pure: *pure, Name: *name}
	if *imatrix != "" {
		im, err := quantize.ReadImatrix(*imatrix)
		if err != nil {
			return err
		}
		o.Importance = im.Importance()
	}
	opts := mf.options("")
	opts.NoPack = true // the weights are read once
	m, err := decilm.Load(ctx, path, opts)
	if err != nil {
		return err
	}
	defer m.Close()
	net, tok, mname := m.Net, m.Tokenizer, m.Name
	if src, ok := chat.JinjaSource(m.Template); ok {
		o.ChatTemplate = src
	}
	if o.Name == "" {
		o.Name = strings.TrimSuffix(mname, filepath.Ext(mname))
	}
	types, err := quantize.TensorTypes(net, o)
	if err != nil {
		return err
	}
	if o.Importance != nil {
		var missing []string
		for n, t := range types {
			if _, ok := o.Importance[n]; !ok && t.Quantized() && n != "token_embd.weight" && n != "output.weight" {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			fmt.Fprintf(e.stderr, "quantize: the importance matrix has no entry for %d matrices (first: %s); they are quantized without one\n", len(missing), missing[0])
		}
	}
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "quantize "+ft.Name, "B")
		o.Progress = bar.update
	}
	err = quantize.WriteFile(*out, net, tok, o)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s, architecture %s; matrices %s)\n", *out, ft.Name, *arch, quantize.TypeCounts(types))
	return nil
}
