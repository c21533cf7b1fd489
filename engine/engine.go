// Package engine runs many generation requests on one model at once with continuous
// batching.
//
// One goroutine owns the model and its KV cache. Each step it builds a single
// model.Batch holding one decode row for every running sequence plus a slice of the
// prompts still being prefilled (so a long prompt is prefilled in chunks and never stalls
// the running streams), calls Forward once, then samples each sequence's next token with
// its own sampler and streams the text to the request. Requests join the batch between
// steps as soon as a slot is free and the KV-cache budget allows, and leave it when they
// finish or their context is cancelled, which frees their cache at once.
//
// Forward computes every row from its own sequence's cache only, so a greedy request
// gives the same tokens alone or inside a busy batch.
//
// Each sequence's per-token rules (budget, sampling, stops, grammar, logprobs) are a
// gen.State; admission, slots, prompt-cache reuse and eviction, and the split of a step's
// rows between decoding and prefill are the scheduler type's, tested without a model.
//
// Memory: a request is admitted only when the KV cache of its prompt plus its maximum
// number of new tokens (model.KVBytesPerToken bytes a token in Options.CacheType:
// float16 by default) fits in what the budget has left. The budget defaults to DefaultKVBudget. The
// cache allocates each admitted sequence's reservation up front (model.Cache.Reserve), so
// the memory held matches the reservation (Stats.KVBytes shows it). Each request's event channel is buffered for every event it can produce (about
// 100 bytes a token), so a slow reader never holds the batch up.
package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/draft"
	"github.com/decilm/decilm/gen"
	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// Errors returned by Submit (and, for ErrClosed, in the final Event of requests cut by
// Close).
var (
	// ErrQueueFull: the waiting queue holds Options.QueueSize requests already.
	ErrQueueFull = errors.New("engine: request queue is full")
	// ErrClosed: the engine is shutting down or closed.
	ErrClosed = errors.New("engine: shutting down")
	// ErrContextLength: the prompt (plus the tokens asked for) does not fit the model's
	// context; it wraps decilm.ErrContextLength.
	ErrContextLength = decilm.ErrContextLength
	// ErrTooLarge: the request needs more KV cache than the whole budget.
	ErrTooLarge = errors.New("engine: request needs more KV cache than the budget")
)

// Options configure an Engine. The zero value picks every default.
type Options struct {
	// Parallel is the most sequences decoded together (default 16).
	Parallel int
	// KVBudget is the memory, in bytes, that admitted sequences may reserve for their KV
	// cache (0: DefaultKVBudget()).
	KVBudget int64
	// QueueSize is the most requests waiting for admission; more are refused with
	// ErrQueueFull (default 4·Parallel, at least 64).
	QueueSize int
	// StepRows bounds the rows of one Forward call: the decode rows of the running
	// sequences plus prefill rows (default 256). Prefill always gets at least 16 rows.
	StepRows int
	// NoPromptCache turns off prompt caching. By default a finished request's keys and
	// values stay in its slot until the slot is needed, and a new request whose prompt
	// starts with the same tokens takes that slot and skips their prefill (as
	// llama-server's cache_prompt and vLLM's prefix caching do). The reused keys and
	// values are bit-identical to recomputed ones, so outputs do not change. Requests
	// that ask for prompt log-probabilities always prefill the whole prompt.
	NoPromptCache bool
	// CacheType is how the KV cache stores keys and values; the zero value is float16
	// (model.CacheF16), whose greedy outputs equal float32's on the reference fixtures.
	CacheType model.CacheType
	// Draft, when set, turns on speculative decoding for every request no grammar or
	// min_tokens constrains (see spec.go): greedy outputs stay the same token for token,
	// sampled ones keep their distribution. A draft model's KV cache is counted in the
	// budget beside the target's (KVBytesPerToken is their sum).
	Draft *decilm.Draft

	// beforeStep, when set (by tests), runs before each step's batch is built.
	beforeStep func()
}

// DefaultKVBudget returns the default KV-cache budget: a quarter of the memory the
// kernel reports available (MemAvailable in /proc/meminfo), at most 8 GiB; 1 GiB when
// that cannot be read.
func DefaultKVBudget() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 1 << 30
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 {
				break
			}
			return min(kb*1024/4, 8<<30)
		}
	}
	return 1 << 30
}

// Request is one generation to run.
type Request struct {
	// Prompt is the token ids to continue (not empty).
	Prompt []int
	// MaxTokens bounds the generated tokens with gen.Options' rule: < 0 means up to the
	// context length, 0 means none (only the prompt is evaluated, for PromptLogprobs),
	// and more than the context leaves is ErrContextLength.
	MaxTokens int
	// Sampling chooses each token (zero value: greedy).
	Sampling sample.Options
	// Stop strings end generation; they are not returned.
	Stop []string
	// IgnoreEOS keeps generating past the end-of-sequence tokens.
	IgnoreEOS bool
	// Logprobs asks for each generated token's log-probability, and TopLogprobs for that
	// many alternatives per token. Log-probabilities are those of the model's own
	// distribution (softmax of the raw logits, before temperature, penalties or top-p).
	Logprobs    bool
	TopLogprobs int
	// PromptLogprobs asks for the log-probability of every prompt token given the tokens
	// before it (the first has none), with TopLogprobs alternatives each.
	PromptLogprobs bool
	// MinTokens keeps the end-of-sequence and StopTokenIDs tokens out until this many
	// tokens are generated (vLLM's min_tokens).
	MinTokens int
	// StopTokenIDs end generation like the end-of-sequence tokens (vLLM's
	// stop_token_ids); the token is not returned.
	StopTokenIDs []int
	// Grammar, when set, constrains the generated text: each step only tokens whose bytes
	// the grammar can consume are allowed, the end of sequence only once the text is a
	// whole sentence, and generation stops when nothing may follow.
	Grammar *grammar.Grammar
	// Adapter, when not nil, is the LoRA adapter this request's rows run with (nil: the
	// model's own, see model.Model.SetAdapter); requests of different adapters share
	// batches, and a cached prompt is reused only by a request of the same adapter.
	Adapter *model.Adapter
}

// Token is a token id with its log-probability and the most likely alternatives.
type Token = gen.Token

// Event is one message of a request's stream. Every generated token gives an Event;
// the last Event has Done set.
type Event struct {
	// Text is the text this token completes (may be empty while a multi-byte character or
	// a possible stop string is held back; the last event carries what remains).
	Text string
	// Token is the generated token (nil on the last event when it adds no token).
	Token *Token
	// PromptLogprobs, on the first event of a request with PromptLogprobs, scores the
	// prompt: one entry per prompt token, the first with Logprob 0 and no alternatives.
	PromptLogprobs []Token
	// Done marks the last event; FinishReason is then "stop" (end of sequence or stop
	// string), "length" (MaxTokens or the context) or "" with Err set.
	Done         bool
	FinishReason string
	Err          error
	// PromptTokens and CompletionTokens count the request's tokens (on the last event).
	PromptTokens, CompletionTokens int
	// CachedTokens counts the prompt tokens whose prefill the prompt cache saved, and
	// PrefillDone is when the prompt was fed (on the last event).
	CachedTokens int
	PrefillDone  time.Time
}

// Stats is a snapshot of the engine's state and counters.
type Stats struct {
	Queued  int // requests waiting for admission
	Running int // sequences admitted (prefilling or decoding)
	// KVReserved is the KV-cache memory the admitted sequences reserve, KVBudget the
	// budget, KVBytes what their caches hold now (it may exceed the reservation by the
	// slack of growing buffers), KVCachedBytes what free slots keep for prompt caching
	// (dropped when admission needs the memory).
	KVReserved, KVBudget, KVBytes, KVCachedBytes int64
	// PromptCacheTokens counts prompt tokens whose prefill was skipped by prompt caching.
	PromptCacheTokens int64
	// LastBatchRows and LastBatchSeqs describe the most recent Forward call.
	LastBatchRows, LastBatchSeqs int
	// RunningAdapters and WaitingAdapters name the LoRA adapters of the admitted and of
	// the queued requests (each name once, sorted).
	RunningAdapters, WaitingAdapters []string
	// Counters since the start.
	Steps, PromptTokens, GeneratedTokens, Requests int64
	// Spec counts speculative decoding (Options.Draft) since the start.
	Spec SpecStats
}

// Engine schedules requests onto one model. Its methods are safe for concurrent use.
type Engine struct {
	m     *decilm.Model
	opt   Options
	perTk int64 // KV bytes per token
	ctxL  int   // context length

	mu      sync.Mutex
	queue   []*seq
	closed  bool
	stats   Stats
	wake    chan struct{}
	done    chan struct{}
	running []*seq // owned by the loop, but read by Stats under mu

	vocabOnce sync.Once
	gvocab    *grammar.Vocab
	cache     *model.Cache // owned by loop once it runs

	drafter  *draft.Drafter // a slot per sequence slot, with Options.Draft (spec.go)
	draftMax int
	verifier draft.Verifier
	dreqs    []draft.Request // draftAll's requests and their sequences
	dseqs    []*seq
}

// New starts an engine on m. The engine owns m.Net's forward passes from now on (other
// callers of m may still use it; their passes interleave with the engine's steps).
func New(m *decilm.Model, o Options) (*Engine, error) {
	if m == nil || m.Net == nil || m.Tokenizer == nil {
		return nil, errors.New("engine: no model")
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.KVBudget <= 0 {
		o.KVBudget = DefaultKVBudget()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = max(4*o.Parallel, 64)
	}
	if o.StepRows <= 0 {
		o.StepRows = 256
	}
	cache, err := model.NewTypedCache(m.Net.Config, m.Net.Config.ContextLength(), o.CacheType)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{
		cache: cache,
		m:     m,
		opt:   o,
		perTk: model.KVBytesPerToken(m.Net.Config, o.CacheType),
		ctxL:  m.Net.Config.ContextLength(),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	e.stats.KVBudget = o.KVBudget
	if err := e.initSpec(); err != nil {
		return nil, err
	}
	go e.loop()
	return e, nil
}

// Options returns the options in effect (defaults filled in).
func (e *Engine) Options() Options { return e.opt }

// Model returns the model the engine runs.
func (e *Engine) Model() *decilm.Model { return e.m }

// ContextLength is the most tokens (prompt plus generated) one request may hold.
func (e *Engine) ContextLength() int { return e.ctxL }

// KVBytesPerToken is the KV-cache memory one token of one sequence takes.
func (e *Engine) KVBytesPerToken() int64 { return e.perTk }

// Stats returns a snapshot of the engine's gauges and counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Queued = len(e.queue)
	s.Spec.AcceptedPerPos = slices.Clone(s.Spec.AcceptedPerPos)
	return s
}

// seq is one request inside the engine.
type seq struct {
	req     Request
	ctx     context.Context
	out     chan Event
	stopCtx func() bool

	st         *gen.State // sampler, stops, decoder, budget, logprobs, grammar
	slot       int
	reserve    int64
	fed        int // prompt positions fed to the model
	next       int // token to feed in the next decode row (-1 while prefilling)
	promptLP   []Token
	sentPrompt bool
	done       bool
	final      *Event // the final event, held until the loop has released the slot
	cached     int
	prefilled  time.Time
	spec       *seqSpec // speculative state, with Options.Draft
}

// Submit queues req and returns the channel its events arrive on; the channel is closed
// after the event with Done. By the time that event is sent the request's sequence has
// left the engine: Stats no longer counts its slot, reservation or cache as running.
// Cancelling ctx ends the request (its last event has Err set
// to ctx's error) and frees its place at once. Submit fails with ErrQueueFull,
// ErrClosed, ErrContextLength, ErrTooLarge or an invalid sampling option.
func (e *Engine) Submit(ctx context.Context, req Request) (<-chan Event, error) {
	if len(req.Prompt) == 0 {
		return nil, errors.New("engine: empty prompt")
	}
	vocab := e.m.Net.Config.Vocab
	for i, t := range req.Prompt {
		if t < 0 || t >= vocab {
			return nil, fmt.Errorf("engine: prompt token %d is %d, outside the vocabulary [0,%d)", i, t, vocab)
		}
	}
	st, err := gen.New(e.genModel(), req.Prompt, gen.Options{
		MaxTokens: req.MaxTokens, Sampling: req.Sampling, Stop: req.Stop, IgnoreEOS: req.IgnoreEOS,
		MinTokens: req.MinTokens, StopTokenIDs: req.StopTokenIDs, Logprobs: req.Logprobs,
		TopLogprobs: req.TopLogprobs, Grammar: req.Grammar,
	})
	if err != nil {
		if errors.Is(err, ErrContextLength) {
			return nil, err
		}
		return nil, fmt.Errorf("engine: %w", err)
	}
	maxNew := st.Budget()
	// The cache holds every position fed: the prompt and all generated tokens but the last.
	need := int64(len(req.Prompt)+max(maxNew-1, 0)) * e.perTk
	if need > e.opt.KVBudget {
		return nil, fmt.Errorf("%w: %d tokens need %d bytes, the budget is %d", ErrTooLarge, len(req.Prompt)+maxNew, need, e.opt.KVBudget)
	}
	s := &seq{
		req:     req,
		ctx:     ctx,
		out:     make(chan Event, maxNew+2),
		st:      st,
		slot:    -1,
		reserve: need,
		next:    -1,
	}
	s.stopCtx = context.AfterFunc(ctx, e.poke)
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		s.stopCtx()
		return nil, ErrClosed
	case len(e.queue) >= e.opt.QueueSize:
		e.mu.Unlock()
		s.stopCtx()
		return nil, ErrQueueFull
	}
	e.queue = append(e.queue, s)
	e.stats.Requests++
	e.mu.Unlock()
	e.poke()
	return s.out, nil
}

// poke wakes the loop.
func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Close stops accepting requests, ends every queued and running one with ErrClosed and
// waits for the loop to exit. To let in-flight requests finish first, stop submitting
// and wait for them before calling Close.
func (e *Engine) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
	}
	e.mu.Unlock()
	e.poke()
	<-e.done
}

// finish sends the final event, with the text the generation state still holds back
// unless err is set, and closes the stream.
func (s *seq) finish(reason string, err error) {
	text := ""
	if err == nil && !s.done {
		text = s.st.Finish(reason).Text
	}
	s.finishText(reason, text, err)
}

// finishText ends s with a final event carrying text; the loop sends it and closes the
// stream (deliver) once s's slot is released and the stats say so.
func (s *seq) finishText(reason, text string, err error) {
	if s.done {
		return
	}
	s.done = true
	ev := Event{Done: true, FinishReason: reason, Err: err, PromptTokens: len(s.req.Prompt), CompletionTokens: s.st.Generated(),
		CachedTokens: s.cached, PrefillDone: s.prefilled, Text: text}
	if err == nil {
		if !s.sentPrompt && s.req.PromptLogprobs {
			ev.PromptLogprobs = s.promptLP
			s.sentPrompt = true
		}
	}
	s.final = &ev
}

// deliver sends s's final event, if s has ended, and closes its stream.
func (s *seq) deliver() {
	if s.final == nil {
		return
	}
	s.out <- *s.final
	s.final = nil
	close(s.out)
	if s.stopCtx != nil {
		s.stopCtx()
	}
}

// loop is the scheduler: the only goroutine that touches the cache.
func (e *Engine) loop() {
	defer close(e.done)
	cfg := e.m.Net.Config
	cache := e.cache
	maxReuse := 0
	if cfg.RopeScaling.Type == "dynamic" {
		maxReuse = cfg.MaxPositions
	}
	sch := newScheduler(e.opt.Parallel, e.opt.KVBudget, e.perTk, e.opt.NoPromptCache, maxReuse, e.slots())
	var running []*seq
	var b model.Batch
	type rowRef struct {
		s      *seq
		pos    int  // position of the row
		last   bool // the row whose logits pick the next token
		logits bool // the row's logits are computed
		decode bool // a decode row (not prefill)
	}
	var refs []rowRef
	var ended []*seq // finished sequences whose final events wait for the next publish
	release := func(s *seq) {
		if s.slot >= 0 {
			sch.release(s.slot, s.st.History(), s.req.Adapter, s.reserve)
			s.slot = -1
		}
	}
	// sweep releases the running sequences that have ended.
	sweep := func() {
		keep := running[:0]
		for _, s := range running {
			if s.done {
				release(s)
				ended = append(ended, s)
				continue
			}
			keep = append(keep, s)
		}
		clear(running[len(keep):])
		running = keep
	}
	// deliver sends the final events of the sequences swept since the last publish.
	deliver := func() {
		for _, s := range ended {
			s.deliver()
		}
		clear(ended)
		ended = ended[:0]
	}
	admit := func(s *seq) {
		// Requests that ask for prompt log-probabilities prefill the whole prompt.
		s.slot, s.cached = sch.admit(s.req.Prompt, s.req.Adapter, s.reserve, !s.req.PromptLogprobs)
		s.fed = s.cached
		e.stats.PromptCacheTokens += int64(s.cached)
		e.admitSpec(s)
	}
	publish := func(lastRows, lastSeqs int, steps, promptTok, genTok int64) {
		e.mu.Lock()
		e.stats.Running = len(running)
		e.stats.RunningAdapters, e.stats.WaitingAdapters = adapterNames(running), adapterNames(e.queue)
		e.stats.KVReserved = sch.reserved
		var held, kept int64
		for _, s := range running {
			held += cache.SeqBytes(s.slot) + e.draftBytes(s.slot)
		}
		for _, sl := range sch.free {
			kept += cache.SeqBytes(sl) + e.draftBytes(sl)
		}
		e.stats.KVBytes, e.stats.KVCachedBytes = held, kept
		if lastRows >= 0 {
			e.stats.LastBatchRows, e.stats.LastBatchSeqs = lastRows, lastSeqs
		}
		e.stats.Steps += steps
		e.stats.PromptTokens += promptTok
		e.stats.GeneratedTokens += genTok
		e.mu.Unlock()
	}
	for {
		// Drop finished or cancelled sequences, admit new ones.
		e.mu.Lock()
		closed := e.closed
		q := e.queue[:0]
		for _, s := range e.queue {
			switch {
			case closed:
				s.finish("", ErrClosed)
			case s.ctx.Err() != nil:
				s.finish("", context.Cause(s.ctx))
			default:
				q = append(q, s)
				continue
			}
			ended = append(ended, s)
		}
		clear(e.queue[len(q):])
		e.queue = q
		e.mu.Unlock()
		for _, s := range running {
			switch {
			case closed:
				s.finish("", ErrClosed)
			case s.ctx.Err() != nil:
				s.finish("", context.Cause(s.ctx))
			}
		}
		sweep()
		if closed {
			publish(0, 0, 0, 0, 0)
			deliver()
			return
		}
		e.mu.Lock()
		for len(e.queue) > 0 && sch.fits(e.queue[0].reserve) {
			s := e.queue[0]
			e.queue = e.queue[1:]
			admit(s)
			running = append(running, s)
		}
		e.mu.Unlock()
		publish(-1, 0, 0, 0, 0)
		deliver()
		if len(running) == 0 {
			<-e.wake
			continue
		}

		if e.opt.beforeStep != nil {
			e.opt.beforeStep()
		}
		// Build the step: decode rows first, then prefill chunks in arrival order.
		b.Reset()
		refs = refs[:0]
		e.draftAll(running)
		for _, s := range running {
			if s.next >= 0 && !s.done {
				drafts := s.drafts()
				pos := len(s.st.History()) - 1
				b.Add(s.slot, pos, s.next, true)
				b.Adapter = append(b.Adapter, s.req.Adapter)
				refs = append(refs, rowRef{s, pos, true, true, true})
				for i, t := range drafts { // verify rows (spec.go)
					b.Add(s.slot, pos+1+i, t, true)
					b.Adapter = append(b.Adapter, s.req.Adapter)
					refs = append(refs, rowRef{s, pos + 1 + i, false, true, true})
				}
			}
		}
		var prefilling []*seq
		var remaining []int
		for _, s := range running {
			if s.next < 0 {
				prefilling = append(prefilling, s)
				remaining = append(remaining, len(s.req.Prompt)-s.fed)
			}
		}
		var promptTok int64
		for k, n := range prefillRows(e.opt.StepRows, b.Len(), remaining) {
			s := prefilling[k]
			for i := 0; i < n; i++ {
				p := s.fed + i
				last := p == len(s.req.Prompt)-1
				want := last || s.req.PromptLogprobs
				b.Add(s.slot, p, s.req.Prompt[p], want)
				b.Adapter = append(b.Adapter, s.req.Adapter)
				refs = append(refs, rowRef{s, p, last, want, false})
			}
			s.fed += n
			promptTok += int64(n)
		}
		prepared := e.prepareMasks(running)
		logits, err := e.m.Net.Forward(&b, cache)
		<-prepared
		if err != nil {
			for _, s := range running {
				s.finish("", fmt.Errorf("engine: forward: %w", err))
			}
			continue
		}
		V := cfg.Vocab
		var genTok int64
		seqs := 0
		j := 0
		var prev *seq
		for _, r := range refs {
			if r.s != prev {
				seqs++
				prev = r.s
			}
			if !r.logits {
				continue
			}
			row := logits[j*V : (j+1)*V]
			j++
			s := r.s
			if s.done {
				continue
			}
			if !r.decode && s.req.PromptLogprobs {
				e.scorePrompt(s, r.pos, row)
			}
			if !r.last {
				continue
			}
			if n := s.drafted(); n > 0 {
				genTok += int64(e.advanceSpec(s, logits[(j-1)*V:(j+n)*V]))
				continue
			}
			if e.advance(s, row) {
				genTok++
			}
		}
		sweep()
		publish(len(refs), seqs, 1, promptTok, genTok)
		deliver()
	}
}

// scorePrompt records, from the logits of prompt row pos, the log-probability of prompt
// token pos+1 (and the entry of token 0 when pos is 0).
func (e *Engine) scorePrompt(s *seq, pos int, row []float32) {
	if pos == 0 {
		s.promptLP = append(s.promptLP, Token{ID: s.req.Prompt[0]})
	}
	if pos+1 < len(s.req.Prompt) {
		s.promptLP = append(s.promptLP, gen.TokenInfo(row, s.req.Prompt[pos+1], s.req.TopLogprobs))
	}
}

// prepareMasks computes, on a goroutine of its own while the step's forward pass runs,
// the sets of tokens the grammars of the decoding sequences will allow (a walk of the
// vocabulary on a state's first visit, a cache lookup after), so that after the forward
// pass each mask is only applied, on the loop's goroutine, with no hand-off to wait for.
// The returned channel is closed when they are done.
func (e *Engine) prepareMasks(running []*seq) <-chan struct{} {
	done := make(chan struct{})
	var ss []*seq
	for _, s := range running {
		if s.next >= 0 && !s.done && s.st.Constrained() {
			ss = append(ss, s)
		}
	}
	if len(ss) == 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		for _, s := range ss {
			s.st.Prepare()
		}
	}()
	return done
}

// advance samples s's next token from row and streams it; it reports whether a token
// was generated.
func (e *Engine) advance(s *seq, row []float32) bool {
	if s.prefilled.IsZero() {
		s.prefilled = time.Now()
	}
	generated, _ := s.emit(s.st.Next(row))
	return generated
}

// emit acts on one step of s's generation state: it streams the step's token, finishes s
// when the step (or its error) ends the sequence, and otherwise makes the token the next
// decode row's input. It reports whether a token was generated and whether s goes on.
func (s *seq) emit(step gen.Step, err error) (generated, more bool) {
	if err != nil {
		s.finish("", fmt.Errorf("engine: %w", err))
		return false, false
	}
	if step.Token == nil { // ended without a token: the final event carries the text
		s.finishText(step.Reason, step.Text, nil)
		return false, false
	}
	ev := Event{Token: step.Token, Text: step.Text}
	if s.req.PromptLogprobs && !s.sentPrompt {
		ev.PromptLogprobs = s.promptLP
		s.sentPrompt = true
	}
	s.out <- ev
	if step.Done {
		s.finish(step.Reason, nil)
		return true, false
	}
	s.next = step.Token.ID
	return true, true
}

// genModel describes the model to the generation state.
func (e *Engine) genModel() gen.Model {
	return gen.Model{Tokenizer: e.m.Tokenizer, EOS: e.m.EOS, BOS: e.m.Net.Config.BOS, Context: e.ctxL, Vocab: e.vocab}
}

// vocab is the model's vocabulary prepared for grammar masks, built on first use.
func (e *Engine) vocab() *grammar.Vocab {
	e.vocabOnce.Do(func() {
		t := e.m.Tokenizer
		texts := make([]string, e.m.Net.Config.Vocab)
		for id := range texts {
			if !t.IsSpecial(id) {
				texts[id] = t.TokenText(id)
			}
		}
		e.gvocab = grammar.NewVocab(texts, e.m.EOS)
	})
	return e.gvocab
}

// commonPrefix is the length of the longest common prefix of a and b.
func commonPrefix(a, b []int) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
