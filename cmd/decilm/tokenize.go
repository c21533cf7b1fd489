package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/decilm/decilm/tokenizer"
)

func init() {
	register(&command{name: "tokenize", summary: "print the token ids of standard input", run: runTokenize})
}

// runTokenize reads standard input as raw bytes (nothing stripped) and prints its token ids,
// separated by single spaces, on one line.
func runTokenize(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "tokenize", "-m PATH [--no-bos] [--special] < text")
	model := fs.String("m", "", "model `PATH`: a model directory or a tokenizer file (tokenizer.model, tokenizer.json, tokenizer.bin, .gguf)")
	fs.StringVar(model, "model", "", "same as -m")
	noBOS := fs.Bool("no-bos", false, "do not start with the BOS token (added by default when tokenizer_config.json says so, as for Llama)")
	special := fs.Bool("special", false, "recognise special tokens such as <s> and </s> in the text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return usageError("-m (or --model) is required")
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (the text is read from standard input)", fs.Arg(0))
	}
	tok, err := tokenizer.Load(*model)
	if err != nil {
		return err
	}
	data, err := io.ReadAll(e.stdin)
	if err != nil {
		return fmt.Errorf("reading standard input: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o := tok.DefaultOptions()
	if *noBOS {
		o.AddBOS = false
	}
	o.ParseSpecial = *special
	ids := tok.Encode(string(data), o)
	w := bufio.NewWriter(e.stdout)
	var buf []byte
	for i, id := range ids {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, int64(id), 10)
		w.Write(buf)
	}
	w.WriteByte('\n')
	return w.Flush()
}
