package decilm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// GenerateOptions control one generation.
type GenerateOptions struct {
	// MaxTokens bounds the number of generated tokens; 0 means up to the context length.
	MaxTokens int
	// Sampling chooses each token; the zero value is greedy decoding.
	Sampling sample.Options
	// Stop strings end generation when produced; they are matched across token
	// boundaries and never returned.
	Stop []string
	// IgnoreEOS keeps generating past the end-of-sequence token.
	IgnoreEOS bool
	// AddBOS overrides the tokenizer's default for starting the prompt with BOS.
	AddBOS *bool
	// OnText, when set, receives the text as it is produced, in UTF-8-complete chunks;
	// an error from it ends generation and is returned.
	OnText func(text string) error
	// OnToken, when set, receives each generated token id.
	OnToken func(id int) error
	// Draft, when set, turns on speculative decoding (see Draft).
	Draft *Draft
}

// Result describes a finished generation.
type Result struct {
	Text string // the generated text (stop strings removed)
	// Tokens are the generated token ids; PromptTokens counts the prompt's.
	Tokens       []int
	PromptTokens int
	// FinishReason is "stop" (end-of-sequence token or stop string) or "length" (MaxTokens
	// or the context length reached).
	FinishReason string
	// PrefillTime is the time spent on the prompt, GenerateTime on the new tokens.
	PrefillTime, GenerateTime time.Duration
	// Drafted counts the tokens a Draft proposed and Accepted those the model kept.
	Drafted, Accepted int
}

// ErrContextLength reports a prompt that does not fit the model's context.
var ErrContextLength = errors.New("prompt exceeds the model's context length")

// prefillChunk bounds the rows of one prefill Forward call (activation memory).
const prefillChunk = 512

// Encode tokenizes text with the tokenizer's defaults (BOS unless overridden).
func (m *Model) Encode(text string, addBOS *bool) []int {
	o := m.Tokenizer.DefaultOptions()
	if addBOS != nil {
		o.AddBOS = *addBOS
	}
	return m.Tokenizer.Encode(text, o)
}

// Generate completes prompt. An empty prompt starts from BOS alone.
func (m *Model) Generate(ctx context.Context, prompt string, o GenerateOptions) (*Result, error) {
	if err := m.checkPromptBytes(len(prompt)); err != nil {
		return nil, err
	}
	ids := m.Encode(prompt, o.AddBOS)
	if len(ids) == 0 {
		ids = []int{max(m.Net.Config.BOS, 0)}
	}
	return m.GenerateTokens(ctx, ids, o)
}

// Chat renders the conversation with the model's template (with the cue for the
// assistant's reply) and generates the reply.
func (m *Model) Chat(ctx context.Context, msgs []chat.Message, o GenerateOptions) (*Result, error) {
	ids, err := m.EncodeChat(msgs)
	if err != nil {
		return nil, err
	}
	return m.GenerateTokens(ctx, ids, o)
}

// EncodeChat renders msgs with the model's template and tokenizes the result, recognising
// special tokens in the template's text; BOS is added unless the template wrote it.
func (m *Model) EncodeChat(msgs []chat.Message) ([]int, error) {
	return m.EncodeChatOptions(msgs, chat.Options{AddGenerationPrompt: true})
}

// EncodeChatOptions is EncodeChat with the render options of [chat.Render] (tools,
// further template variables, limits).
func (m *Model) EncodeChatOptions(msgs []chat.Message, o chat.Options) ([]int, error) {
	text, err := chat.Render(m.Template, msgs, o)
	if err != nil {
		return nil, err
	}
	if err := m.checkPromptBytes(len(text)); err != nil {
		return nil, err
	}
	to := m.Tokenizer.DefaultOptions()
	to.ParseSpecial = true
	if bos := m.Tokenizer.BOS(); bos >= 0 && strings.HasPrefix(text, m.Tokenizer.Piece(bos)) {
		to.AddBOS = false
	}
	return m.Tokenizer.Encode(text, to), nil
}

// GenerateTokens continues the token sequence prompt.
func (m *Model) GenerateTokens(ctx context.Context, prompt []int, o GenerateOptions) (*Result, error) {
	if o.Draft != nil {
		return m.generateDraft(ctx, prompt, o)
	}
	r, err := m.begin(ctx, prompt, o)
	if err != nil {
		return nil, err
	}
	cfg, res, logits := r.cfg, r.res, r.logits
	start := time.Now()
	defer func() { res.GenerateTime = time.Since(start) }()
	out := newTokenSink(m, prompt, o, res)
	history := append([]int(nil), prompt...)
	var b model.Batch
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := r.sampler.Sample(logits[:cfg.Vocab], history)
		if err != nil {
			return nil, err
		}
		done, err := out.add(next)
		if err != nil {
			return nil, err
		}
		if done {
			return res, nil
		}
		history = append(history, next)
		if len(res.Tokens) >= r.maxNew {
			return out.finish("length")
		}
		b.Reset()
		b.Add(0, len(history)-1, next, true)
		if logits, err = m.Net.Forward(&b, r.cache); err != nil {
			return nil, err
		}
	}
}

// generation is one sequence's state after its prompt: the token budget, the sampler, the
// KV cache holding the prompt and the logits of its last token.
type generation struct {
	cfg     *model.Config
	maxNew  int
	sampler *sample.Sampler
	res     *Result
	cache   *model.Cache
	logits  []float32
}

// begin checks the prompt against the context, builds the sampler and runs the prompt
// through the model in chunks of prefillChunk rows (res.PrefillTime), for GenerateTokens
// and its speculative twin.
func (m *Model) begin(ctx context.Context, prompt []int, o GenerateOptions) (*generation, error) {
	if len(prompt) == 0 {
		return nil, errors.New("generate: empty prompt")
	}
	cfg := m.Net.Config
	limit := cfg.ContextLength()
	if len(prompt) >= limit {
		return nil, fmt.Errorf("%w: %d prompt tokens, context holds %d", ErrContextLength, len(prompt), limit)
	}
	maxNew := limit - len(prompt)
	if o.MaxTokens > 0 && o.MaxTokens < maxNew {
		maxNew = o.MaxTokens
	}
	sampler, err := sample.New(o.Sampling)
	if err != nil {
		return nil, err
	}
	r := &generation{cfg: cfg, maxNew: maxNew, sampler: sampler, res: &Result{PromptTokens: len(prompt)},
		cache: model.NewCache(cfg, len(prompt)+maxNew)}
	var b model.Batch
	start := time.Now()
	for i := 0; i < len(prompt); i += prefillChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.Reset()
		end := min(i+prefillChunk, len(prompt))
		for p := i; p < end; p++ {
			b.Add(0, p, prompt[p], p == len(prompt)-1)
		}
		if r.logits, err = m.Net.Forward(&b, r.cache); err != nil {
			return nil, err
		}
	}
	r.res.PrefillTime = time.Since(start)
	return r, nil
}

// tokenSink takes one sequence's generated tokens one by one, for plain and speculative
// decoding alike: EOS, OnToken, the streaming decoder, stop strings and the result's text.
type tokenSink struct {
	m    *Model
	o    GenerateOptions
	res  *Result
	dec  *tokenizer.StreamDecoder
	stop *sample.StopMatcher
	text strings.Builder
}

func newTokenSink(m *Model, prompt []int, o GenerateOptions, res *Result) *tokenSink {
	s := &tokenSink{m: m, o: o, res: res, stop: sample.NewStopMatcher(o.Stop...)}
	if len(prompt) == 1 && prompt[0] == m.Net.Config.BOS {
		s.dec = m.Tokenizer.NewDecoder()
	} else {
		s.dec = m.Tokenizer.NewContinuationDecoder()
	}
	return s
}

func (s *tokenSink) emit(text string) error {
	if text == "" {
		return nil
	}
	s.text.WriteString(text)
	if s.o.OnText != nil {
		return s.o.OnText(text)
	}
	return nil
}

// add takes the next token; done reports that generation has ended (EOS or a stop
// string), with the result complete.
func (s *tokenSink) add(t int) (done bool, err error) {
	if !s.o.IgnoreEOS && s.m.isEOS(t) {
		_, err := s.finish("stop")
		return true, err
	}
	s.res.Tokens = append(s.res.Tokens, t)
	if s.o.OnToken != nil {
		if err := s.o.OnToken(t); err != nil {
			return true, err
		}
	}
	piece, err := s.dec.Add(t)
	if err != nil {
		return true, err
	}
	out, stopped := s.stop.Push(piece)
	if err := s.emit(out); err != nil {
		return true, err
	}
	if stopped {
		s.res.Text = s.text.String()
		s.res.FinishReason = "stop"
		return true, nil
	}
	return false, nil
}

// finish flushes the decoder and the stop matcher and completes the result.
func (s *tokenSink) finish(reason string) (*Result, error) {
	rest, _ := s.stop.Push(s.dec.Flush())
	if !s.stop.Stopped() {
		rest += s.stop.Flush()
	}
	if err := s.emit(rest); err != nil {
		return nil, err
	}
	s.res.Text = s.text.String()
	s.res.FinishReason = reason
	return s.res, nil
}

func (m *Model) isEOS(id int) bool {
	for _, e := range m.EOS {
		if id == e {
			return true
		}
	}
	return false
}
