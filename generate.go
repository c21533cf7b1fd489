package decilm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/gen"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
)

// GenerateOptions control one generation.
type GenerateOptions struct {
	// MaxTokens bounds the number of generated tokens with one rule for every caller
	// (gen.Options, as llama.cpp's n_predict): < 0 means until the end of sequence or the
	// context is full, 0 means none (the prompt is only evaluated), n > 0 at most n. More
	// than the context leaves after the prompt is ErrContextLength.
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
	// CacheType is how the KV cache stores keys and values; the zero value is float16
	// (model.CacheF16), whose greedy outputs equal float32's on the reference fixtures.
	CacheType model.CacheType
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

// ErrContextLength reports a prompt, or a prompt plus MaxTokens, that does not fit the
// model's context (gen.ErrContextLength).
var ErrContextLength = gen.ErrContextLength

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
	start := time.Now()
	defer func() { r.res.GenerateTime = time.Since(start) }()
	logits := r.logits
	var b model.Batch
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		step, err := r.st.Next(logits[:r.cfg.Vocab])
		if err != nil {
			return nil, err
		}
		if done, err := r.apply(step); done || err != nil {
			return r.result(err)
		}
		b.Reset()
		b.Add(0, len(r.st.History())-1, step.Token.ID, true)
		if logits, err = m.Net.Forward(&b, r.cache); err != nil {
			return nil, err
		}
	}
}

// generation is one sequence after its prompt: its generation state (budget, sampler,
// EOS, stop strings, stream decoder), the KV cache holding the prompt, the logits of its
// last token and the result being built.
type generation struct {
	o      GenerateOptions
	cfg    *model.Config
	st     *gen.State
	res    *Result
	text   strings.Builder
	cache  *model.Cache
	logits []float32
}

// begin checks the prompt and the options (gen.New), and runs the prompt through the
// model in chunks of prefillChunk rows (res.PrefillTime), for GenerateTokens and its
// speculative twin.
func (m *Model) begin(ctx context.Context, prompt []int, o GenerateOptions) (*generation, error) {
	if len(prompt) == 0 {
		return nil, errors.New("generate: empty prompt")
	}
	cfg := m.Net.Config
	st, err := gen.New(gen.Model{Tokenizer: m.Tokenizer, EOS: m.EOS, BOS: cfg.BOS, Context: cfg.ContextLength()}, prompt,
		gen.Options{MaxTokens: o.MaxTokens, Sampling: o.Sampling, Stop: o.Stop, IgnoreEOS: o.IgnoreEOS})
	if err != nil {
		return nil, err
	}
	cache, err := model.NewTypedCache(cfg, len(prompt)+st.Budget(), o.CacheType)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	r := &generation{o: o, cfg: cfg, st: st, res: &Result{PromptTokens: len(prompt)}, cache: cache}
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

// apply records a step of the generation state in the result and passes its token and
// text to OnToken and OnText; done reports the end of generation (or an error from a
// callback).
func (r *generation) apply(st gen.Step) (done bool, err error) {
	if st.Token != nil {
		r.res.Tokens = append(r.res.Tokens, st.Token.ID)
		if r.o.OnToken != nil {
			if err := r.o.OnToken(st.Token.ID); err != nil {
				return true, err
			}
		}
	}
	if st.Text != "" {
		r.text.WriteString(st.Text)
		if r.o.OnText != nil {
			if err := r.o.OnText(st.Text); err != nil {
				return true, err
			}
		}
	}
	if st.Done {
		r.res.FinishReason = st.Reason
	}
	return st.Done, nil
}

// result completes the result (or returns err).
func (r *generation) result(err error) (*Result, error) {
	if err != nil {
		return nil, err
	}
	r.res.Text = r.text.String()
	return r.res, nil
}
