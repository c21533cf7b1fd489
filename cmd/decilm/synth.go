package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/decilm/decilm/synth"
)

func init() {
	register(&command{name: "synth", summary: "write a random-weight DeciLM, Nemotron-NAS or Llama checkpoint for tests and benchmarks", run: runSynth})
}

func runSynth(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "synth", "--preset NAME [--seed N] [--layers N] [--blocks LIST] [--tokenizer PATH] OUT_DIR")
	preset := fs.String("preset", "tiny", "shape: "+strings.Join(synth.PresetNames(), ", "))
	seed := fs.Uint64("seed", 1234, "seed of the weights")
	tok := fs.String("tokenizer", "", "copy this tokenizer (a tokenizer.model or a directory with tokenizer files) into OUT_DIR")
	layers := fs.Int("layers", 0, "keep only the first N layers (0: all)")
	blocks := fs.String("blocks", "", `Nemotron-NAS layers instead of the preset's, one ATTN/FFN word each: ATTN gN (grouped, n_heads_in_group N), L (linear) or - (skipped); FFN an ffn_mult, L or - (e.g. "g8/2.625 -/1.3125 L/L")`)
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("want exactly one OUT_DIR argument")
	}
	p, ok := synth.Presets[*preset]
	if !ok {
		return usageError("unknown preset %q (have %s)", *preset, strings.Join(synth.PresetNames(), ", "))
	}
	if *blocks != "" {
		b, err := synth.ParseBlocks(*blocks)
		if err != nil {
			return usageError("--blocks: %v", err)
		}
		for i, x := range b {
			if x.HeadsInGroup > 0 && p.Heads%x.HeadsInGroup != 0 {
				return usageError("--blocks: block %d: n_heads_in_group %d does not divide the preset's %d heads", i, x.HeadsInGroup, p.Heads)
			}
		}
		p.Blocks, p.Layers, p.KVHeads, p.Llama = b, len(b), nil, false
	}
	if *layers < 0 || *layers > p.Layers {
		return usageError("--layers must be between 0 (all) and the preset's %d layers, have %d", p.Layers, *layers)
	}
	p = p.FirstLayers(*layers)
	var bar *progress
	if !*quiet {
		bar = newProgress(e.stderr, "synth "+p.Name, "B")
	}
	err := p.Write(fs.Arg(0), *seed, *tok, func(done, total int64) {
		if bar != nil {
			bar.update(done, total)
		}
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%s preset, seed %d)\n", fs.Arg(0), p.Name, *seed)
	return nil
}
