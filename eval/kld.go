package eval

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/decilm/decilm/model"
)

// This file measures how far a quantized model's next-token distributions are from a base
// model's, as llama-perplexity --kl-divergence-base / --kl-divergence do, with llama.cpp's
// base file format, so that a base file written by either tool serves both.
//
// The text is cut into chunks of Ctx tokens; each chunk is evaluated from a fresh context
// with its first token replaced by BOS, and the distributions at positions Ctx/2 .. Ctx−2
// (predicting tokens Ctx/2+1 .. Ctx−1) are compared.
//
// Base file layout (little-endian): "_logits_"; uint32 Ctx; int32 vocabulary size V; int32
// chunk count; Chunks·Ctx int32 tokens; then per chunk, per compared position, V+4 (rounded
// up to even) uint16: float32 scale and float32 minimum log-probability, then each token's
// log-probability quantized to 16 bits over a range of 16 nats below the largest.

// LogitsFunc returns the logits of positions first .. len(tokens)−1 of a token sequence
// evaluated from an empty context: (len(tokens)−first)·V values.
type LogitsFunc func(ctx context.Context, tokens []int, first int) ([]float32, error)

// ModelLogits is the LogitsFunc of a transformer: one Forward pass over the sequence.
func ModelLogits(m *model.Model) LogitsFunc {
	var cache *model.Cache
	return func(ctx context.Context, tokens []int, first int) ([]float32, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if cache == nil || cache.MaxLen() < len(tokens) {
			cache = model.NewCache(m.Config, len(tokens))
		}
		cache.Truncate(0, 0)
		var b model.Batch
		for p, t := range tokens {
			b.Add(0, p, t, p >= first)
		}
		out, err := m.Forward(&b, cache)
		if err != nil {
			return nil, err
		}
		return append([]float32(nil), out...), nil
	}
}

// KLBase describes a base file: the chunk length, the vocabulary size and the tokens.
type KLBase struct {
	Ctx, Vocab, Chunks int
	Tokens             []int // Chunks·Ctx tokens as tokenized (before BOS replaces each chunk's first)
}

const klMagic = "_logits_"

// rowsPerChunk is the number of compared positions of a chunk of n tokens.
func rowsPerChunk(n int) int { return n - 1 - n/2 }

// rowWords is the uint16 words of one stored row for vocabulary v.
func rowWords(v int) int { return 2*((v+1)/2) + 4 }

// KLBaseOptions controls WriteKLBase.
type KLBaseOptions struct {
	// Ctx is the chunk length in tokens (llama-perplexity -c; at least 4).
	Ctx int
	// Chunks bounds the chunks used (0: as many as the tokens fill).
	Chunks int
	// BOS replaces the first token of each chunk (< 0: left as is).
	BOS int
	// Vocab is the model's vocabulary size.
	Vocab int
	// Progress, when set, is called after each chunk.
	Progress func(done, total int)
}

// WriteKLBase evaluates tokens in chunks with the base model's logits and writes the base
// file to w, returning the base model's perplexity over the compared positions.
func WriteKLBase(ctx context.Context, w io.Writer, logits LogitsFunc, tokens []int, o KLBaseOptions) (PerplexityResult, error) {
	n, chunks, err := klChunks(len(tokens), o.Ctx, o.Chunks, o.Vocab)
	if err != nil {
		return PerplexityResult{}, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	hdr := []byte(klMagic)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(n))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(o.Vocab))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(chunks))
	for _, t := range tokens[:chunks*n] {
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(int32(t)))
	}
	if _, err := bw.Write(hdr); err != nil {
		return PerplexityResult{}, err
	}
	res := PerplexityResult{Windows: chunks}
	row := make([]uint16, rowWords(o.Vocab))
	buf := make([]byte, 2*len(row))
	first := n / 2
	for c := 0; c < chunks; c++ {
		toks := chunkTokens(tokens[c*n:(c+1)*n], o.BOS)
		lg, err := logits(ctx, toks[:n-1], first)
		if err != nil {
			return PerplexityResult{}, err
		}
		if len(lg) != rowsPerChunk(n)*o.Vocab {
			return PerplexityResult{}, fmt.Errorf("kl-divergence: the model gave %d logits for %d rows of %d", len(lg), rowsPerChunk(n), o.Vocab)
		}
		for i := 0; i < rowsPerChunk(n); i++ {
			nll := quantizeLogProbs(row, lg[i*o.Vocab:(i+1)*o.Vocab], toks[first+i+1])
			res.LogLikelihood -= nll
			res.Tokens++
			for j, v := range row {
				binary.LittleEndian.PutUint16(buf[2*j:], v)
			}
			if _, err := bw.Write(buf); err != nil {
				return PerplexityResult{}, err
			}
		}
		if o.Progress != nil {
			o.Progress(c+1, chunks)
		}
	}
	res.Perplexity = math.Exp(-res.LogLikelihood / float64(res.Tokens))
	return res, bw.Flush()
}

// klChunks checks the chunking of n tokens into chunks of ctx and returns ctx and the
// chunk count.
func klChunks(tokens, ctx, limit, vocab int) (int, int, error) {
	if ctx < 4 {
		return 0, 0, fmt.Errorf("kl-divergence: context %d is too short (at least 4 tokens)", ctx)
	}
	if vocab < 1 {
		return 0, 0, fmt.Errorf("kl-divergence: vocabulary size %d", vocab)
	}
	chunks := tokens / ctx
	if limit > 0 {
		chunks = min(chunks, limit)
	}
	if chunks < 1 {
		return 0, 0, fmt.Errorf("kl-divergence: the text has %d tokens, fewer than one chunk of %d", tokens, ctx)
	}
	return ctx, chunks, nil
}

// chunkTokens returns a copy of a chunk with its first token replaced by bos (if ≥ 0).
func chunkTokens(c []int, bos int) []int {
	t := append([]int(nil), c...)
	if bos >= 0 {
		t[0] = bos
	}
	return t
}

// roundEven rounds to the nearest integer, halves to even (ggml's nearest_int).
func roundEven(x float32) int { return int(math.RoundToEven(float64(x))) }

// quantizeLogProbs stores a row's log-probabilities as llama-perplexity does and returns
// the negative log-likelihood of token tok.
func quantizeLogProbs(out []uint16, logits []float32, tok int) float64 {
	mx, mn := logits[0], logits[0]
	for _, v := range logits[1:] {
		mx, mn = max(mx, v), min(mn, v)
	}
	mn = max(mn, mx-16)
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	lse := float32(math.Log(sum))
	minLogProb := mn - mx - lse
	scale := (mx - mn) / 65535
	putF32Words(out[0:2], scale)
	putF32Words(out[2:4], minLogProb)
	q := out[4 : 4+len(logits)]
	if scale != 0 {
		inv := 1 / scale
		for i, v := range logits {
			if v > mn {
				q[i] = uint16(min(roundEven(inv*(v-mn)), 65535))
			} else {
				q[i] = 0
			}
		}
	} else {
		clear(q)
	}
	clear(out[4+len(logits):])
	return float64(mx + lse - logits[tok])
}

// putF32Words stores a float32 in two little-endian uint16 words, as a C float laid over
// them.
func putF32Words(w []uint16, v float32) {
	b := math.Float32bits(v)
	w[0], w[1] = uint16(b), uint16(b>>16)
}

// f32Words reads a float32 stored by putF32Words.
func f32Words(w []uint16) float32 { return math.Float32frombits(uint32(w[0]) | uint32(w[1])<<16) }

// KLResult holds llama-perplexity --kl-divergence's statistics.
type KLResult struct {
	Tokens int // compared positions
	// PPL and PPLBase are the perplexities of the model and the base over the positions,
	// with their uncertainties; PPLRatio is PPL/PPLBase.
	PPL, PPLErr, PPLBase, PPLBaseErr, PPLRatio, PPLRatioErr float64
	// LogPPLRatio is ln(PPL/PPLBase) and its uncertainty.
	LogPPLRatio, LogPPLRatioErr float64
	// KLD statistics of the per-position divergence KL(base ‖ model).
	KLDMean, KLDMeanErr                                         float64
	KLDMax, KLD999, KLD99, KLDMedian, KLD10, KLD5, KLD1, KLDMin float64
	// SameTop is the fraction of positions whose most likely token is the base's.
	SameTop, SameTopErr float64
	// RMSDeltaP is the root mean square of the change in the probability of the right token.
	RMSDeltaP, RMSDeltaPErr float64
}

// maxKLCtx and maxKLVocab bound what a base file's header may ask for.
const (
	maxKLCtx   = 1 << 20
	maxKLVocab = 1 << 24
)

// ReadKLBaseHeader reads a base file's header from r, whose total size is size bytes, and
// checks that the file holds exactly the rows the header announces.
func ReadKLBaseHeader(r io.Reader, size int64) (*KLBase, error) {
	var h [20]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("kl-divergence base: header: %w", err)
	}
	if string(h[:8]) != klMagic {
		return nil, errors.New("kl-divergence base: not a log-probability file (no _logits_ magic)")
	}
	n := int64(binary.LittleEndian.Uint32(h[8:]))
	v := int64(int32(binary.LittleEndian.Uint32(h[12:])))
	c := int64(int32(binary.LittleEndian.Uint32(h[16:])))
	if n < 4 || n > maxKLCtx {
		return nil, fmt.Errorf("kl-divergence base: context %d is not in [4, %d]", n, maxKLCtx)
	}
	if v < 1 || v > maxKLVocab {
		return nil, fmt.Errorf("kl-divergence base: vocabulary size %d is not in [1, %d]", v, maxKLVocab)
	}
	if c < 1 {
		return nil, fmt.Errorf("kl-divergence base: chunk count %d", c)
	}
	perChunk := 4*n + 2*int64(rowsPerChunk(int(n)))*int64(rowWords(int(v)))
	if c > (size-20)/perChunk || 20+c*perChunk != size {
		return nil, fmt.Errorf("kl-divergence base: %d chunks of %d tokens over a vocabulary of %d need %d bytes, the file has %d", c, n, v, 20+c*perChunk, size)
	}
	b := &KLBase{Ctx: int(n), Vocab: int(v), Chunks: int(c), Tokens: make([]int, n*c)}
	raw := make([]byte, 4*n*c)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("kl-divergence base: tokens: %w", err)
	}
	for i := range b.Tokens {
		t := int(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		if t < 0 || t >= int(v) {
			return nil, fmt.Errorf("kl-divergence base: token %d is %d, outside the vocabulary of %d", i, t, v)
		}
		b.Tokens[i] = t
	}
	return b, nil
}

// KLOptions controls KLDivergence.
type KLOptions struct {
	// BOS replaces the first token of each chunk (< 0: left as is).
	BOS int
	// Vocab is the model's vocabulary size, which must be the base file's.
	Vocab int
	// MaxCtx is the model's context length; the base file's chunks must fit it.
	MaxCtx int
	// Progress, when set, is called after each chunk.
	Progress func(done, total int)
}

// KLDivergence reads a base file (size bytes) from r, evaluates its chunks with logits and
// returns llama-perplexity --kl-divergence's statistics of the model against the base.
func KLDivergence(ctx context.Context, r io.Reader, size int64, logits LogitsFunc, o KLOptions) (KLResult, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	base, err := ReadKLBaseHeader(br, size)
	if err != nil {
		return KLResult{}, err
	}
	if base.Vocab != o.Vocab {
		return KLResult{}, fmt.Errorf("kl-divergence base: vocabulary of %d tokens, the model has %d", base.Vocab, o.Vocab)
	}
	if o.MaxCtx > 0 && base.Ctx > o.MaxCtx {
		return KLResult{}, fmt.Errorf("kl-divergence base: chunks of %d tokens exceed the model's context of %d", base.Ctx, o.MaxCtx)
	}
	n, V := base.Ctx, base.Vocab
	first, rows := n/2, rowsPerChunk(n)
	words := rowWords(V)
	buf := make([]byte, 2*words)
	row := make([]uint16, words)
	var acc klAcc
	kld := make([]float64, 0, rows*base.Chunks)
	for c := 0; c < base.Chunks; c++ {
		toks := chunkTokens(base.Tokens[c*n:(c+1)*n], o.BOS)
		lg, err := logits(ctx, toks[:n-1], first)
		if err != nil {
			return KLResult{}, err
		}
		if len(lg) != rows*V {
			return KLResult{}, fmt.Errorf("kl-divergence: the model gave %d logits for %d rows of %d", len(lg), rows, V)
		}
		for i := 0; i < rows; i++ {
			if _, err := io.ReadFull(br, buf); err != nil {
				return KLResult{}, fmt.Errorf("kl-divergence base: chunk %d row %d: %w", c, i, err)
			}
			for j := range row {
				row[j] = binary.LittleEndian.Uint16(buf[2*j:])
			}
			kld = append(kld, acc.add(lg[i*V:(i+1)*V], row, toks[first+i+1]))
		}
		if o.Progress != nil {
			o.Progress(c+1, base.Chunks)
		}
	}
	return acc.result(kld), nil
}

// klAcc accumulates llama.cpp's kl_divergence_result sums.
type klAcc struct {
	nll, nll2, nllBase, nllBase2, nllNllBase float64
	kld, kld2, pd, pd2, pd4                  float64
	sameTop, count                           int
}

// add compares one position: the model's logits against the base's stored row, tok the
// token that follows. It returns the position's KL divergence.
func (a *klAcc) add(logits []float32, row []uint16, tok int) float64 {
	mx, imax := logits[0], 0
	for i, v := range logits {
		if v > mx {
			mx, imax = v, i
		}
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v - mx))
	}
	lse := float32(math.Log(sum))
	scale, minLP := f32Words(row[0:2]), f32Words(row[2:4])
	q := row[4:]
	nll := float64(mx + lse - logits[tok])
	nllBase := -float64(scale*float32(q[tok]) + minLP)
	a.nll += nll
	a.nll2 += nll * nll
	a.nllBase += nllBase
	a.nllBase2 += nllBase * nllBase
	a.nllNllBase += nll * nllBase
	norm := mx + lse
	var kl float64
	imaxBase, best := -1, float32(0)
	for i, v := range logits {
		lb := scale*float32(q[i]) + minLP
		if i == 0 || lb > best {
			best, imaxBase = lb, i
		}
		if lb > -16 {
			kl += math.Exp(float64(lb)) * float64(lb-v+norm)
		}
	}
	a.kld += kl
	a.kld2 += kl * kl
	a.count++
	if imax == imaxBase {
		a.sameTop++
	}
	d := math.Exp(-nll) - math.Exp(-nllBase)
	a.pd += d
	a.pd2 += d * d
	a.pd4 += d * d * d * d
	return kl
}

// meanErr is llama.cpp's mean and standard error of the mean from sums.
func meanErr(sum, sum2 float64, n int) (float64, float64) {
	if n < 1 {
		return 0, 0
	}
	f := sum / float64(n)
	df := sum2/float64(n) - f*f
	if df > 0 && n > 10 {
		return f, math.Sqrt(df / float64(n-1))
	}
	return f, 0
}

// percentile interpolates linearly between the sorted values, as llama.cpp does.
func percentile(v []float64, f float64) float64 {
	if f <= 0 {
		return v[0]
	}
	if f >= 1 {
		return v[len(v)-1]
	}
	p := f * float64(len(v)-1)
	i := int(p)
	p -= float64(i)
	return (1-p)*v[i] + p*v[min(i+1, len(v)-1)]
}

func (a *klAcc) result(kld []float64) KLResult {
	var r KLResult
	r.Tokens = a.count
	if a.count == 0 {
		return r
	}
	lp, lpErr := meanErr(a.nll, a.nll2, a.count)
	lb, lbErr := meanErr(a.nllBase, a.nllBase2, a.count)
	r.PPL, r.PPLErr = math.Exp(lp), math.Exp(lp)*lpErr
	r.PPLBase, r.PPLBaseErr = math.Exp(lb), math.Exp(lb)*lbErr
	var cov float64
	if a.count >= 10 {
		n := float64(a.count)
		cov = (a.nllNllBase/n - (a.nll/n)*(a.nllBase/n)) / (n - 1)
	}
	r.LogPPLRatio = lp - lb
	r.LogPPLRatioErr = math.Sqrt(max(lpErr*lpErr+lbErr*lbErr-2*cov, 0))
	r.PPLRatio = math.Exp(r.LogPPLRatio)
	r.PPLRatioErr = r.PPLRatio * r.LogPPLRatioErr
	r.KLDMean, r.KLDMeanErr = meanErr(a.kld, a.kld2, a.count)
	sort.Float64s(kld)
	r.KLDMax, r.KLDMin = kld[len(kld)-1], kld[0]
	if len(kld)%2 == 0 {
		r.KLDMedian = 0.5 * (kld[len(kld)/2] + kld[len(kld)/2-1])
	} else {
		r.KLDMedian = kld[len(kld)/2]
	}
	r.KLD999, r.KLD99 = percentile(kld, 0.999), percentile(kld, 0.99)
	r.KLD10, r.KLD5, r.KLD1 = percentile(kld, 0.10), percentile(kld, 0.05), percentile(kld, 0.01)
	r.SameTop = float64(a.sameTop) / float64(a.count)
	if a.count > 1 {
		r.SameTopErr = math.Sqrt(r.SameTop * (1 - r.SameTop) / float64(a.count-1))
	}
	mse, mseErr := meanErr(a.pd2, a.pd4, a.count)
	r.RMSDeltaP = math.Sqrt(mse)
	if r.RMSDeltaP > 0 {
		r.RMSDeltaPErr = 0.5 / r.RMSDeltaP * mseErr
	}
	return r
}

// WriteText prints the statistics in llama-perplexity's layout.
func (r KLResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, `====== Perplexity statistics ======
Mean PPL(Q)                   : %10.6f ± %10.6f
Mean PPL(base)                : %10.6f ± %10.6f
Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f
Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f

====== KL divergence statistics ======
Mean    KLD: %10.6f ± %10.6f
Maximum KLD: %10.6f
99.9%%   KLD: %10.6f
99.0%%   KLD: %10.6f
Median  KLD: %10.6f
10.0%%   KLD: %10.6f
 5.0%%   KLD: %10.6f
 1.0%%   KLD: %10.6f
Minimum KLD: %10.6f

====== Token probability statistics ======
RMS Δp    : %6.3f ± %5.3f %%
Same top p: %6.3f ± %5.3f %%
`, r.PPL, r.PPLErr, r.PPLBase, r.PPLBaseErr, r.LogPPLRatio, r.LogPPLRatioErr, r.PPLRatio, r.PPLRatioErr,
		r.KLDMean, r.KLDMeanErr, r.KLDMax, r.KLD999, r.KLD99, r.KLDMedian, r.KLD10, r.KLD5, r.KLD1, r.KLDMin,
		100*r.RMSDeltaP, 100*r.RMSDeltaPErr, 100*r.SameTop, 100*r.SameTopErr)
	return err
}
