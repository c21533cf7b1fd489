package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/sample"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// genFlags are the generation flags run and chat share (llama.cpp / ollama names).
type genFlags struct {
	n                                           *int
	temp, topP, minP, repeat, freqPen, presence *float64
	topK, repeatLastN                           *int
	seed                                        *int64
	stop                                        stringList
	ignoreEOS, verbose                          *bool
	template                                    *string
}

func addGenFlags(fs *flag.FlagSet) *genFlags {
	g := &genFlags{
		n:           fs.Int("n", -1, "tokens to generate (-1: until end of sequence or the context is full)"),
		temp:        fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)"),
		topP:        fs.Float64("top-p", 0.95, "top-p (nucleus) sampling: keep the smallest set with this much probability (1: off)"),
		topK:        fs.Int("top-k", 40, "top-k sampling (0: off)"),
		minP:        fs.Float64("min-p", 0.05, "min-p sampling: drop tokens below this fraction of the top probability (0: off)"),
		repeat:      fs.Float64("repeat-penalty", 1.0, "penalty for repeating recent tokens (1: off)"),
		repeatLastN: fs.Int("repeat-last-n", 64, "how many recent tokens the penalties look at (-1: all)"),
		freqPen:     fs.Float64("frequency-penalty", 0, "OpenAI-style frequency penalty"),
		presence:    fs.Float64("presence-penalty", 0, "OpenAI-style presence penalty"),
		seed:        fs.Int64("seed", -1, "random seed (-1: a new one each run)"),
		ignoreEOS:   fs.Bool("ignore-eos", false, "keep generating past the end-of-sequence token"),
		verbose:     fs.Bool("verbose", false, "print timings and tokens/s to stderr"),
		template:    fs.String("template", "", "chat template: a built-in name (decilm-6b-instruct, decilm-7b-instruct, llama-2, plain) overriding the model's own"),
	}
	fs.IntVar(g.n, "num-predict", -1, "same as -n")
	fs.IntVar(g.n, "n-predict", -1, "same as -n")
	fs.Float64Var(g.temp, "temp", 0.8, "same as --temperature")
	fs.Var(&g.stop, "stop", "stop string (repeatable)")
	return g
}

// options converts the flags into generation options.
func (g *genFlags) options() (decilm.GenerateOptions, error) {
	seed := *g.seed
	if seed < 0 {
		seed = time.Now().UnixNano() & (1<<62 - 1)
	}
	o := decilm.GenerateOptions{
		Stop:      g.stop,
		IgnoreEOS: *g.ignoreEOS,
		Sampling: sample.Options{
			Temperature:      float32(*g.temp),
			TopK:             *g.topK,
			TopP:             float32(*g.topP),
			MinP:             float32(*g.minP),
			RepeatPenalty:    float32(*g.repeat),
			RepeatLastN:      *g.repeatLastN,
			FrequencyPenalty: float32(*g.freqPen),
			PresencePenalty:  float32(*g.presence),
			Seed:             uint64(seed),
		},
	}
	if *g.n > 0 {
		o.MaxTokens = *g.n
	}
	if err := o.Sampling.Validate(); err != nil {
		return o, usageError("%v", err)
	}
	return o, nil
}

// loadLM loads the -m model through the root package, showing progress on stderr while
// the weights are read in for large models.
func loadLM(ctx context.Context, e *env, mf *modelFlags, template string) (*decilm.Model, error) {
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return nil, err
	}
	m, err := decilm.Load(ctx, path, mf.options(template))
	if err != nil {
		return nil, err
	}
	if wb := m.Net.WeightBytes(); wb > 256<<20 {
		bar := newProgress(e.stderr, "loading "+m.Name, "B")
		if err := m.Net.Prefault(ctx, func(done, total int64) { bar.update(done, total) }); err != nil {
			m.Close()
			return nil, err
		}
		bar.finish()
	}
	return m, nil
}

// printStats writes llama.cpp-style timings.
func printStats(w io.Writer, res *decilm.Result) {
	pp := float64(res.PromptTokens) / max(res.PrefillTime.Seconds(), 1e-9)
	tg := float64(len(res.Tokens)) / max(res.GenerateTime.Seconds(), 1e-9)
	fmt.Fprintf(w, "\nprompt: %d tokens in %s (%.2f tokens/s)\n", res.PromptTokens, res.PrefillTime.Round(time.Microsecond), pp)
	fmt.Fprintf(w, "generated: %d tokens in %s (%.2f tokens/s), finish reason %s\n", len(res.Tokens), res.GenerateTime.Round(time.Microsecond), tg, res.FinishReason)
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
