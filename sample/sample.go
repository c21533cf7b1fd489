// Package sample picks the next token from a model's logits and decides
// where generated text stops.
//
// A [Sampler] applies, in this fixed order (the order of Hugging Face
// transformers' generate, which the DeciLM model cards use):
//
//  1. logit bias: logits[id] += LogitBias[id];
//  2. repetition penalty (HF / llama.cpp semantics): for each distinct token
//     in the penalty window, a positive logit is divided by RepeatPenalty and
//     a negative one multiplied by it;
//  3. frequency and presence penalties (OpenAI semantics): logit -=
//     count·FrequencyPenalty + (count > 0)·PresencePenalty, where count is the
//     token's number of occurrences in the penalty window;
//  4. if Temperature is 0: greedy, the highest logit wins, ties going to the
//     lowest token id; nothing below applies and no randomness is used;
//  5. temperature: logits are divided by Temperature;
//  6. top-k: only the TopK highest logits stay (ties broken by lower id);
//  7. top-p: only the smallest set of most likely tokens whose probability
//     adds up to at least TopP stays (within a relative tolerance of 1e-6,
//     so that a set whose mass equals p in exact arithmetic is not missed
//     by rounding);
//  8. min-p: tokens whose probability is below MinP times the probability of
//     the most likely token are dropped;
//  9. one token is drawn from the softmax of what is left, with the
//     sampler's own random stream.
//
// The penalty window is the last RepeatLastN tokens of the history the
// caller passes (the whole history when RepeatLastN is -1); it applies to all
// three penalties, as in llama.cpp.
//
// Randomness comes from a private xoshiro256** generator seeded from
// Options.Seed and exponentials are computed without assembly or fused
// operations, so the same seed, options, logits and history give the same
// tokens on every run and platform.
//
// Cost per call with n = len(logits): O(n) to copy and bias the logits,
// O(window) for penalties, and expected O(n) for top-k and top-p, which use
// quickselect-style partial selection rather than a sort (worst case
// O(n log n)). A Sampler allocates only on its first call or when the vocabulary
// grows; afterwards Sample does not allocate.
//
// [StopMatcher] handles stop strings in streamed text, and [LogSoftmax],
// [LogSumExp] and [TopLogprobs] compute log-probabilities for APIs that
// report them.
package sample

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Options configures a [Sampler]. The zero value is greedy decoding with
// every filter and penalty off.
type Options struct {
	// Temperature divides the logits before sampling; 0 means greedy
	// decoding (argmax, ties to the lowest id). Must be >= 0.
	Temperature float32
	// TopK keeps only the K most likely tokens; 0 means off. Must be >= 0.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// mass is at least TopP; 0 or 1 means off. Must be in [0, 1].
	TopP float32
	// MinP drops tokens less likely than MinP times the most likely one;
	// 0 means off. Must be in [0, 1].
	MinP float32
	// RepeatPenalty divides positive and multiplies negative logits of the
	// tokens in the penalty window (HF repetition_penalty, llama.cpp
	// repeat_penalty); 0 or 1 means off. Must be >= 0.
	RepeatPenalty float32
	// RepeatLastN is the size of the penalty window, in tokens at the end of
	// the history; 0 means the default of 64 and -1 the whole history.
	RepeatLastN int
	// FrequencyPenalty is subtracted once per occurrence of a token in the
	// penalty window (OpenAI frequency_penalty); 0 means off.
	FrequencyPenalty float32
	// PresencePenalty is subtracted once from every token that occurs in the
	// penalty window (OpenAI presence_penalty); 0 means off.
	PresencePenalty float32
	// Seed seeds the sampler's random stream; every value, 0 included, is a
	// valid seed. Equal seeds give equal streams.
	Seed uint64
	// LogitBias is added to the logits of the given token ids (OpenAI
	// logit_bias). A bias of -Inf bans a token; ids at or past the
	// vocabulary size are ignored. Values must not be NaN or +Inf, keys
	// must be >= 0.
	LogitBias map[int]float32
}

// DefaultRepeatLastN is the penalty window used when Options.RepeatLastN is 0.
const DefaultRepeatLastN = 64

// DefaultOptions returns llama.cpp's default sampling settings: temperature
// 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition, frequency or
// presence penalty (repeat penalty 1.0), a 64-token penalty window and seed 0.
func DefaultOptions() Options {
	return Options{
		Temperature:   0.8,
		TopK:          40,
		TopP:          0.95,
		MinP:          0.05,
		RepeatPenalty: 1,
		RepeatLastN:   DefaultRepeatLastN,
	}
}

// Validate reports the first option that is out of range, naming the field.
func (o Options) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("sample: Options.%s = %v: %s", field, v, want)
	}
	switch {
	case math.IsNaN(float64(o.Temperature)) || o.Temperature < 0 || math.IsInf(float64(o.Temperature), 0):
		return bad("Temperature", o.Temperature, "must be a finite number >= 0 (0 = greedy)")
	case o.TopK < 0:
		return bad("TopK", o.TopK, "must be >= 0 (0 = off)")
	case !(o.TopP >= 0 && o.TopP <= 1):
		return bad("TopP", o.TopP, "must be in [0, 1] (0 or 1 = off)")
	case !(o.MinP >= 0 && o.MinP <= 1):
		return bad("MinP", o.MinP, "must be in [0, 1] (0 = off)")
	case !(o.RepeatPenalty >= 0) || math.IsInf(float64(o.RepeatPenalty), 0):
		return bad("RepeatPenalty", o.RepeatPenalty, "must be a finite number >= 0 (0 or 1 = off)")
	case o.RepeatLastN < -1:
		return bad("RepeatLastN", o.RepeatLastN, "must be >= -1 (0 = 64, -1 = whole history)")
	case math.IsNaN(float64(o.FrequencyPenalty)) || math.IsInf(float64(o.FrequencyPenalty), 0):
		return bad("FrequencyPenalty", o.FrequencyPenalty, "must be finite")
	case math.IsNaN(float64(o.PresencePenalty)) || math.IsInf(float64(o.PresencePenalty), 0):
		return bad("PresencePenalty", o.PresencePenalty, "must be finite")
	}
	for id, b := range o.LogitBias {
		if id < 0 {
			return fmt.Errorf("sample: Options.LogitBias[%d]: token id must be >= 0", id)
		}
		if math.IsNaN(float64(b)) || math.IsInf(float64(b), 1) {
			return fmt.Errorf("sample: Options.LogitBias[%d] = %v: must be a number below +Inf", id, b)
		}
	}
	return nil
}

// ErrNoCandidates is returned by [Sampler.Sample] when every token has a
// logit of -Inf after logit bias and penalties, so nothing can be chosen.
var ErrNoCandidates = errors.New("sample: every token is masked (all logits are -Inf)")

type bias struct {
	id int
	b  float32
}

// Sampler draws tokens according to its [Options]. It keeps scratch buffers
// and a random stream, so it is not safe for concurrent use: give each
// sequence its own Sampler.
type Sampler struct {
	o      Options
	biases []bias // LogitBias as a slice sorted by id
	window int    // penalty window, -1 = all
	rng    rng

	buf     []float32 // processed logits
	cands   []cand
	counts  []int32 // occurrences per token id in the window; zero between calls
	touched []int32 // ids with a non-zero count
}

// New returns a Sampler for o, or an error naming the first invalid option.
func New(o Options) (*Sampler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &Sampler{o: o, rng: newRNG(o.Seed), window: o.RepeatLastN}
	if s.window == 0 {
		s.window = DefaultRepeatLastN
	}
	for id, b := range o.LogitBias {
		s.biases = append(s.biases, bias{id, b})
	}
	slices.SortFunc(s.biases, func(a, b bias) int { return a.id - b.id })
	if s.o.TopP == 0 {
		s.o.TopP = 1
	}
	if s.o.RepeatPenalty == 0 {
		s.o.RepeatPenalty = 1
	}
	return s, nil
}

// Options returns the options the Sampler was created with, with the
// "off" spellings normalised (TopP 0 becomes 1, RepeatPenalty 0 becomes 1).
func (s *Sampler) Options() Options { return s.o }

// Reseed restarts the random stream as if the Sampler had been created with
// Options.Seed = seed.
func (s *Sampler) Reseed(seed uint64) {
	s.o.Seed = seed
	s.rng = newRNG(seed)
}

// Sample returns the id of the next token given the model's logits for the
// last position and the token history (typically prompt plus generated
// tokens, oldest first) that the penalties look at. logits and history are
// not modified; history ids outside [0, len(logits)) are ignored.
//
// It returns an error if logits is empty, contains NaN or +Inf, or if every
// token ends up masked ([ErrNoCandidates]).
func (s *Sampler) Sample(logits []float32, history []int) (int, error) {
	c, greedy, err := s.filter(logits, history)
	if err != nil || greedy >= 0 {
		return greedy, err
	}
	// 9. Draw, walking the candidates in their (deterministic) order.
	z := 0.0
	for i := range c {
		z += c[i].w
	}
	u := float64(s.rng.float64() * z)
	for _, x := range c {
		u -= x.w
		if u < 0 {
			return int(x.id), nil
		}
	}
	return int(c[len(c)-1].id), nil // u ran past z by rounding
}

// filter runs steps 1-8 of the pipeline. In greedy mode it returns the
// chosen id; otherwise it returns greedy = -1 and the surviving candidates
// with their unnormalised weights (the most likely has weight 1).
func (s *Sampler) filter(logits []float32, history []int) (c []cand, greedy int, err error) {
	n := len(logits)
	if n == 0 {
		return nil, 0, errors.New("sample: empty logits")
	}
	if n > math.MaxInt32 {
		return nil, 0, fmt.Errorf("sample: vocabulary of %d tokens is too large", n)
	}
	if cap(s.buf) < n {
		s.buf = make([]float32, n)
		s.cands = make([]cand, n)
		s.counts = make([]int32, n)
	}
	buf := s.buf[:n]
	posInf := float32(math.Inf(1))
	for i, l := range logits {
		if !(l < posInf) { // NaN or +Inf
			return nil, 0, fmt.Errorf("sample: logit of token %d is %v", i, l)
		}
		buf[i] = l
	}

	// 1. Logit bias.
	for _, b := range s.biases {
		if b.id < n {
			buf[b.id] += b.b
		}
	}

	// 2, 3. Penalties.
	s.applyPenalties(buf, history)

	// 4. Greedy.
	if s.o.Temperature == 0 {
		best, bestLogit := -1, float32(math.Inf(-1))
		for i, l := range buf {
			if l > bestLogit { // strict: ties keep the lowest id, -Inf never wins
				best, bestLogit = i, l
			}
		}
		if best < 0 {
			return nil, 0, ErrNoCandidates
		}
		return nil, best, nil
	}

	c = s.cands[:0]
	lmax := float32(math.Inf(-1))
	for i, l := range buf {
		if l > float32(math.Inf(-1)) {
			c = append(c, cand{id: int32(i), logit: l})
			if l > lmax {
				lmax = l
			}
		}
	}
	if len(c) == 0 {
		return nil, 0, ErrNoCandidates
	}

	// 6. Top-k (temperature does not change the order, so it can come first).
	if k := s.o.TopK; k > 0 && k < len(c) {
		selectTopK(c, k)
		c = c[:k]
	}

	// 5. Temperature: weights exp((l - max) / T), the max having weight 1.
	invT := 1 / float64(s.o.Temperature)
	z := 0.0
	for i := range c {
		// Explicit conversions round each step, so no platform fuses them
		// into an FMA: the weights are bit-identical everywhere.
		c[i].w = expNeg(float64(float64(float64(c[i].logit)-float64(lmax)) * invT))
		z += c[i].w
	}

	// 7. Top-p, with a relative tolerance of 1e-6 for rounding.
	if p := float64(s.o.TopP); p < 1 && len(c) > 1 {
		c = c[:selectMass(c, float64(float64(p*z)*(1-1e-6)))]
	}

	// 8. Min-p: the most likely token has weight 1, so the cut is MinP.
	if mp := float64(s.o.MinP); mp > 0 {
		kept := c[:0]
		for _, x := range c {
			if x.w >= mp {
				kept = append(kept, x)
			}
		}
		c = kept
	}
	return c, -1, nil
}

// applyPenalties applies the repetition, frequency and presence penalties
// to buf for the tokens in the penalty window of history.
func (s *Sampler) applyPenalties(buf []float32, history []int) {
	rp, fp, pp := s.o.RepeatPenalty, s.o.FrequencyPenalty, s.o.PresencePenalty
	if (rp == 1 && fp == 0 && pp == 0) || len(history) == 0 {
		return
	}
	win := history
	if s.window >= 0 && len(win) > s.window {
		win = win[len(win)-s.window:]
	}
	n := len(buf)
	touched := s.touched[:0]
	for _, id := range win {
		if id < 0 || id >= n {
			continue
		}
		if s.counts[id] == 0 {
			touched = append(touched, int32(id))
		}
		s.counts[id]++
	}
	for _, id := range touched {
		l := buf[id]
		if rp != 1 {
			if l > 0 {
				l /= rp
			} else {
				l *= rp
			}
		}
		cnt := s.counts[id]
		l -= float32(float32(cnt) * fp)
		l -= pp
		buf[id] = l
		s.counts[id] = 0
	}
	s.touched = touched
}
