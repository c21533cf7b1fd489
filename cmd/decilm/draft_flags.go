package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/decilm/decilm"
)

// draftFlags are the speculative-decoding flags of run, chat and bench (llama.cpp's -md,
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
	if *d.max < 1 {
		return usageError("--draft-max %d: must be at least 1", *d.max)
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
