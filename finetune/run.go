package finetune

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// Hyper are the settings that decide the training trajectory: a checkpoint records them
// and a resumed run must use the same.
type Hyper struct {
	Epochs      int     `json:"epochs"`
	Batch       int     `json:"batch"`      // examples per Step call
	GradAccum   int     `json:"grad_accum"` // Step calls per optimiser step
	LR          float64 `json:"lr"`         // peak learning rate
	MinLR       float64 `json:"min_lr"`     // learning rate at the end of the cosine
	WarmupRatio float64 `json:"warmup_ratio"`
	MaxGradNorm float64 `json:"max_grad_norm"` // global-norm clipping; 0 clips nothing
	WeightDecay float64 `json:"weight_decay"`
	Seed        uint64  `json:"seed"` // data order
}

// DefaultHyper returns the defaults of `decilm finetune`: 3 epochs, batch 4, no
// accumulation, lr 2e-4 to 0 after a 5% warm-up, clipping at 1, weight decay 0.01.
func DefaultHyper() Hyper {
	return Hyper{Epochs: 3, Batch: 4, GradAccum: 1, LR: 2e-4, WarmupRatio: 0.05, MaxGradNorm: 1, WeightDecay: 0.01}
}

// Check reports the first setting outside its range, naming it as the command's flag.
func (h Hyper) Check() error {
	switch {
	case h.Epochs < 1 || h.Epochs > 1000:
		return fmt.Errorf("--epochs %d outside 1..1000", h.Epochs)
	case h.Batch < 1 || h.Batch > 4096:
		return fmt.Errorf("--batch %d outside 1..4096", h.Batch)
	case h.GradAccum < 1 || h.GradAccum > 4096:
		return fmt.Errorf("--grad-accum %d outside 1..4096", h.GradAccum)
	case !(h.LR > 0 && h.LR <= 1):
		return fmt.Errorf("--lr %g outside (0, 1]", h.LR)
	case !(h.MinLR >= 0 && h.MinLR <= h.LR):
		return fmt.Errorf("--min-lr %g outside [0, --lr]", h.MinLR)
	case !(h.WarmupRatio >= 0 && h.WarmupRatio <= 1):
		return fmt.Errorf("--warmup-ratio %g outside [0, 1]", h.WarmupRatio)
	case !(h.MaxGradNorm >= 0 && h.MaxGradNorm < math.Inf(1)):
		return fmt.Errorf("--max-grad-norm %g must be 0 (no clipping) or positive", h.MaxGradNorm)
	case !(h.WeightDecay >= 0 && h.WeightDecay < 1):
		return fmt.Errorf("--weight-decay %g outside [0, 1)", h.WeightDecay)
	}
	return nil
}

// Options configure Run.
type Options struct {
	Hyper
	// Checkpointing asks Step for activation checkpointing (recompute each layer in the
	// backward pass), trading time for memory.
	Checkpointing bool
	// SaveEvery writes a checkpoint every this many optimiser steps (0: only when
	// interrupted and at the end).
	SaveEvery int
	// Dir receives the checkpoint (checkpoint.safetensors), the adapter
	// (adapter_config.json, adapter_model.safetensors) and the loss curve (loss.csv,
	// loss.png). It must exist.
	Dir string
	// Resume, when not nil, continues the run it was read from: the parameters, optimiser
	// state, data position and logs are restored and the rest of the run is the same as
	// if it had not stopped.
	Resume *Checkpoint
	// BaseModel is written as base_model_name_or_path in adapter_config.json.
	BaseModel string
	// EvalBatch is the examples per Loss call of the evaluation (0: Batch).
	EvalBatch int
	// Args are stored in the checkpoint as they are (Checkpoint.Args).
	Args map[string]string
	// Progress, when not nil, is called after each optimiser step and evaluation.
	Progress func(Progress)
}

// Progress is the state of a run, given to Options.Progress.
type Progress struct {
	Step, Total int // optimiser steps done and in all
	Epoch       int // 1-based epoch of the step
	Loss        float64
	LR          float64
	GradNorm    float64
	// Tokens and Elapsed are the tokens this process ran through forward and backward
	// (every token of each example, not only the counted ones) and its time, not counting
	// what a resumed run did before.
	Tokens  int64
	Elapsed time.Duration
	// Eval is set when an evaluation just finished.
	Eval *EvalEntry
	// Saved is the checkpoint path when one was just written.
	Saved string
}

// StepEntry is one optimiser step of the loss log.
type StepEntry struct {
	Step     int     `json:"step"`
	Epoch    int     `json:"epoch"`
	Loss     float64 `json:"loss"` // mean over the step's counted tokens, nats
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"` // before clipping
	Tokens   int     `json:"tokens"`    // counted tokens
}

// EvalEntry is one held-out evaluation: after Epoch epochs (0: before training).
type EvalEntry struct {
	Epoch  int     `json:"epoch"`
	Step   int     `json:"step"`
	Loss   float64 `json:"loss"`
	Tokens int     `json:"tokens"`
}

// Result is what Run did.
type Result struct {
	Log   []StepEntry
	Eval  []EvalEntry
	Steps int // optimiser steps done, resumed ones included
	Total int
	// Interrupted says the context ended the run early; a checkpoint holds its state.
	Interrupted bool
}

// File names Run writes in Options.Dir.
const (
	CheckpointFile    = "checkpoint.safetensors"
	AdapterConfigFile = "adapter_config.json"
	AdapterFile       = "adapter_model.safetensors"
	LossCSVFile       = "loss.csv"
	LossPNGFile       = "loss.png"
)

// ErrInterrupted is returned (wrapped) by Run when its context ends: the state was saved
// in the checkpoint.
var ErrInterrupted = errors.New("interrupted")

// Run trains net on the examples of train, evaluating the mean loss on eval (which may be
// empty) before training and after each epoch.
//
// An optimiser step takes Batch·GradAccum examples (the last of an epoch may take fewer),
// in an order shuffled anew each epoch from Seed, in GradAccum calls of Step; the summed
// gradients are divided by the step's counted tokens (the loss is the mean over tokens, not
// over examples), clipped to a global norm of MaxGradNorm, and applied by AdamW with the
// learning rate of the warm-up and cosine schedule. Each example is a sequence of its own:
// nothing is padded and nothing is packed.
//
// When ctx ends, Run saves a checkpoint at the last finished optimiser step (a step in
// progress is dropped and redone by a resumed run), writes the loss curve and returns an
// error wrapping ErrInterrupted together with the result so far. At the end it writes the
// adapter, a final checkpoint and the loss curve.
func Run(ctx context.Context, net Trainable, train, eval []Example, o Options) (*Result, error) {
	if err := o.Hyper.Check(); err != nil {
		return nil, err
	}
	if len(train) == 0 {
		return nil, errors.New("finetune: no training examples")
	}
	if o.SaveEvery < 0 {
		return nil, fmt.Errorf("finetune: SaveEvery %d is negative", o.SaveEvery)
	}
	if st, err := os.Stat(o.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("finetune: output directory %q: not a directory", o.Dir)
	}
	params := net.Params()
	if len(params) == 0 {
		return nil, errors.New("finetune: the model has no trainable parameters")
	}
	for _, p := range params {
		if p.Rows*p.Cols != len(p.W) || len(p.G) != len(p.W) {
			return nil, fmt.Errorf("finetune: parameter %s is [%d, %d] with %d values and %d gradients", p.Name, p.Rows, p.Cols, len(p.W), len(p.G))
		}
	}
	perStep := o.Batch * o.GradAccum
	stepsPerEpoch := (len(train) + perStep - 1) / perStep
	total := o.Epochs * stepsPerEpoch
	sched := Schedule{Peak: o.LR, Min: o.MinLR, Warmup: int(math.Ceil(o.WarmupRatio * float64(total))), Total: total}
	ck := &Checkpoint{
		Hyper:     o.Hyper,
		LoRA:      net.Config(),
		BaseModel: o.BaseModel,
		TrainData: Fingerprint(train),
		EvalData:  Fingerprint(eval),
		Total:     total,
		Args:      o.Args,
	}
	opt := NewAdamW(params)
	opt.WeightDecay = o.WeightDecay
	if o.Resume != nil {
		if err := o.Resume.restore(ck, params, opt); err != nil {
			return nil, err
		}
		ck.Log, ck.Eval, ck.Step = o.Resume.Log, o.Resume.Eval, o.Resume.Step
	}
	res := &Result{Total: total}
	path := filepath.Join(o.Dir, CheckpointFile)
	save := func() error {
		ck.AdamStep = opt.Step
		return ck.save(path, params, opt)
	}
	var (
		start  = time.Now()
		tokens int64
	)
	report := func(p Progress) {
		if o.Progress == nil {
			return
		}
		p.Step, p.Total, p.Tokens, p.Elapsed = ck.Step, total, tokens, time.Since(start)
		if n := len(ck.Log); n > 0 {
			l := ck.Log[n-1]
			p.Epoch, p.Loss, p.LR, p.GradNorm = l.Epoch, l.Loss, l.LR, l.GradNorm
		}
		o.Progress(p)
	}
	finish := func(interrupted bool) (*Result, error) {
		res.Log, res.Eval, res.Steps, res.Interrupted = ck.Log, ck.Eval, ck.Step, interrupted
		if err := save(); err != nil {
			return res, err
		}
		if err := WriteLossCSV(filepath.Join(o.Dir, LossCSVFile), ck.Log, ck.Eval); err != nil {
			return res, err
		}
		if err := WriteLossPNG(filepath.Join(o.Dir, LossPNGFile), ck.Log, ck.Eval); err != nil {
			return res, err
		}
		if interrupted {
			return res, fmt.Errorf("%w at step %d of %d; the checkpoint %s resumes it", ErrInterrupted, ck.Step, total, path)
		}
		return res, SaveAdapter(o.Dir, params, ck.LoRA, o.BaseModel)
	}
	// evalDue runs the evaluation after epoch e when there is held-out data and the log
	// does not have it yet (a run interrupted during it evaluates again on resume).
	evalDue := func(e int) (bool, error) {
		if len(eval) == 0 || (len(ck.Eval) > 0 && ck.Eval[len(ck.Eval)-1].Epoch >= e) {
			return false, nil
		}
		evalBatch := o.Batch
		if o.EvalBatch > 0 {
			evalBatch = o.EvalBatch
		}
		sum, n, err := evaluate(ctx, net, eval, evalBatch)
		if err != nil {
			return ctx.Err() != nil, err
		}
		ck.Eval = append(ck.Eval, EvalEntry{Epoch: e, Step: ck.Step, Loss: sum / float64(n), Tokens: n})
		report(Progress{Eval: &ck.Eval[len(ck.Eval)-1]})
		return false, nil
	}
	var order []int
	orderEpoch := -1
	for ck.Step <= total {
		if ck.Step%stepsPerEpoch == 0 {
			if stop, err := evalDue(ck.Step / stepsPerEpoch); stop {
				return finish(true)
			} else if err != nil {
				return res, err
			}
		}
		if ck.Step == total {
			break
		}
		epoch := ck.Step / stepsPerEpoch
		if epoch != orderEpoch {
			order, orderEpoch = Shuffle(len(train), o.Seed, uint64(epoch)), epoch
		}
		k := ck.Step % stepsPerEpoch
		idx := order[k*perStep : min((k+1)*perStep, len(train))]
		net.ZeroGrad()
		lossSum, count := 0.0, 0
		for b := 0; b < len(idx); b += o.Batch {
			if ctx.Err() != nil {
				return finish(true)
			}
			micro := make([]Example, 0, o.Batch)
			for _, i := range idx[b:min(b+o.Batch, len(idx))] {
				micro = append(micro, train[i])
				tokens += int64(len(train[i].Tokens))
			}
			s, c, err := net.Step(micro, o.Checkpointing)
			if err != nil {
				return res, fmt.Errorf("finetune: step %d: %w", ck.Step+1, err)
			}
			lossSum += s
			count += c
		}
		if count == 0 {
			return res, fmt.Errorf("finetune: step %d has no counted tokens", ck.Step+1)
		}
		if math.IsNaN(lossSum) || math.IsInf(lossSum, 0) {
			return res, fmt.Errorf("finetune: step %d: the loss is %v", ck.Step+1, lossSum)
		}
		ScaleGrads(params, 1/float64(count))
		norm := ClipGrads(params, o.MaxGradNorm)
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			return res, fmt.Errorf("finetune: step %d: the gradient norm is %v", ck.Step+1, norm)
		}
		lr := sched.LR(ck.Step + 1)
		opt.Update(params, lr)
		ck.Step++
		ck.Log = append(ck.Log, StepEntry{Step: ck.Step, Epoch: epoch + 1, Loss: lossSum / float64(count), LR: lr, GradNorm: norm, Tokens: count})
		var saved string
		if o.SaveEvery > 0 && ck.Step%o.SaveEvery == 0 && ck.Step < total {
			if err := save(); err != nil {
				return res, err
			}
			saved = path
		}
		report(Progress{Saved: saved})
	}
	return finish(false)
}

// evaluate returns the summed loss and counted tokens of examples, batch at a time.
func evaluate(ctx context.Context, net Trainable, examples []Example, batch int) (float64, int, error) {
	sum, n := 0.0, 0
	for b := 0; b < len(examples); b += batch {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		s, c, err := net.Loss(examples[b:min(b+batch, len(examples))])
		if err != nil {
			return 0, 0, fmt.Errorf("finetune: evaluation: %w", err)
		}
		sum += s
		n += c
	}
	if n == 0 {
		return 0, 0, errors.New("finetune: evaluation: no counted tokens")
	}
	return sum, n, nil
}

// Shuffle returns a permutation of 0..n-1 for the epoch: Fisher-Yates driven by PCG
// seeded with (seed, epoch), written out here so that the order never changes with the Go
// release.
func Shuffle(n int, seed, epoch uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	r := rand.NewPCG(seed, epoch^0x9e3779b97f4a7c15)
	for i := n - 1; i > 0; i-- {
		j := int(r.Uint64() % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// Fingerprint is the SHA-256 of the examples' tokens and loss flags, in hex: a checkpoint
// records it to refuse resuming on other data.
func Fingerprint(examples []Example) string {
	h := sha256.New()
	var b [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	put(uint64(len(examples)))
	for _, ex := range examples {
		put(uint64(len(ex.Tokens)))
		for _, t := range ex.Tokens {
			put(uint64(t))
		}
		for _, l := range ex.Loss {
			if l {
				h.Write([]byte{1})
			} else {
				h.Write([]byte{0})
			}
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
