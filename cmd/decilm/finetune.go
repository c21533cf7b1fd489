package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/train"
)

func init() {
	register(&command{name: "finetune", summary: "train a LoRA adapter on JSONL data (PEFT layout; checkpoints, --resume, loss curve)", run: runFinetune})
}

// loraTargets are the module names --target accepts (PEFT's names; linear_attn and
// linear_mlp are the single linear maps of Nemotron-NAS blocks).
var loraTargets = model.ProjModules()

// newTrainable makes the frozen model m with LoRA adapters as cfg says, A drawn from seed.
//
// newTrainable puts LoRA parameters on m: the train package's forward and backward pass
// over the frozen model.
func newTrainable(m *model.Model, cfg finetune.LoRAConfig, seed uint64) (finetune.Trainable, error) {
	net, err := train.New(m, train.LoRAConfig(cfg), seed)
	if err != nil {
		return nil, err
	}
	return finetune.Wrap(net), nil
}

// trainable is newTrainable; tests put a model with known gradients in its place.
var trainable = newTrainable

// finetuneState are the flags a checkpoint records so that --resume needs no others.
var finetuneState = []string{"m", "tokenizer", "template", "data", "eval-data", "format", "seq-len",
	"lora-r", "lora-alpha", "rslora", "target", "epochs", "lr", "min-lr", "warmup-ratio", "batch",
	"grad-accum", "max-grad-norm", "weight-decay", "seed", "save-every", "activation-checkpointing"}

func runFinetune(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "finetune", "-m MODEL --data TRAIN.jsonl --out DIR [flags]\n       decilm finetune --resume DIR [flags]\n\n"+
		"Trains a LoRA adapter and writes it to DIR in Hugging Face PEFT's layout (adapter_config.json,\n"+
		"adapter_model.safetensors), with checkpoint.safetensors and the loss curve (loss.csv, loss.png).\n"+
		"Ctrl-C saves a checkpoint and stops; --resume DIR continues it exactly.")
	mf := addModelFlags(fs)
	template := fs.String("template", "", "chat template for --format orca|chat (default: the model's own)")
	data := fs.String("data", "", "training data, one JSON object a line")
	evalData := fs.String("eval-data", "", "held-out data in the same format: its mean loss is measured before training and after each epoch")
	format := fs.String("format", finetune.FormatOrca, "data format: orca (system_prompt/question/response, or input.messages + preferred_output: loss on the response), chat (messages: loss on assistant turns), text (text: loss on every token)")
	seqLen := fs.Int("seq-len", 512, "most tokens in an example; longer rows are left out (and counted), never cut")
	r := fs.Int("lora-r", 16, "LoRA rank")
	alpha := fs.Float64("lora-alpha", 32, "LoRA alpha: the update is scaled by alpha/r")
	rslora := fs.Bool("rslora", false, "scale by alpha/sqrt(r) (rank-stabilised LoRA)")
	targets := fs.String("target", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", "comma-separated modules that get adapters: "+strings.Join(loraTargets, ", "))
	h := finetune.DefaultHyper()
	fs.IntVar(&h.Epochs, "epochs", h.Epochs, "passes over the training data")
	fs.Float64Var(&h.LR, "lr", h.LR, "peak learning rate (AdamW)")
	fs.Float64Var(&h.MinLR, "min-lr", h.MinLR, "learning rate the cosine decays to")
	fs.Float64Var(&h.WarmupRatio, "warmup-ratio", h.WarmupRatio, "share of the optimiser steps spent in the linear warm-up")
	fs.IntVar(&h.Batch, "batch", h.Batch, "examples per forward/backward pass")
	fs.IntVar(&h.GradAccum, "grad-accum", h.GradAccum, "passes whose gradients are summed into one optimiser step")
	fs.Float64Var(&h.MaxGradNorm, "max-grad-norm", h.MaxGradNorm, "clip the gradients' global norm to this (0: no clipping)")
	fs.Float64Var(&h.WeightDecay, "weight-decay", h.WeightDecay, "AdamW's decoupled weight decay")
	fs.Uint64Var(&h.Seed, "seed", 0, "seed of the adapter's initial values and of the data order")
	saveEvery := fs.Int("save-every", 100, "write a checkpoint every N optimiser steps (0: only on Ctrl-C and at the end)")
	ckpt := fs.Bool("activation-checkpointing", true, "recompute each layer's activations in the backward pass instead of keeping them (less memory, more time)")
	out := fs.String("out", "", "output directory: new or empty (see --force); with --resume, default the resumed directory")
	resume := fs.String("resume", "", "continue the run whose checkpoint is in this directory (its flags are the defaults)")
	force := fs.Bool("force", false, "write into an output directory that already holds files")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("finetune takes no arguments (got %q)", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var ck *finetune.Checkpoint
	if *resume != "" {
		var err error
		if ck, err = finetune.ReadCheckpoint(filepath.Join(*resume, finetune.CheckpointFile)); err != nil {
			return err
		}
		for _, name := range finetuneState {
			v, ok := ck.Args[name]
			if !ok || set[name] {
				continue
			}
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: flag --%s %q: %v", *resume, name, v, err)
			}
		}
		if *out == "" {
			*out = *resume
		}
	}
	switch {
	case *data == "":
		return usageError("--data is required")
	case *out == "":
		return usageError("--out is required")
	case !slices.Contains(finetune.Formats, *format):
		return usageError("--format %q: want %s", *format, strings.Join(finetune.Formats, ", "))
	case *seqLen < 2:
		return usageError("--seq-len %d: want at least 2", *seqLen)
	case *r < 1 || *r > 4096:
		return usageError("--lora-r %d outside 1..4096", *r)
	case !(*alpha > 0 && *alpha < 1e6):
		return usageError("--lora-alpha %g: want a positive number", *alpha)
	case *saveEvery < 0:
		return usageError("--save-every %d is negative", *saveEvery)
	}
	if err := h.Check(); err != nil {
		return usageError("%v", err)
	}
	cfg := finetune.LoRAConfig{R: *r, Alpha: *alpha, RSLoRA: *rslora}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if !slices.Contains(loraTargets, t) {
			return usageError("--target %q: unknown module; want some of %s", t, strings.Join(loraTargets, ", "))
		}
		if !slices.Contains(cfg.Targets, t) {
			cfg.Targets = append(cfg.Targets, t)
		}
	}
	sameDir := false
	if *resume != "" {
		var err error
		if sameDir, err = atomicfile.SameFile(*resume, *out); err != nil {
			return err
		}
	}
	if err := atomicfile.CheckOutputDir("--out", *out, *force || sameDir); err != nil {
		return usageError("%v", err)
	}
	for _, in := range []string{*data, *evalData} {
		if in == "" {
			continue
		}
		if err := atomicfile.CheckNotInput("--out", *out, in); err != nil {
			return usageError("%v", err)
		}
	}

	m, err := loadLM(ctx, e, mf, *template)
	if err != nil {
		return err
	}
	defer m.Close()
	if n := m.Net.Config.ContextLength(); *seqLen > n {
		return usageError("--seq-len %d exceeds the model's context length %d", *seqLen, n)
	}
	dopts := finetune.DataOptions{Format: *format, Template: m.Template, SeqLen: *seqLen}
	train, st, err := finetune.ReadDataFile(*data, m.Tokenizer, dopts)
	if err != nil {
		return err
	}
	printDataStats(e.stderr, *data, st, *seqLen)
	if len(train) == 0 {
		return fmt.Errorf("%s: no example fits in --seq-len %d", *data, *seqLen)
	}
	var eval []finetune.Example
	if *evalData != "" {
		var est finetune.DataStats
		if eval, est, err = finetune.ReadDataFile(*evalData, m.Tokenizer, dopts); err != nil {
			return err
		}
		printDataStats(e.stderr, *evalData, est, *seqLen)
	}
	net, err := trainable(m.Net, cfg, h.Seed)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}

	ctx, stop := interruptContext(ctx, e)
	defer stop()
	base := *mf.path
	switch {
	case ck != nil && ck.BaseModel != "":
		base = ck.BaseModel // as the interrupted run spelled it
	case base == "":
		base = m.Name
	}
	recorded := map[string]string{}
	for _, name := range finetuneState {
		v := fs.Lookup(name).Value.String()
		switch name {
		case "m", "tokenizer", "template", "data", "eval-data":
			// Local files are recorded by absolute path, so that --resume works from
			// another directory; a Hub repo id stays as it is.
			if _, err := os.Stat(v); v != "" && err == nil {
				if abs, err := filepath.Abs(v); err == nil {
					v = abs
				}
			}
		}
		recorded[name] = v
	}
	bar := &trainBar{w: e.stderr}
	o := finetune.Options{
		Hyper:         h,
		Checkpointing: *ckpt,
		SaveEvery:     *saveEvery,
		Dir:           *out,
		Resume:        ck,
		BaseModel:     base,
		Args:          recorded,
		Progress:      bar.update,
	}
	fmt.Fprintf(e.stderr, "LoRA r=%d alpha=%g on %s of %s; %d training examples, %d held out; template %s\n",
		cfg.R, cfg.Alpha, strings.Join(cfg.Targets, ","), m.Name, len(train), len(eval), m.Template.Name())
	res, err := finetune.Run(ctx, net, train, eval, o)
	bar.end()
	if errors.Is(err, finetune.ErrInterrupted) {
		return fmt.Errorf("%v\ncontinue with: decilm finetune --resume %s", err, *out)
	}
	if err != nil {
		return err
	}
	if n := len(res.Log); n > 0 {
		fmt.Fprintf(e.stdout, "trained %d steps: final loss %.4f", res.Steps, res.Log[n-1].Loss)
		if k := len(res.Eval); k > 0 {
			fmt.Fprintf(e.stdout, ", held-out loss %.4f (before: %.4f)", res.Eval[k-1].Loss, res.Eval[0].Loss)
		}
		fmt.Fprintln(e.stdout)
	}
	fmt.Fprintf(e.stdout, "adapter: %s, %s\nloss curve: %s, %s\n",
		filepath.Join(*out, finetune.AdapterConfigFile), filepath.Join(*out, finetune.AdapterFile),
		filepath.Join(*out, finetune.LossCSVFile), filepath.Join(*out, finetune.LossPNGFile))
	return nil
}

func printDataStats(w io.Writer, name string, st finetune.DataStats, seqLen int) {
	fmt.Fprintf(w, "%s: %d rows, %d examples (%d tokens, %d in the loss)", name, st.Rows, st.Kept, st.Tokens, st.LossTokens)
	if st.TooLong > 0 {
		fmt.Fprintf(w, "; %d left out for having more than %d tokens", st.TooLong, seqLen)
	}
	if st.NoLoss > 0 {
		fmt.Fprintf(w, "; %d left out with nothing to learn", st.NoLoss)
	}
	if st.Reboundaried > 0 {
		fmt.Fprintf(w, "; %d response boundaries tokenized across (the straddling token is learnt)", st.Reboundaried)
	}
	fmt.Fprintln(w)
}

// interruptContext returns ctx that also ends at the first Ctrl-C (e.interrupt in tests),
// after which a second Ctrl-C ends the process at once, without a checkpoint.
func interruptContext(ctx context.Context, e *env) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	intr := e.interrupt
	var ch chan os.Signal
	if intr == nil {
		ch = make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt)
		intr = ch
	}
	release := func() {
		if ch != nil {
			signal.Stop(ch) // the default again: the next Ctrl-C ends the process
		}
	}
	stopped := func() {
		fmt.Fprintln(e.stderr, "\ninterrupt: saving a checkpoint after the current step (Ctrl-C again quits without one)")
		release()
		cancel()
	}
	select {
	case <-intr: // already pressed
		stopped()
		return ctx, cancel
	default:
	}
	go func() {
		select {
		case <-intr:
			stopped()
		case <-ctx.Done():
		}
	}()
	return ctx, func() { release(); cancel() }
}

// trainBar draws the training progress on one line: step, bar, loss, learning rate,
// tokens/s and ETA, redrawn at most five times a second; evaluations get a line of their
// own.
type trainBar struct {
	w     io.Writer
	last  time.Time
	drawn bool
	first int // the step this process started at
	begun bool
}

func (b *trainBar) update(p finetune.Progress) {
	if !b.begun {
		b.first, b.begun = p.Step, true
		if p.Eval == nil {
			b.first = p.Step - 1
		}
	}
	if p.Eval != nil {
		b.end()
		fmt.Fprintf(b.w, "held-out loss after epoch %d: %.4f (%d tokens)\n", p.Eval.Epoch, p.Eval.Loss, p.Eval.Tokens)
		return
	}
	now := time.Now()
	if now.Sub(b.last) < 200*time.Millisecond && p.Step < p.Total && p.Saved == "" {
		return
	}
	b.last = now
	const width = 24
	fill := width * p.Step / max(p.Total, 1)
	rate := float64(p.Tokens) / max(p.Elapsed.Seconds(), 1e-9)
	eta := "?"
	if done := p.Step - b.first; done > 0 {
		eta = (time.Duration(float64(p.Elapsed) / float64(done) * float64(p.Total-p.Step))).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\rstep %d/%d [%s%s] epoch %d loss %.4f lr %.3g %.0f tok/s ETA %s   ",
		p.Step, p.Total, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.Epoch, p.Loss, p.LR, rate, eta)
	b.drawn = true
	if p.Saved != "" {
		b.end()
		fmt.Fprintf(b.w, "checkpoint: %s (step %d)\n", p.Saved, p.Step)
	}
}

// end finishes the bar's line.
func (b *trainBar) end() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}
