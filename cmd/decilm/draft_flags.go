package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/bench"
)

// draftFlags are the speculative-decoding flags of run, chat, bench and serve (llama.cpp's -md,
// --lookup and --draft-max).
type draftFlags struct {
	model, kind *string
	max         *int
}

func addDraftFlags(fs *flag.FlagSet) *draftFlags {
	d := &draftFlags{
		model: fs.String("draft-model", "", "speculative decoding with a draft model: a checkpoint with the same vocabulary, or self:q4_0 (self:q8_0, ...) for the model's own weights quantized in memory"),
		kind:  fs.String("draft", "", "speculative decoding without a second model: ngram (prompt lookup: tokens that followed the context's last tokens earlier in it)"),
		max:   fs.Int("draft-max", decilm.DefaultDraftMax, "most tokens drafted per step (the length adapts to the acceptance rate below this)"),
	}
	fs.StringVar(d.model, "md", "", "same as --draft-model")
	return d
}

// check validates the flags before anything is loaded.
func (d *draftFlags) check() error {
	if *d.kind != "" && *d.kind != "ngram" {
		return usageError("--draft %q: the only drafting without a model is ngram", *d.kind)
	}
	if *d.max < 1 || *d.max > 256 {
		return usageError("--draft-max %d: must be 1 to 256", *d.max)
	}
	return nil
}

// on reports whether speculative decoding was asked for.
func (d *draftFlags) on() bool { return *d.model != "" || *d.kind != "" }

// load prepares the Draft the flags ask for (nil when none), loading or building the draft
// model for target; close releases it.
func (d *draftFlags) load(ctx context.Context, e *env, mf *modelFlags, target *decilm.Model) (dr *decilm.Draft, close func(), err error) {
	close = func() {}
	if !d.on() {
		return nil, close, nil
	}
	dr = &decilm.Draft{NGram: *d.kind == "ngram", Max: *d.max}
	if *d.model != "" {
		spec := *d.model
		if !isSelfDraft(spec) {
			if spec, err = resolveModelRef(ctx, e, spec, *mf.pull); err != nil {
				return nil, close, fmt.Errorf("--draft-model: %w", err)
			}
		}
		dm, err := decilm.LoadDraft(ctx, target, spec, mf.options(""))
		if err != nil {
			return nil, close, fmt.Errorf("--draft-model %s: %w", *d.model, err)
		}
		dr.Model = dm
		close = func() { dm.Close() }
	}
	return dr, close, nil
}

func isSelfDraft(spec string) bool { return strings.HasPrefix(spec, "self:") }

// printDraftStats writes the drafted and accepted counts of a speculative generation.
func printDraftStats(w io.Writer, res *decilm.Result) {
	if res == nil || res.Drafted == 0 {
		return
	}
	fmt.Fprintf(w, "speculative: %d drafted, %d accepted (%.1f%%)\n", res.Drafted, res.Accepted, 100*float64(res.Accepted)/float64(res.Drafted))
}

// benchDraft measures greedy generation of gen tokens after a prompt of the first
// promptLen tokens of text (the built-in sample when ""; all of it that fits with gen
// tokens after it when promptLen is 0), without and then with the draft
// the flags ask for: two bench records, the second with its acceptance rate.
func benchDraft(ctx context.Context, e *env, mf *modelFlags, df *draftFlags, m *decilm.Model, info bench.ModelInfo, text string, promptLen, gen, reps int, prog io.Writer) ([]bench.Record, error) {
	if gen < 1 {
		return nil, usageError("--draft-model and --draft measure generation: -n must be at least 1")
	}
	if text == "" {
		text = bench.SampleText
	}
	prompt := m.Encode(text, nil)
	if promptLen > 0 && promptLen < len(prompt) {
		prompt = prompt[:promptLen]
	}
	if room := m.Net.Config.ContextLength() - gen; len(prompt) > room {
		if room < 1 {
			return nil, usageError("-n %d leaves no room for a prompt in the context of %d tokens", gen, m.Net.Config.ContextLength())
		}
		prompt = prompt[:room]
	}
	draft, closeDraft, err := df.load(ctx, e, mf, m)
	if err != nil {
		return nil, err
	}
	defer closeDraft()
	name := fmt.Sprintf("tg%d text", gen)
	var recs []bench.Record
	for _, d := range []*decilm.Draft{nil, draft} {
		test := name
		if d != nil {
			test += " +" + df.describe()
		}
		rec, err := bench.Generation(ctx, m.Net, bench.GenOptions{Test: test, Prompt: len(prompt), Gen: gen, Reps: reps, Model: info, Progress: prog},
			func(ctx context.Context) (bench.GenRun, error) {
				res, err := m.GenerateTokens(ctx, prompt, decilm.GenerateOptions{MaxTokens: gen, IgnoreEOS: true, Draft: d})
				if err != nil {
					return bench.GenRun{}, err
				}
				return bench.GenRun{Tokens: len(res.Tokens), Time: res.GenerateTime, Drafted: res.Drafted, Accepted: res.Accepted}, nil
			})
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// describe names the drafter in bench records: "self:q4_0", "ngram", "ngram+draft.gguf".
func (d *draftFlags) describe() string {
	var parts []string
	if *d.kind != "" {
		parts = append(parts, *d.kind)
	}
	if *d.model != "" {
		parts = append(parts, filepath.Base(*d.model))
	}
	return strings.Join(parts, "+")
}
