package eval

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// Options controls Run.
type Options struct {
	// Limit scores only the first Limit items of each task; 0 scores all.
	Limit int
	// NumFewshot puts that many examples from the training split before each item, drawn
	// as lm-evaluation-harness draws them (see FewshotSeed); tasks need Train loaded.
	NumFewshot int
	// Encode sets BOS handling and the context window (see Encode).
	Encode EncodeOptions
	// BatchItems is how many items go to the Scorer in one call (default 64); all the
	// requests of an item are always in the same call, so a scorer can share its context.
	BatchItems int
	// BootstrapIters is the number of bootstrap resamples for perplexity's stderr: 0 means
	// DefaultBootstrapIters, negative disables it.
	BootstrapIters int
	// Progress, when set, is called after each Scorer call with the items done so far
	// over all tasks.
	Progress func(Progress)
	// LogSamples, when set, receives one JSON line per item (see Sample).
	LogSamples io.Writer
}

// Progress reports how far Run is.
type Progress struct {
	// Task is the task being scored.
	Task string
	// Done and Total count items over all tasks; Requests counts requests scored.
	Done, Total, Requests int
}

// Sample is one item's record in the --log-samples output: enough to redo its scoring by
// hand and to compare it with lm-evaluation-harness's samples file.
type Sample struct {
	// Task and DocID (the item's index in the split) identify the item.
	Task  string `json:"task"`
	DocID int    `json:"doc_id"`
	// Item is the item as scored (query, choices, target, gold, labels).
	Item
	// Requests are the (context, continuation) pairs scored, as the harness's arguments.
	Requests [][2]string `json:"requests"`
	// LogLikelihoods and IsGreedy are the scorer's results, one per request.
	LogLikelihoods []float64 `json:"loglikelihoods"`
	IsGreedy       []bool    `json:"is_greedy"`
	// Pred and PredNorm are the predicted choices by acc and acc_norm (-1 when unused).
	Pred     int `json:"pred"`
	PredNorm int `json:"pred_norm"`
	// Metrics are the item's metric values.
	Metrics map[string]float64 `json:"metrics"`
}

// Run scores every task's items (or the first opts.Limit) with sc and aggregates the
// metrics. It is deterministic: the same tasks, tokenizer, scorer and options give the
// same report, whatever the batch size (provided the scorer is batch-independent).
func Run(ctx context.Context, tasks []*Task, tok Tokenizer, sc Scorer, opts Options) (*Report, error) {
	if opts.BatchItems <= 0 {
		opts.BatchItems = 64
	}
	boot := opts.BootstrapIters
	if boot == 0 {
		boot = DefaultBootstrapIters
	}
	samplers := make([]*fewshotSampler, len(tasks))
	total := 0
	for i, t := range tasks {
		if len(t.Items) == 0 {
			return nil, fmt.Errorf("%s: no items loaded", t.Name)
		}
		s, err := t.newSampler(opts.NumFewshot)
		if err != nil {
			return nil, err
		}
		samplers[i] = s
		total += t.count(opts.Limit)
	}
	var logw *json.Encoder
	if opts.LogSamples != nil {
		logw = json.NewEncoder(opts.LogSamples)
		logw.SetEscapeHTML(false)
	}
	rep := &Report{NumFewshot: opts.NumFewshot, Limit: opts.Limit, BOS: !opts.Encode.NoBOS,
		MaxLength: opts.Encode.MaxLength, BootstrapIters: max(boot, 0)}
	enc := &encoder{tok: tok, opts: opts.Encode}
	done, nreq := 0, 0
	for ti, t := range tasks {
		n := t.count(opts.Limit)
		values := map[string][]float64{}
		for start := 0; start < n; start += opts.BatchItems {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			end := min(start+opts.BatchItems, n)
			var treqs []TokenRequest
			sreqs := make([][]Request, end-start)
			enc.reset()
			for i := start; i < end; i++ {
				it := &t.Items[i]
				reqs := t.Requests(it, samplers[ti].next(it))
				sreqs[i-start] = reqs
				for _, r := range reqs {
					tr, err := enc.encode(r)
					if err != nil {
						return nil, fmt.Errorf("%s: item %d: %w", t.Name, i, err)
					}
					treqs = append(treqs, tr)
				}
			}
			res, err := sc.LogLikelihood(ctx, treqs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.Name, err)
			}
			if len(res) != len(treqs) {
				return nil, fmt.Errorf("%s: scorer returned %d results for %d requests", t.Name, len(res), len(treqs))
			}
			off := 0
			for i := start; i < end; i++ {
				reqs := sreqs[i-start]
				o, err := t.Score(&t.Items[i], res[off:off+len(reqs)])
				if err != nil {
					return nil, err
				}
				off += len(reqs)
				for _, m := range t.Metrics {
					values[m] = append(values[m], o.Values[m])
				}
				if logw != nil {
					s := Sample{Task: t.Name, DocID: i, Item: t.Items[i], LogLikelihoods: o.LogLikelihoods,
						IsGreedy: o.IsGreedy, Pred: o.Pred, PredNorm: o.PredNorm, Metrics: o.Values}
					for _, r := range reqs {
						s.Requests = append(s.Requests, [2]string{r.Context, r.Continuation})
					}
					if err := logw.Encode(jsonSafe(s)); err != nil {
						return nil, fmt.Errorf("log samples: %w", err)
					}
				}
			}
			done += end - start
			nreq += len(treqs)
			if opts.Progress != nil {
				opts.Progress(Progress{Task: t.Name, Done: done, Total: total, Requests: nreq})
			}
		}
		tr := TaskReport{Task: t.Name, Title: t.Title, Items: n, Source: t.Source, Headline: t.Headline}
		for _, m := range t.Metrics {
			tr.Metrics = append(tr.Metrics, Aggregate(m, values[m], boot))
		}
		rep.Tasks = append(rep.Tasks, tr)
	}
	return rep, nil
}

func (t *Task) count(limit int) int {
	if limit > 0 && limit < len(t.Items) {
		return limit
	}
	return len(t.Items)
}

// jsonSafe replaces non-finite log-likelihoods (which JSON cannot hold) by ±1e308 / 0
// markers so that a sample line is always written; the metrics stay as computed.
func jsonSafe(s Sample) Sample {
	fix := func(x float64) float64 {
		switch {
		case math.IsNaN(x):
			return 0
		case math.IsInf(x, 1):
			return math.MaxFloat64
		case math.IsInf(x, -1):
			return -math.MaxFloat64
		}
		return x
	}
	lls := make([]float64, len(s.LogLikelihoods))
	for i, x := range s.LogLikelihoods {
		lls[i] = fix(x)
	}
	s.LogLikelihoods = lls
	m := make(map[string]float64, len(s.Metrics))
	for k, v := range s.Metrics {
		m[k] = fix(v)
	}
	s.Metrics = m
	return s
}

// encoder tokenizes requests, remembering context encodings within one batch: the
// choices of an item share their context, which is then encoded once.
type encoder struct {
	tok   Tokenizer
	opts  EncodeOptions
	cache map[string][]int
}

func (e *encoder) reset() { e.cache = map[string][]int{} }

func (e *encoder) encode(r Request) (TokenRequest, error) {
	if e.cache == nil {
		e.reset()
	}
	// only contexts are worth caching: the whole strings differ per choice
	ctx := strings.TrimRightFunc(r.Context, pyIsSpace)
	if ctx == "" {
		return Encode(e.tok, r, e.opts)
	}
	bos := !e.opts.NoBOS
	ids, ok := e.cache[ctx]
	if !ok {
		ids = e.tok.Encode(ctx, bos)
		e.cache[ctx] = ids
	}
	return Encode(pinned{tok: e.tok, text: ctx, bos: bos, ids: ids}, r, e.opts)
}

// pinned answers one known encoding from a cache and passes everything else through.
type pinned struct {
	tok  Tokenizer
	text string
	bos  bool
	ids  []int
}

func (p pinned) Encode(text string, addBOS bool) []int {
	if text == p.text && addBOS == p.bos {
		return p.ids
	}
	return p.tok.Encode(text, addBOS)
}
