// Package bench measures how fast a model runs, the way llama.cpp's llama-bench and
// llama-batched-bench do, so that the two can be compared line by line.
//
// Three tests, each repeated and summarised as mean ± sample standard deviation of tokens
// per second:
//
//   - pp (prompt processing): one Forward over Prompt random tokens from an empty cache,
//     logits of the last row only (llama-bench's ppN);
//   - tg (text generation): Gen single-token decode steps from an empty cache, starting
//     with BOS and feeding random tokens (llama-bench's tgN);
//   - batched generation: for each count in Seqs, that many sequences decode Gen tokens
//     together, one Forward of count rows per step; the rate is the aggregate over all
//     sequences (llama-batched-bench's S_TG with a one-token prompt).
//
// Each test runs once unmeasured first (a warm-up: the weights are paged in and the
// caches allocated). Card measures the DeciLM model card's throughput instead: a batch of
// prompts cut from a text, sampled at temperature 0.2 / top-p 0.95, generated tokens per
// second.
//
// Results are Records with llama-bench's JSON field names (n_prompt, n_gen, n_threads,
// avg_ts, stddev_ts, samples_ts, ...) plus n_seq, so scripts written for llama-bench's
// -o json read them; WriteMarkdown prints llama-bench's table.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/model"
)

// Options choose the tests Run performs.
type Options struct {
	// Prompt is the number of tokens of the pp test; 0 skips it.
	Prompt int
	// Gen is the number of decode steps of the tg and batched tests; 0 skips them.
	Gen int
	// Seqs lists the sequence counts of the batched tests (none: no batched test).
	Seqs []int
	// Reps is the number of measured repetitions of each test (default 3).
	Reps int
	// Model describes the model in the records (see Describe).
	Model ModelInfo
	// Progress, when set, receives a line for each test and repetition.
	Progress io.Writer
}

// ModelInfo is what the records say about the model.
type ModelInfo struct {
	Filename string
	Type     string // "deci 1B Q4_0", as llama-bench's model_type
	Size     int64  // bytes of weights
	Params   int64
}

// Record is one test's result, with llama-bench's JSON field names.
type Record struct {
	BuildCommit string    `json:"build_commit"`
	CPUInfo     string    `json:"cpu_info"`
	Backends    string    `json:"backends"`
	ModelFile   string    `json:"model_filename"`
	ModelType   string    `json:"model_type"`
	ModelSize   int64     `json:"model_size"`
	ModelParams int64     `json:"model_n_params"`
	NBatch      int       `json:"n_batch"`
	NThreads    int       `json:"n_threads"`
	TypeK       string    `json:"type_k"`
	TypeV       string    `json:"type_v"`
	UseMmap     bool      `json:"use_mmap"`
	NPrompt     int       `json:"n_prompt"`
	NGen        int       `json:"n_gen"`
	NSeq        int       `json:"n_seq"`
	Test        string    `json:"test"`
	TestTime    string    `json:"test_time"`
	AvgNs       int64     `json:"avg_ns"`
	StddevNs    int64     `json:"stddev_ns"`
	AvgTs       float64   `json:"avg_ts"`
	StddevTs    float64   `json:"stddev_ts"`
	SamplesNs   []int64   `json:"samples_ns"`
	SamplesTs   []float64 `json:"samples_ts"`
	// KernelPath is the kernel of the model's bulk matrix products (the first layer's
	// gate projection) in this test on this CPU, as "ISA kernel" (see kernel.MatMulPath):
	// the one-row kernel for tg, the several-row one for pp and batched tests.
	KernelPath   string `json:"kernel_path,omitempty"`
	tokensPerRep int

	// NDrafted and NAccepted count the drafted and accepted tokens of a speculative
	// Generation test, AcceptRate their ratio (absent for other tests).
	NDrafted   int     `json:"n_drafted,omitempty"`
	NAccepted  int     `json:"n_accepted,omitempty"`
	AcceptRate float64 `json:"accept_rate,omitempty"`
}

// Describe fills a ModelInfo from a loaded model: its weight bytes, parameters and a type
// string made of the architecture, the parameter count and the type of the first layer's
// gate projection (the bulk of the weights).
func Describe(m *model.Model, filename string) ModelInfo {
	c := m.Config
	params := c.Params()
	size := ""
	switch {
	case params >= 1e9:
		size = fmt.Sprintf("%.0fB", float64(params)/1e9)
	default:
		size = fmt.Sprintf("%.0fM", float64(params)/1e6)
	}
	dt := "?"
	if len(m.Layers) > 0 && m.Layers[0].Gate != nil {
		dt = strings.ToUpper(m.Layers[0].Gate.DType.String())
	}
	return ModelInfo{Filename: filename, Type: fmt.Sprintf("%s %s %s", c.Arch, size, dt), Size: m.WeightBytes(), Params: params}
}

// rng is a small deterministic generator for the random tokens of the tests.
type rng uint64

func (r *rng) next(n int) int {
	*r ^= *r << 13
	*r ^= *r >> 7
	*r ^= *r << 17
	return int(uint64(*r) % uint64(n))
}

// Run performs the tests o asks for on m and returns one record per test.
func Run(ctx context.Context, m *model.Model, o Options) ([]Record, error) {
	if o.Reps <= 0 {
		o.Reps = 3
	}
	if o.Prompt < 0 || o.Gen < 0 {
		return nil, errors.New("bench: negative prompt or generation length")
	}
	c := m.Config
	for _, n := range o.Seqs {
		if n <= 0 {
			return nil, fmt.Errorf("bench: sequence count %d must be positive", n)
		}
	}
	if o.Prompt+1 > c.ContextLength() || o.Gen+1 > c.ContextLength() {
		return nil, fmt.Errorf("bench: %d prompt or %d generated tokens exceed the context length %d", o.Prompt, o.Gen, c.ContextLength())
	}
	bos := max(c.BOS, 0)
	r := rng(0x9E3779B97F4A7C15)
	var recs []Record
	run := func(name string, nPrompt, nGen, nSeq, tokens int, body func() error, warm func() error) error {
		rec := baseRecord(m, o.Model)
		rec.Test, rec.NPrompt, rec.NGen, rec.NSeq, rec.tokensPerRep = name, nPrompt, nGen, nSeq, tokens
		rec.NBatch = max(nPrompt, nSeq)
		rec.KernelPath = kernelPath(m, max(nPrompt, nSeq))
		rec.TestTime = time.Now().UTC().Format(time.RFC3339)
		progress(o.Progress, "bench: %s: warm-up", name)
		if err := warm(); err != nil {
			return err
		}
		for i := 0; i < o.Reps; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			start := time.Now()
			if err := body(); err != nil {
				return err
			}
			ns := time.Since(start).Nanoseconds()
			rec.SamplesNs = append(rec.SamplesNs, ns)
			rec.SamplesTs = append(rec.SamplesTs, float64(tokens)*1e9/float64(max(ns, 1)))
			progress(o.Progress, "bench: %s: rep %d/%d: %.2f t/s", name, i+1, o.Reps, rec.SamplesTs[i])
		}
		rec.summarise()
		recs = append(recs, rec)
		return nil
	}
	if o.Prompt > 0 {
		cache := model.NewCache(c, o.Prompt)
		toks := make([]int, o.Prompt)
		pp := func() error {
			cache.Truncate(0, 0)
			var b model.Batch
			for i := range toks {
				toks[i] = r.next(c.Vocab)
				b.Add(0, i, toks[i], i == len(toks)-1)
			}
			_, err := m.Forward(&b, cache)
			return err
		}
		if err := run(fmt.Sprintf("pp%d", o.Prompt), o.Prompt, 0, 1, o.Prompt, pp, pp); err != nil {
			return nil, err
		}
	}
	// gen returns the tg body for nSeq sequences and a warm-up of one step, sharing a cache
	// (emptied with Truncate, which keeps its memory, before each run).
	gen := func(nSeq int) (body, warm func() error) {
		cache := model.NewCache(c, o.Gen+1)
		steps := func(steps int) func() error {
			return func() error {
				for s := 0; s < nSeq; s++ {
					cache.Truncate(s, 0)
				}
				var b model.Batch
				for p := 0; p < steps; p++ {
					if err := ctx.Err(); err != nil {
						return err
					}
					b.Reset()
					for s := 0; s < nSeq; s++ {
						tok := bos
						if p > 0 {
							tok = r.next(c.Vocab)
						}
						b.Add(s, p, tok, true)
					}
					if _, err := m.Forward(&b, cache); err != nil {
						return err
					}
				}
				return nil
			}
		}
		return steps(o.Gen), steps(1)
	}
	if o.Gen > 0 {
		body, warm := gen(1)
		if err := run(fmt.Sprintf("tg%d", o.Gen), 0, o.Gen, 1, o.Gen, body, warm); err != nil {
			return nil, err
		}
		for _, n := range o.Seqs {
			body, warm := gen(n)
			if err := run(fmt.Sprintf("tg%d x%d seq", o.Gen, n), 0, o.Gen, n, n*o.Gen, body, warm); err != nil {
				return nil, err
			}
		}
	}
	return recs, nil
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// kernelPath returns the kernel serving m's first gate projection with rows activation
// rows, or "" where the first layer has none.
func kernelPath(m *model.Model, rows int) string {
	if len(m.Layers) == 0 || m.Layers[0].Gate == nil {
		return ""
	}
	w := m.Layers[0].Gate
	return kernel.MatMulPath(w.DType, w.Packed != nil, rows).String()
}

// baseRecord fills the fields that do not depend on the test.
func baseRecord(m *model.Model, mi ModelInfo) Record {
	return Record{
		BuildCommit: buildCommit(), CPUInfo: cpuInfo(), Backends: "CPU",
		ModelFile: mi.Filename, ModelType: mi.Type, ModelSize: mi.Size, ModelParams: mi.Params,
		NThreads: m.Pool().Threads(), TypeK: "f32", TypeV: "f32", UseMmap: true,
	}
}

// summarise sets the averages and standard deviations from the samples.
func (r *Record) summarise() {
	var ns []float64
	for _, v := range r.SamplesNs {
		ns = append(ns, float64(v))
	}
	mn, sn := meanStd(ns)
	r.AvgNs, r.StddevNs = int64(math.Round(mn)), int64(math.Round(sn))
	r.AvgTs, r.StddevTs = meanStd(r.SamplesTs)
}

// meanStd returns the mean and the sample standard deviation (0 for fewer than two values).
func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)-1))
}

func buildCommit() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				return s.Value[:7]
			}
		}
	}
	return "unknown"
}

// cpuInfo returns the CPU's model name from /proc/cpuinfo, or "" where there is none.
func cpuInfo() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
