package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/model"
)

func init() {
	register(&command{name: "logits", summary: "write the logits of a token sequence as float32", run: runLogits})
}

// parseTokens reads a comma- or space-separated list of token ids.
func parseTokens(s string) ([]int, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) == 0 {
		return nil, fmt.Errorf("no token ids in %q", s)
	}
	ids := make([]int, len(f))
	for i, x := range f {
		n, err := strconv.Atoi(x)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("token %d: %q is not a token id", i, x)
		}
		ids[i] = n
	}
	return ids, nil
}

func runLogits(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "logits", "[-m MODEL] --tokens 1,450,4996 -o out.f32")
	mf := addModelFlags(fs)
	toks := fs.String("tokens", "", "comma-separated token ids (fed as given: include BOS yourself)")
	out := fs.String("o", "", "output file: float32 little-endian logits, row-major [n_tokens, vocab]")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *toks == "" || *out == "" {
		return usageError("--tokens and -o are required")
	}
	ids, err := parseTokens(*toks)
	if err != nil {
		return usageError("--tokens: %v", err)
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	if err := checkOutputFile("-o", *out, path, *mf.tokenizer); err != nil {
		return err
	}
	m, err := mf.load(ctx, e)
	if err != nil {
		return err
	}
	defer m.Close()
	if n := m.Config.ContextLength(); len(ids) > n {
		return usageError("--tokens: %d tokens, but the model takes at most %d positions", len(ids), n)
	}
	for i, id := range ids {
		if id >= m.Config.Vocab {
			return usageError("--tokens: token %d is id %d, but the vocabulary has %d ids (0 to %d)", i, id, m.Config.Vocab, m.Config.Vocab-1)
		}
	}
	c := model.NewCache(m.Config, len(ids))
	var b model.Batch
	for p, t := range ids {
		b.Add(0, p, t, true)
	}
	logits, err := m.Forward(&b, c)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(*out, 0o644, func(w io.Writer) error {
		var buf [4]byte
		for _, v := range logits {
			binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
			if _, err := w.Write(buf[:]); err != nil {
				return err
			}
		}
		return nil
	})
}
