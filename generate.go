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
	text, err := m.Template.Render(msgs, true)
	if err != nil {
		return nil, err
	}
	if err := m.checkPromptBytes(len(text)); err != nil {
		return nil, err
	}
	o := m.Tokenizer.DefaultOptions()
	o.ParseSpecial = true
	if bos := m.Tokenizer.BOS(); bos >= 0 && strings.HasPrefix(text, m.Tokenizer.Piece(bos)) {
		o.AddBOS = false
	}
	return m.Tokenizer.Encode(text, o), nil
}

// GenerateTokens continues the token sequence prompt.
func (m *Model) GenerateTokens(ctx context.Context, prompt []int, o GenerateOptions) (*Result, error) {
	if o.Draft != nil {
		return m.generateDraft(ctx, prompt, o)
	}
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
	res := &Result{PromptTokens: len(prompt)}
	cache := model.NewCache(cfg, len(prompt)+maxNew)
	var b model.Batch
	start := time.Now()
	var logits []float32
	for i := 0; i < len(prompt); i += prefillChunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.Reset()
		end := min(i+prefillChunk, len(prompt))
		for p := i; p < end; p++ {
			b.Add(0, p, prompt[p], p == len(prompt)-1)
		}
		if logits, err = m.Net.Forward(&b, cache); err != nil {
			return nil, err
		}
	}
	res.PrefillTime = time.Since(start)
	start = time.Now()
	defer func() { res.GenerateTime = time.Since(start) }()

	var dec *tokenizer.StreamDecoder
	if len(prompt) == 1 && prompt[0] == cfg.BOS {
		dec = m.Tokenizer.NewDecoder()
	} else {
		dec = m.Tokenizer.NewContinuationDecoder()
	}
	stop := sample.NewStopMatcher(o.Stop...)
	var text strings.Builder
	emit := func(s string) error {
		if s == "" {
			return nil
		}
		text.WriteString(s)
		if o.OnText != nil {
			return o.OnText(s)
		}
		return nil
	}
	history := append([]int(nil), prompt...)
	finish := func(reason string) (*Result, error) {
		rest, _ := stop.Push(dec.Flush())
		if !stop.Stopped() {
			rest += stop.Flush()
		}
		if err := emit(rest); err != nil {
			return nil, err
		}
		res.Text = text.String()
		res.FinishReason = reason
		return res, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next, err := sampler.Sample(logits[:cfg.Vocab], history)
		if err != nil {
			return nil, err
		}
		if !o.IgnoreEOS && m.isEOS(next) {
			return finish("stop")
		}
		res.Tokens = append(res.Tokens, next)
		history = append(history, next)
		if o.OnToken != nil {
			if err := o.OnToken(next); err != nil {
				return nil, err
			}
		}
		piece, err := dec.Add(next)
		if err != nil {
			return nil, err
		}
		out, stopped := stop.Push(piece)
		if err := emit(out); err != nil {
			return nil, err
		}
		if stopped {
			res.Text = text.String()
			res.FinishReason = "stop"
			return res, nil
		}
		if len(res.Tokens) >= maxNew {
			return finish("length")
		}
		b.Reset()
		b.Add(0, len(history)-1, next, true)
		if logits, err = m.Net.Forward(&b, cache); err != nil {
			return nil, err
		}
	}
}

func (m *Model) isEOS(id int) bool {
	for _, e := range m.EOS {
		if id == e {
			return true
		}
	}
	return false
}
