package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
)

func init() {
	register(&command{name: "chat", summary: "talk with a model interactively (history, /commands, Ctrl-C stops an answer)", run: runChat})
}

const chatHelp = `Commands:
  /system TEXT     set the system prompt (and start over)
  /reset           forget the conversation
  /set KEY VALUE   change a setting: temperature, top-p, top-k, min-p, seed, n, repeat-penalty
  /show            print the settings
  /bye             quit (also Ctrl-D)
Ctrl-C stops the answer being written.
`

func runChat(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "chat", "[-m MODEL] [flags]")
	mf := addModelFlags(fs)
	g := addGenFlags(fs)
	system := fs.String("system", "", "system prompt: the system message of the chat template (Nemotron-NAS models: \"detailed thinking on\" or \"detailed thinking off\")")
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
	if fs.NArg() > 0 {
		return usageError("chat takes no arguments (got %q)", fs.Args())
	}
	opts, err := g.options()
	if err != nil {
		return err
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
	if c, n := *g.ctxSize, m.Net.Config.ContextLength(); c > n {
		return usageError("--ctx-size %d exceeds the model's context length %d", c, n)
	}
	draft, closeDraft, err := df.load(ctx, e, mf, m)
	if err != nil {
		return err
	}
	defer closeDraft()
	opts.Draft = draft

	intr := e.interrupt
	if intr == nil {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT)
		defer signal.Stop(ch)
		intr = ch
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	fmt.Fprintf(e.stdout, "decilm chat with %s (template %s). /help for commands, /bye to quit.\n", m.Name, m.Template.Name())
	var history []chat.Message
	for {
		fmt.Fprint(e.stdout, ">>> ")
		var line string
		select {
		case <-ctx.Done():
			fmt.Fprintln(e.stdout)
			return nil
		case <-intr:
			fmt.Fprintln(e.stdout, "\n(use /bye or Ctrl-D to quit)")
			continue
		case l, ok := <-lines:
			if !ok {
				fmt.Fprintln(e.stdout)
				return nil
			}
			line = strings.TrimSpace(l)
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "/") {
			quit, err := chatCommand(e.stdout, line, system, &history, &opts, g.n)
			if err != nil {
				fmt.Fprintln(e.stdout, err)
			}
			if quit {
				return nil
			}
			continue
		}
		history = append(history, chat.Message{Role: "user", Content: line})
		ctxLen := m.Net.Config.ContextLength()
		if *g.ctxSize > 0 {
			ctxLen = min(*g.ctxSize, ctxLen)
		}
		msgs := fitHistory(m, *system, history, opts.MaxTokens, ctxLen)
		o := opts
		room := true
		if ids, err := m.EncodeChat(msgs); err == nil {
			if room, err = g.fitContext(&o, len(ids), m.Net.Config.ContextLength()); err != nil {
				fmt.Fprintln(e.stdout, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
				history = history[:len(history)-1]
				continue
			}
		}
		genCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			select {
			case <-intr:
				cancel()
			case <-done:
			}
		}()
		var reply strings.Builder
		o.OnText = func(s string) error {
			reply.WriteString(s)
			_, err := io.WriteString(e.stdout, s)
			return err
		}
		var res *decilm.Result
		if *g.n == 0 || !room {
			res = &decilm.Result{FinishReason: "length"} // -n 0: no tokens, as in llama.cpp
		} else {
			res, err = m.Chat(genCtx, msgs, o)
		}
		close(done)
		cancel()
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() == nil:
			fmt.Fprintln(e.stdout, "\n[stopped]")
		case err != nil:
			return err
		default:
			fmt.Fprintln(e.stdout)
			if *g.verbose {
				printStats(e.stderr, res)
				printDraftStats(e.stderr, res)
			}
		}
		history = append(history, chat.Message{Role: "assistant", Content: strings.TrimSpace(reply.String())})
		opts.Sampling.Seed++ // a new draw for the next answer, still reproducible
	}
}

// fitHistory returns the messages to send: the system prompt and as many of the latest
// turns as fit ctxLen tokens with room for an answer.
func fitHistory(m *decilm.Model, system string, history []chat.Message, maxTokens, ctxLen int) []chat.Message {
	room := 128
	if maxTokens > 0 {
		room = maxTokens
	}
	limit := ctxLen - room
	for start := 0; start < len(history); start++ {
		var msgs []chat.Message
		if system != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: system})
		}
		msgs = append(msgs, history[start:]...)
		ids, err := m.EncodeChat(msgs)
		if err == nil && len(ids) <= limit {
			return msgs
		}
		if history[start].Role == "user" && start == len(history)-1 {
			return msgs // the question alone: let Generate report what does not fit
		}
	}
	return history[len(history)-1:]
}

// chatCommand runs a /command; it reports whether to quit. n is -n (llama.cpp's meaning:
// 0 no tokens, -1 until end of sequence), which /set n changes along with o.MaxTokens.
func chatCommand(w io.Writer, line string, system *string, history *[]chat.Message, o *decilm.GenerateOptions, n *int) (bool, error) {
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch cmd {
	case "/bye", "/exit", "/quit":
		return true, nil
	case "/help", "/?":
		fmt.Fprint(w, chatHelp)
	case "/reset", "/clear":
		*history = nil
		fmt.Fprintln(w, "conversation cleared")
	case "/system":
		*system = rest
		*history = nil
		fmt.Fprintln(w, "system prompt set; conversation cleared")
	case "/show":
		s := o.Sampling
		fmt.Fprintf(w, "temperature %g, top-p %g, top-k %d, min-p %g, repeat-penalty %g, seed %d, n %d\nsystem: %q\n",
			s.Temperature, s.TopP, s.TopK, s.MinP, s.RepeatPenalty, s.Seed, *n, *system)
	case "/set":
		key, val, ok := strings.Cut(rest, " ")
		if !ok {
			return false, errors.New("usage: /set KEY VALUE")
		}
		val = strings.TrimSpace(val)
		f, ferr := strconv.ParseFloat(val, 64)
		if ferr != nil {
			return false, fmt.Errorf("/set %s: %q is not a number", key, val)
		}
		next, nextN := *o, *n
		switch key {
		case "temperature", "temp":
			next.Sampling.Temperature = float32(f)
		case "top-p", "top_p":
			next.Sampling.TopP = float32(f)
		case "top-k", "top_k":
			next.Sampling.TopK = int(f)
		case "min-p", "min_p":
			next.Sampling.MinP = float32(f)
		case "repeat-penalty", "repeat_penalty":
			next.Sampling.RepeatPenalty = float32(f)
		case "seed":
			next.Sampling.Seed = uint64(f)
		case "n", "num-predict":
			if f != math.Trunc(f) || f < -1 {
				return false, fmt.Errorf("/set n: want a count >= 0 or -1 (until end of sequence), have %s", val)
			}
			nextN = int(f)
			next.MaxTokens = maxTokens(nextN)
		default:
			return false, fmt.Errorf("/set: unknown setting %q", key)
		}
		if err := checkSampling(next.Sampling, "/set "); err != nil {
			return false, err
		}
		*o, *n = next, nextN
		fmt.Fprintf(w, "%s = %s\n", key, val)
	default:
		return false, fmt.Errorf("unknown command %s (/help lists them)", cmd)
	}
	return false, nil
}
