// Package gen holds the generation state of one sequence: the token budget, the sampler,
// the end-of-sequence set and stop tokens, min_tokens, the grammar constraint, stop
// strings, the streaming decoder and log-probabilities, each option with one rule.
// decilm.Generate drives one State for one sequence, engine drives one per request of a
// batch; both feed it the logits of the sequence's last position and act on the Step it
// returns.
package gen

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/decilm/decilm/grammar"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// ErrContextLength reports a prompt, or a prompt plus the tokens asked for, that does not
// fit the model's context.
var ErrContextLength = errors.New("prompt exceeds the model's context length")

// Options are one sequence's generation options. The zero value generates nothing
// (MaxTokens 0) greedily.
type Options struct {
	// MaxTokens bounds the generated tokens, as llama.cpp's n_predict: < 0 means until the
	// context is full, 0 means none (only the prompt is evaluated, e.g. for its
	// log-probabilities), n > 0 at most n. A count beyond the room the context leaves
	// after the prompt is an error (ErrContextLength), not silently cut.
	MaxTokens int
	// Sampling chooses each token (zero value: greedy).
	Sampling sample.Options
	// Stop strings end generation; they are matched across token boundaries and never
	// returned.
	Stop []string
	// IgnoreEOS keeps generating past the end-of-sequence tokens (not past the end of a
	// grammar, which needs the end of sequence).
	IgnoreEOS bool
	// MinTokens keeps the end-of-sequence and StopTokenIDs tokens out until this many
	// tokens are generated (vLLM's min_tokens).
	MinTokens int
	// StopTokenIDs end generation as the end-of-sequence tokens do (vLLM's
	// stop_token_ids); the token is not returned.
	StopTokenIDs []int
	// Logprobs asks for each generated token's log-probability, and TopLogprobs for that
	// many alternatives. They are those of the model's own distribution (softmax of the
	// raw logits, before temperature, penalties, masks or top-p).
	Logprobs    bool
	TopLogprobs int
	// Grammar, when set, constrains the text: only tokens whose bytes it can consume are
	// allowed, the end of sequence only once the text is a whole sentence, and generation
	// stops when nothing may follow. Near the end of the budget (MaxTokens, or the
	// context) only tokens after which the sentence can still be completed in the tokens
	// left are allowed (grammar.Matcher.MaskWithin), so a budget of at least the grammar's
	// CloseBound always ends with a whole sentence; a smaller one is best effort (the
	// shortest way to close) and may end with "length".
	Grammar *grammar.Grammar
}

// Model is what a State needs of the model it generates with.
type Model struct {
	Tokenizer *tokenizer.Tokenizer
	// EOS are the end-of-sequence ids; BOS the beginning-of-sequence id (-1: none).
	EOS []int
	BOS int
	// Context is the most positions one sequence may hold (prompt plus generated).
	Context int
	// Vocab returns the vocabulary prepared for grammar masks (called only when a
	// grammar is set).
	Vocab func() *grammar.Vocab
}

// Token is a generated token with its log-probability and the most likely alternatives
// (when asked for).
type Token struct {
	ID      int
	Logprob float32
	Top     []sample.TokenLogprob
}

// Step is what one token did to the sequence.
type Step struct {
	// Token is the token added (nil when the step ended the sequence without one: an
	// end-of-sequence or stop token).
	Token *Token
	// Text is the text this step completes (possibly empty while a multi-byte character
	// or a possible stop string is held back).
	Text string
	// Done reports the sequence has ended; Reason is then "stop" (end of sequence, stop
	// token, stop string or the end of the grammar) or "length" (the budget is spent).
	Done   bool
	Reason string
}

// State is one sequence's generation state. It is not safe for concurrent use.
type State struct {
	m        Model
	o        Options
	budget   int
	history  []int
	n        int // tokens generated
	sampler  *sample.Sampler
	dec      *tokenizer.StreamDecoder
	stop     *sample.StopMatcher
	matcher  *grammar.Matcher
	masked   []float32
	pre      []float32 // the constrained row computed ahead by Constrain
	preErr   error
	preRow   []float32 // the row pre was computed from
	finished bool
}

// Budget applies the MaxTokens rule to a prompt of promptLen tokens in a context of ctx
// positions: the number of tokens to generate, or ErrContextLength.
func Budget(maxTokens, promptLen, ctx int) (int, error) {
	room := ctx - promptLen
	switch {
	case promptLen > ctx:
		return 0, fmt.Errorf("%w: %d prompt tokens, the context holds %d", ErrContextLength, promptLen, ctx)
	case maxTokens > room:
		return 0, fmt.Errorf("%w: %d prompt tokens plus %d new ones exceed the context of %d", ErrContextLength, promptLen, maxTokens, ctx)
	case maxTokens >= 0:
		return maxTokens, nil
	case room == 0:
		return 0, fmt.Errorf("%w: %d prompt tokens leave no room in the context of %d", ErrContextLength, promptLen, ctx)
	}
	return room, nil
}

// New checks o against the prompt and the model and returns the state of a sequence
// whose prompt has been (or is being) fed.
func New(m Model, prompt []int, o Options) (*State, error) {
	if len(prompt) == 0 {
		return nil, errors.New("empty prompt")
	}
	budget, err := Budget(o.MaxTokens, len(prompt), m.Context)
	if err != nil {
		return nil, err
	}
	if o.TopLogprobs < 0 {
		return nil, fmt.Errorf("top logprobs %d is negative", o.TopLogprobs)
	}
	if o.MinTokens < 0 {
		return nil, fmt.Errorf("min tokens %d is negative", o.MinTokens)
	}
	sm, err := sample.New(o.Sampling)
	if err != nil {
		return nil, err
	}
	s := &State{m: m, o: o, budget: budget, sampler: sm, stop: sample.NewStopMatcher(o.Stop...),
		history: append(make([]int, 0, len(prompt)+budget), prompt...)}
	if o.Grammar != nil {
		if m.Vocab == nil {
			return nil, errors.New("a grammar needs the model's vocabulary")
		}
		if s.matcher, err = grammar.NewMatcher(o.Grammar, m.Vocab()); err != nil {
			return nil, err
		}
	}
	if len(prompt) == 1 && prompt[0] == m.BOS {
		s.dec = m.Tokenizer.NewDecoder()
	} else {
		s.dec = m.Tokenizer.NewContinuationDecoder()
	}
	return s, nil
}

// Budget is the most tokens the sequence generates.
func (s *State) Budget() int { return s.budget }

// Generated is the number of tokens generated so far.
func (s *State) Generated() int { return s.n }

// History is the prompt followed by the generated tokens (not to be modified).
func (s *State) History() []int { return s.history }

// Sampler is the sequence's sampler (speculative decoding draws and verifies with it).
func (s *State) Sampler() *sample.Sampler { return s.sampler }

// Constrained reports whether steps mask the logits (a grammar or min_tokens), so that a
// caller with many sequences may call Constrain for them in parallel first.
func (s *State) Constrained() bool { return s.matcher != nil || s.n < s.o.MinTokens }

// Prepare computes ahead, from the grammar's state, the tokens the next step's mask will
// allow (grammar.Matcher.Prepare), so that a caller may do it while the model computes
// the logits; the step then only applies them. It changes no result: an error shows again
// at Next.
func (s *State) Prepare() {
	if s.matcher != nil && !s.finished && s.n < s.budget {
		_ = s.matcher.Prepare(s.budget - s.n) // an error recurs, and is returned, at Next
	}
}

// Constrain computes the masked logits of row ahead of Next (a copy; row is untouched):
// min_tokens keeps the end-of-sequence and stop tokens out, the grammar every token it
// cannot consume. States are independent, so callers may constrain several in parallel.
func (s *State) Constrain(row []float32) {
	s.pre, s.preErr = s.constrain(row)
	s.preRow = row
}

func (s *State) constrain(row []float32) ([]float32, error) {
	if !s.Constrained() {
		return row, nil
	}
	s.masked = append(s.masked[:0], row...)
	logits := s.masked
	if s.n < s.o.MinTokens {
		inf := float32(math.Inf(-1))
		for _, ids := range [][]int{s.m.EOS, s.o.StopTokenIDs} {
			for _, id := range ids {
				if id >= 0 && id < len(logits) {
					logits[id] = inf
				}
			}
		}
	}
	if s.matcher != nil {
		// Within the budget left, so that the text closes before it is spent.
		n, err := s.matcher.MaskWithin(logits, s.budget-s.n)
		if err == nil && n == 0 {
			err = errors.New("the grammar allows no token of the vocabulary here")
		}
		if err != nil {
			return nil, err
		}
	}
	return logits, nil
}

// Next samples the next token from row, the logits of the sequence's last position, and
// adds it (see Add). With a budget of 0 it ends the sequence ("length") at once.
func (s *State) Next(row []float32) (Step, error) {
	if s.budget == 0 {
		return s.Finish("length"), nil
	}
	var logits []float32
	var err error
	if len(s.preRow) > 0 && len(row) > 0 && &s.preRow[0] == &row[0] { // Constrain ran on row
		logits, err = s.pre, s.preErr
	} else {
		logits, err = s.constrain(row)
	}
	s.pre, s.preErr, s.preRow = nil, nil, nil
	if err != nil {
		return Step{}, err
	}
	id, err := s.sampler.Sample(logits, s.history)
	if err != nil {
		return Step{}, err
	}
	return s.Add(id, row)
}

// Add appends token id, chosen by Next or elsewhere (speculative decoding), with row the
// logits it was chosen from (for log-probabilities; nil when none are asked for). An
// end-of-sequence token (unless IgnoreEOS without a grammar) or a stop token ends the
// sequence without being added; a stop string, the grammar's end or the spent budget
// end it after this token. The Step with Done carries the text still held back.
func (s *State) Add(id int, row []float32) (Step, error) {
	if s.finished {
		return Step{}, errors.New("generation has ended")
	}
	if s.matcher != nil {
		if err := s.matcher.Accept(id); err != nil {
			return Step{}, fmt.Errorf("sampled token %d: %w", id, err)
		}
	}
	if (!s.o.IgnoreEOS || s.matcher != nil) && slices.Contains(s.m.EOS, id) || slices.Contains(s.o.StopTokenIDs, id) {
		return s.Finish("stop"), nil
	}
	s.n++
	s.history = append(s.history, id)
	tok := Token{ID: id}
	if row != nil && (s.o.Logprobs || s.o.TopLogprobs > 0) {
		tok = TokenInfo(row, id, s.o.TopLogprobs)
	}
	piece, err := s.dec.Add(id)
	if err != nil {
		return Step{}, err
	}
	text, stopped := s.stop.Push(piece)
	st := Step{Token: &tok, Text: text}
	switch {
	case stopped || (s.matcher != nil && s.matcher.Done()):
		st.Text += s.Finish("stop").Text
		st.Done, st.Reason = true, "stop"
	case s.n >= s.budget:
		st.Text += s.Finish("length").Text
		st.Done, st.Reason = true, "length"
	}
	return st, nil
}

// Finish ends the sequence for reason: the returned Step holds the text the decoder and
// the stop matcher still held back (none after a stop string). Later calls return an
// empty Step with the same Done.
func (s *State) Finish(reason string) Step {
	if s.finished {
		return Step{Done: true, Reason: reason}
	}
	s.finished = true
	rest, _ := s.stop.Push(s.dec.Flush())
	if !s.stop.Stopped() {
		rest += s.stop.Flush()
	}
	return Step{Text: rest, Done: true, Reason: reason}
}

// TokenInfo is the log-probability of id under the logits row, with the top k
// alternatives.
func TokenInfo(row []float32, id, k int) Token {
	t := Token{ID: id, Logprob: float32(float64(row[id]) - sample.LogSumExp(row))}
	if k > 0 {
		t.Top = sample.TopLogprobs(row, k)
	}
	return t
}
