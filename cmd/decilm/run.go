package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
)

func init() {
	register(&command{name: "run", summary: "generate text from a prompt, streaming it", run: runRun})
}

func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "[-m MODEL] [flags] [PROMPT]\n\nThe prompt is the arguments, or standard input when there are none and it is not a terminal.\nFor models with a chat template (instruct models) the prompt is formatted as a user message unless --raw is given.")
	mf := addModelFlags(fs)
	g := addGenFlags(fs)
	raw := fs.Bool("raw", false, "complete the prompt as plain text, without the chat template")
	system := fs.String("system", "", "system prompt: the system message of the chat template (Nemotron-NAS models: \"detailed thinking on\" or \"detailed thinking off\")")
	toks := fs.String("tokens", "", "prompt as comma-separated token ids (fed as given) instead of text")
	ids := fs.Bool("ids", false, "print the generated token ids (space-separated) instead of text")
	noBOS := fs.Bool("no-bos", false, "do not start a text prompt with BOS")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	opts, err := g.options()
	if err != nil {
		return err
	}
	prompt := strings.Join(fs.Args(), " ")
	if fs.NArg() == 0 && *toks == "" && e.stdin != nil && !isTerminal(e.stdin) {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return err
		}
		prompt = string(b)
	}
	m, err := loadLM(ctx, e, mf, *g.template)
	if err != nil {
		return err
	}
	defer m.Close()
	out := bufio.NewWriter(e.stdout)
	defer out.Flush()
	var res *decilm.Result
	if *ids {
		first := true
		opts.OnToken = func(id int) error {
			if !first {
				out.WriteByte(' ')
			}
			first = false
			fmt.Fprint(out, id)
			return nil
		}
	} else {
		opts.OnText = func(s string) error {
			out.WriteString(s)
			return out.Flush()
		}
	}
	if *noBOS {
		f := false
		opts.AddBOS = &f
	}
	switch {
	case *toks != "":
		p, err := parseTokens(*toks)
		if err != nil {
			return usageError("--tokens: %v", err)
		}
		res, err = m.GenerateTokens(ctx, p, opts)
		if err != nil {
			return err
		}
	case prompt != "" && !*raw && m.Template.Name() != "plain":
		msgs := []chat.Message{}
		if *system != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: *system})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: prompt})
		if res, err = m.Chat(ctx, msgs, opts); err != nil {
			return err
		}
	case *system != "":
		return usageError("--system needs a chat template, but the prompt is completed as plain text (--raw, or the model's template is %q: pass --template)", m.Template.Name())
	default:
		if res, err = m.Generate(ctx, prompt, opts); err != nil {
			return err
		}
	}
	out.WriteByte('\n')
	out.Flush()
	if *g.verbose {
		fmt.Fprintf(e.stderr, "model %s, template %s, seed %d", m.Name, m.Template.Name(), opts.Sampling.Seed)
		printStats(e.stderr, res)
	}
	return nil
}
