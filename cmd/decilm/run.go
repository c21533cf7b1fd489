package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
)

func init() {
	register(&command{name: "run", summary: "generate text from a prompt, streaming it", run: runRun})
}

func runRun(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "run", "[-m MODEL] [flags] [PROMPT]\n\nThe prompt is the arguments, -p, the file -f names, or standard input when there is none of these and it is not a terminal.\nFor models with a chat template (instruct models) the prompt is formatted as a user message unless --raw is given.")
	mf := addModelFlags(fs)
	g := addGenFlags(fs)
	raw := fs.Bool("raw", false, "complete the prompt as plain text, without the chat template")
	system := fs.String("system", "", "system prompt: the system message of the chat template (Nemotron-NAS models: \"detailed thinking on\" or \"detailed thinking off\")")
	toks := fs.String("tokens", "", "prompt as comma-separated token ids (fed as given) instead of text")
	ids := fs.Bool("ids", false, "print the generated token ids (space-separated) instead of text")
	noBOS := fs.Bool("no-bos", false, "do not start a text prompt with BOS")
	promptFlag := fs.String("p", "", "the prompt (instead of the arguments)")
	fs.StringVar(promptFlag, "prompt", "", "same as -p")
	file := fs.String("f", "", "read the prompt from this file")
	fs.StringVar(file, "file", "", "same as -f")
	df := addDraftFlags(fs)
	lf := addLoRAFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := df.check(); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	opts, err := g.options()
	if err != nil {
		return err
	}
	sources := 0
	for _, given := range []bool{fs.NArg() > 0, *promptFlag != "", *file != "", *toks != ""} {
		if given {
			sources++
		}
	}
	if sources > 1 {
		return usageError("give the prompt one way: arguments, -p, -f or --tokens")
	}
	prompt := strings.Join(fs.Args(), " ")
	switch {
	case *promptFlag != "":
		prompt = *promptFlag
	case *file != "":
		b, err := os.ReadFile(*file)
		if err != nil {
			return usageError("-f: %v", err)
		}
		prompt = string(b)
	case fs.NArg() == 0 && *toks == "" && e.stdin != nil && !isTerminal(e.stdin):
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
	if err := lf.apply(m); err != nil {
		return err
	}
	if _, err := g.cacheType.get(m.Net.Config); err != nil {
		return err
	}
	draft, closeDraft, err := df.load(ctx, e, mf, m)
	if err != nil {
		return err
	}
	defer closeDraft()
	opts.Draft = draft
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
	// The prompt's tokens, as Generate and Chat make them.
	var promptIDs []int
	switch {
	case *toks != "":
		if promptIDs, err = parseTokens(*toks); err != nil {
			return usageError("--tokens: %v", err)
		}
	case prompt != "" && !*raw && m.Template.Name() != "plain":
		var msgs []chat.Message
		if *system != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: *system})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: prompt})
		if promptIDs, err = m.EncodeChat(msgs); err != nil {
			return err
		}
	case *system != "":
		return usageError("--system needs a chat template, but the prompt is completed as plain text (--raw, or the model's template is %q: pass --template)", m.Template.Name())
	default:
		if promptIDs = m.Encode(prompt, opts.AddBOS); len(promptIDs) == 0 {
			promptIDs = []int{max(m.Net.Config.BOS, 0)} // an empty prompt starts from BOS alone
		}
	}
	room, err := g.fitContext(&opts, len(promptIDs), m.Net.Config.ContextLength())
	if err != nil {
		return err
	}
	if g.none() || !room {
		// -n 0 (or a prompt that fills --ctx-size): nothing to generate, as in llama.cpp.
		res = &decilm.Result{PromptTokens: len(promptIDs), FinishReason: "length"}
	} else if res, err = m.GenerateTokens(ctx, promptIDs, opts); err != nil {
		return err
	}
	out.WriteByte('\n')
	out.Flush()
	if *g.verbose {
		fmt.Fprintf(e.stderr, "model %s, template %s, seed %d", m.Name, m.Template.Name(), opts.Sampling.Seed)
		printStats(e.stderr, res)
		printDraftStats(e.stderr, res)
	}
	return nil
}
