package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
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
	ctxSize                                     *int
	cacheType                                   cacheTypeFlag
}

func addGenFlags(fs *flag.FlagSet) *genFlags {
	g := &genFlags{
		n:           fs.Int("n", -1, "tokens to generate, as in llama.cpp: 0 generates nothing, -1 (or -2) until end of sequence or the context is full"),
		temp:        fs.Float64("temperature", 0.8, "sampling temperature (0: greedy)"),
		topP:        fs.Float64("top-p", 0.95, "top-p (nucleus) sampling: keep the smallest set of likeliest tokens with this much probability (0 or 1: off)"),
		topK:        fs.Int("top-k", 40, "top-k sampling (0: off)"),
		minP:        fs.Float64("min-p", 0.05, "min-p sampling: drop tokens below this fraction of the top probability (0: off)"),
		repeat:      fs.Float64("repeat-penalty", 1.0, "divide positive (multiply negative) logits of the tokens among the last --repeat-last-n (0 or 1: off)"),
		repeatLastN: fs.Int("repeat-last-n", 64, "how many recent tokens the three penalties look at (0: the default 64, -1: all)"),
		freqPen:     fs.Float64("frequency-penalty", 0, "subtract this from a token's logit per occurrence among the last --repeat-last-n (OpenAI's frequency_penalty; 0: off)"),
		presence:    fs.Float64("presence-penalty", 0, "subtract this from the logit of every token among the last --repeat-last-n (OpenAI's presence_penalty; 0: off)"),
		seed:        fs.Int64("seed", -1, "random seed (-1: a new one each run)"),
		ignoreEOS:   fs.Bool("ignore-eos", false, "keep generating past the end-of-sequence token"),
		verbose:     fs.Bool("verbose", false, "print timings and tokens/s to stderr (run: the model, template and seed too)"),
		template:    fs.String("template", "", templateHelp()),
	}
	fs.IntVar(g.n, "num-predict", -1, "same as -n")
	fs.IntVar(g.n, "n-predict", -1, "same as -n")
	fs.IntVar(g.n, "predict", -1, "same as -n")
	fs.Float64Var(g.temp, "temp", 0.8, "same as --temperature")
	fs.Int64Var(g.seed, "s", -1, "same as --seed")
	g.ctxSize = fs.Int("ctx-size", 0, "most tokens of prompt plus generated text (0: the model's context length)")
	fs.IntVar(g.ctxSize, "c", 0, "same as --ctx-size")
	fs.Var(&g.stop, "stop", "stop string (repeatable): generation ends where one appears, which is not printed")
	g.cacheType = addCacheTypeFlag(fs)
	return g
}

// templateHelp is the help of a --template flag: what it accepts (decilm.Options.Template).
func templateHelp() string {
	return "chat template overriding the model's own: a built-in name (" + strings.Join(chat.Names(), ", ") +
		`; "auto" or empty: the model's own) or a Jinja file (a name ending in .jinja or any path with a "/"; tool calling in serve needs one that shows tools)`
}

// options converts the flags into generation options. -n and MaxTokens share one rule
// (0: nothing; the CLI does not call Generate then, see none).
func (g *genFlags) options() (decilm.GenerateOptions, error) {
	if *g.n < -2 {
		return decilm.GenerateOptions{}, usageError("-n must be a count >= 0 or -1 (until end of sequence or the context is full), have %d", *g.n)
	}
	if *g.ctxSize < 0 {
		return decilm.GenerateOptions{}, usageError("--ctx-size must be >= 0 (0: the model's context length), have %d", *g.ctxSize)
	}
	ct, err := g.cacheType.get(nil)
	if err != nil {
		return decilm.GenerateOptions{}, err
	}
	seed := *g.seed
	if seed < 0 {
		seed = time.Now().UnixNano() & (1<<62 - 1)
	}
	o := decilm.GenerateOptions{
		MaxTokens: maxTokens(*g.n),
		Stop:      g.stop,
		IgnoreEOS: *g.ignoreEOS,
		CacheType: ct,
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
	if err := checkSampling(o.Sampling, "--"); err != nil {
		return o, usageError("%v", err)
	}
	return o, nil
}

// none reports whether -n 0 asks for no tokens at all.
func (g *genFlags) none() bool { return *g.n == 0 }

// maxTokens maps llama.cpp's -n onto GenerateOptions.MaxTokens, which follows the same
// rule (n > 0: that many tokens; 0: none; -1 or -2: until end of sequence or the context
// is full).
func maxTokens(n int) int {
	if n < 0 {
		return -1
	}
	return n
}

// fitContext applies the context (--ctx-size, or the model's context length) to a prompt
// of promptLen tokens: an error when the prompt does not fit --ctx-size, else MaxTokens
// bounded by the room left, so that, as in llama.cpp, -n past the context stops at its
// end. It reports whether room is left. A prompt that does not fit the model's own
// context is left for Generate to report.
func (g *genFlags) fitContext(o *decilm.GenerateOptions, promptLen, modelCtx int) (bool, error) {
	c := *g.ctxSize
	switch {
	case c > modelCtx:
		return false, usageError("--ctx-size %d exceeds the model's context length %d", c, modelCtx)
	case c > 0 && promptLen > c:
		return false, usageError("the prompt has %d tokens, more than --ctx-size %d", promptLen, c)
	case c == 0:
		c = modelCtx
		if promptLen >= c {
			return true, nil
		}
	}
	room := c - promptLen
	if o.MaxTokens < 0 || o.MaxTokens > room {
		o.MaxTokens = room
	}
	return room > 0, nil
}

// checkSampling validates sampling options the way sample.Options.Validate does, but names
// each option as the user wrote it: prefix + flag name ("--top-p" for a flag, "top-p" for
// chat's /set).
func checkSampling(s sample.Options, prefix string) error {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	bad := func(name string, v any, want string) error {
		return fmt.Errorf("%s%s must be %s, have %v", prefix, name, want, v)
	}
	switch {
	case !finite(s.Temperature) || s.Temperature < 0:
		return bad("temperature", s.Temperature, "a number >= 0 (0: greedy)")
	case s.TopK < 0:
		return bad("top-k", s.TopK, ">= 0 (0: off)")
	case !(s.TopP >= 0 && s.TopP <= 1):
		return bad("top-p", s.TopP, "in [0, 1] (1: off)")
	case !(s.MinP >= 0 && s.MinP <= 1):
		return bad("min-p", s.MinP, "in [0, 1] (0: off)")
	case !finite(s.RepeatPenalty) || s.RepeatPenalty < 0:
		return bad("repeat-penalty", s.RepeatPenalty, "a number >= 0 (1: off)")
	case s.RepeatLastN < -1:
		return bad("repeat-last-n", s.RepeatLastN, ">= -1 (-1: all)")
	case !finite(s.FrequencyPenalty):
		return bad("frequency-penalty", s.FrequencyPenalty, "a finite number")
	case !finite(s.PresencePenalty):
		return bad("presence-penalty", s.PresencePenalty, "a finite number")
	}
	// Anything the flags cannot express (logit bias) is the sampler's to check.
	return s.Validate()
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
