package eval

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
)

// Tokenizer encodes text to token ids. addBOS asks for the beginning-of-sequence token in
// front, as a Hugging Face tokenizer's add_special_tokens does for Llama; Encode("", true)
// must return just the BOS id (it is the context of an empty-context request).
type Tokenizer interface {
	Encode(text string, addBOS bool) []int
}

// TokenizerFunc adapts a function to the Tokenizer interface, e.g. decilm's tokenizer:
//
//	eval.TokenizerFunc(func(s string, bos bool) []int {
//		o := tok.DefaultOptions()
//		o.AddBOS = bos
//		return tok.Encode(s, o)
//	})
type TokenizerFunc func(text string, addBOS bool) []int

// Encode calls f.
func (f TokenizerFunc) Encode(text string, addBOS bool) []int { return f(text, addBOS) }

// TokenRequest is a Request after tokenization: the model reads Context followed by
// Continuation minus its last token, starting at position 0, and the log-probabilities of
// the Continuation tokens are summed. Context is never empty.
type TokenRequest struct {
	// Context and Continuation are token ids; scorers must not modify them (requests
	// of one item share their Context slice).
	Context, Continuation []int
}

// Result is a scorer's answer for one TokenRequest: the summed log-probability (natural
// log) of the continuation, and whether every continuation token is the argmax of its
// position's distribution (greedy decoding would produce it).
type Result struct {
	// LogLikelihood is Σ log p(continuation token | everything before it).
	LogLikelihood float64
	// IsGreedy is true when each continuation token is its position's argmax.
	IsGreedy bool
}

// Scorer computes log-likelihoods. The model-backed scorer batches the requests it is
// given and computes a context shared by several of them once; for the same request it
// must give the same result whatever else is in the batch. Results are in request order.
type Scorer interface {
	LogLikelihood(ctx context.Context, reqs []TokenRequest) ([]Result, error)
}

// ScorerFunc adapts a function to the Scorer interface.
type ScorerFunc func(ctx context.Context, reqs []TokenRequest) ([]Result, error)

// LogLikelihood calls f.
func (f ScorerFunc) LogLikelihood(ctx context.Context, reqs []TokenRequest) ([]Result, error) {
	return f(ctx, reqs)
}

// EncodeOptions controls how a Request becomes a TokenRequest.
type EncodeOptions struct {
	// NoBOS encodes without the BOS token, as lm-evaluation-harness v0.4.9.1 and earlier
	// did; by default the tokenizer's BOS is prepended (v0.4.9.2 and later, for Llama).
	NoBOS bool
	// MaxLength is the model's context window; 0 means no truncation.
	MaxLength int
}

// Encode tokenizes a request as lm-evaluation-harness does for causal models:
//   - trailing whitespace of the context moves to the front of the continuation;
//   - the whole string and the context are encoded separately (each with BOS unless
//     NoBOS), and the continuation's tokens are the whole's tokens past the context's
//     length;
//   - an empty context becomes the BOS token alone, and the continuation is encoded
//     without BOS (if it starts with BOS anyway, that token becomes the context);
//   - when MaxLength > 0 and the request is longer than MaxLength+1 tokens, the context
//     loses tokens from its left so that MaxLength+1 remain (the model reads MaxLength).
//
// It fails when the continuation has no tokens or more than MaxLength.
func Encode(tok Tokenizer, r Request, opts EncodeOptions) (TokenRequest, error) {
	var tr TokenRequest
	if r.Context == "" {
		bos := tok.Encode("", true)
		if len(bos) != 1 {
			return tr, fmt.Errorf("empty context needs a BOS token: the tokenizer gives %d tokens for \"\" with BOS", len(bos))
		}
		cont := tok.Encode(r.Continuation, false)
		if len(cont) > 0 && cont[0] == bos[0] {
			tr = TokenRequest{Context: cont[:1], Continuation: cont[1:]}
		} else {
			tr = TokenRequest{Context: bos, Continuation: cont}
		}
	} else {
		ctx, cont := r.Context, r.Continuation
		trimmed := strings.TrimRightFunc(ctx, pyIsSpace)
		if len(trimmed) < len(ctx) {
			cont = ctx[len(trimmed):] + cont
			ctx = trimmed
		}
		addBOS := !opts.NoBOS
		whole := tok.Encode(ctx+cont, addBOS)
		c := tok.Encode(ctx, addBOS)
		if len(c) > len(whole) {
			return tr, fmt.Errorf("context encodes to %d tokens, more than context+continuation (%d)", len(c), len(whole))
		}
		if len(c) == 0 {
			// a context of only whitespace without BOS: nothing to condition on
			return tr, fmt.Errorf("context %q encodes to no tokens", r.Context)
		}
		tr = TokenRequest{Context: c, Continuation: whole[len(c):]}
	}
	if len(tr.Continuation) == 0 {
		return tr, fmt.Errorf("continuation %q encodes to no tokens", r.Continuation)
	}
	if opts.MaxLength > 0 {
		if len(tr.Continuation) > opts.MaxLength {
			return tr, fmt.Errorf("continuation of %d tokens does not fit the context window of %d", len(tr.Continuation), opts.MaxLength)
		}
		if keep := opts.MaxLength + 1 - len(tr.Continuation); len(tr.Context) > keep {
			tr.Context = tr.Context[len(tr.Context)-keep:]
		}
	}
	return tr, nil
}

// PerplexityWindows cuts a token sequence into the sliding windows of Hugging Face's
// perplexity guide: windows of at most ctx tokens starting every stride tokens; in each,
// only the tokens not scored by an earlier window count (the last stride tokens; all but
// the first token in the first window), the rest of the window is their context. With
// stride < ctx every token but the very first is scored exactly once; with stride == ctx
// (disjoint windows) the first token of each window has no context and is not scored, as
// in the guide. The token-weighted perplexity is exp(−Σ log-likelihoods / Σ scored tokens).
// It needs 0 < stride <= ctx, ctx >= 2 and at least two tokens.
func PerplexityWindows(tokens []int, ctx, stride int) ([]TokenRequest, error) {
	if ctx < 2 || stride <= 0 || stride > ctx {
		return nil, fmt.Errorf("perplexity: need 0 < stride <= ctx and ctx >= 2, have ctx %d stride %d", ctx, stride)
	}
	if len(tokens) < 2 {
		return nil, fmt.Errorf("perplexity: need at least 2 tokens, have %d", len(tokens))
	}
	var out []TokenRequest
	prevEnd := 0
	for begin := 0; begin < len(tokens); begin += stride {
		end := min(begin+ctx, len(tokens))
		trg := end - prevEnd
		split := end - trg
		if split == begin { // first window: the first token has no prediction
			split = begin + 1
		}
		out = append(out, TokenRequest{Context: tokens[begin:split], Continuation: tokens[split:end]})
		prevEnd = end
		if end == len(tokens) {
			break
		}
	}
	return out, nil
}

// PerplexityOptions controls Perplexity.
type PerplexityOptions struct {
	// Window is the context window in tokens and Stride the step between windows (see
	// PerplexityWindows); Stride 0 means Window / 2.
	Window, Stride int
	// Batch is how many windows go to the Scorer in one call (default 8).
	Batch int
	// Progress, when set, is called after each Scorer call with the windows done.
	Progress func(done, total int)
}

// PerplexityResult is the outcome of Perplexity.
type PerplexityResult struct {
	// Perplexity is exp(−LogLikelihood / Tokens).
	Perplexity float64
	// LogLikelihood is the summed log-probability of the scored tokens.
	LogLikelihood float64
	// Tokens is the number of tokens scored; Windows the number of windows.
	Tokens, Windows int
}

// Perplexity scores a token sequence in the sliding windows of PerplexityWindows and
// returns its token-weighted perplexity, as llama-perplexity and Hugging Face's
// perplexity guide compute it.
func Perplexity(ctx context.Context, sc Scorer, tokens []int, opts PerplexityOptions) (PerplexityResult, error) {
	stride := opts.Stride
	if stride == 0 {
		stride = max(opts.Window/2, 1)
	}
	batch := opts.Batch
	if batch <= 0 {
		batch = 8
	}
	reqs, err := PerplexityWindows(tokens, opts.Window, stride)
	if err != nil {
		return PerplexityResult{}, err
	}
	res := PerplexityResult{Windows: len(reqs)}
	for start := 0; start < len(reqs); start += batch {
		chunk := reqs[start:min(start+batch, len(reqs))]
		out, err := sc.LogLikelihood(ctx, chunk)
		if err != nil {
			return PerplexityResult{}, err
		}
		if len(out) != len(chunk) {
			return PerplexityResult{}, fmt.Errorf("perplexity: scorer returned %d results for %d windows", len(out), len(chunk))
		}
		for i, r := range out {
			res.LogLikelihood += r.LogLikelihood
			res.Tokens += len(chunk[i].Continuation)
		}
		if opts.Progress != nil {
			opts.Progress(start+len(chunk), len(reqs))
		}
	}
	res.Perplexity = expNeg(res.LogLikelihood / float64(res.Tokens))
	return res, nil
}

// GroupByContext groups request indices by identical Context tokens, groups in order of
// first appearance and indices ascending: the choices of a multiple-choice item share
// their context, which a scorer can then run through the model once and reuse (its KV
// cache) for each continuation.
func GroupByContext(reqs []TokenRequest) [][]int {
	var groups [][]int
	seen := map[string]int{}
	for i, r := range reqs {
		key := tokenKey(r.Context)
		g, ok := seen[key]
		if !ok {
			g = len(groups)
			seen[key] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

func tokenKey(ids []int) string {
	b := make([]byte, 0, 3*len(ids))
	for _, id := range ids {
		b = binary.AppendVarint(b, int64(id))
	}
	return string(b)
}
