package eval

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"math/rand"
	"strings"
	"testing"
)

// fakeLogits returns a LogitsFunc whose logits depend on the position and the previous
// token, plus noise of size noise drawn from seed: two such functions with different noise
// are a base model and a perturbed one.
func fakeLogits(vocab int, noise float64, seed int64) LogitsFunc {
	return func(_ context.Context, tokens []int, first int) ([]float32, error) {
		out := make([]float32, 0, (len(tokens)-first)*vocab)
		for p := first; p < len(tokens); p++ {
			rng := rand.New(rand.NewSource(seed*1_000_003 + int64(p*7919+tokens[p])))
			for v := 0; v < vocab; v++ {
				base := 3 * math.Sin(float64(v*13+tokens[p]*5+p))
				out = append(out, float32(base+noise*rng.NormFloat64()))
			}
		}
		return out, nil
	}
}

// exactKL is KL(p‖q) and whether the argmaxes agree, from two rows of logits in float64.
func exactKL(p, q []float32) (float64, bool) {
	lp, lq := logSoftmax64(p), logSoftmax64(q)
	var kl float64
	ip, iq := 0, 0
	for i := range lp {
		kl += math.Exp(lp[i]) * (lp[i] - lq[i])
		if p[i] > p[ip] {
			ip = i
		}
		if q[i] > q[iq] {
			iq = i
		}
	}
	return kl, ip == iq
}

func logSoftmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - m - math.Log(s)
	}
	return out
}

// TestKLDivergence writes a base file from one logits function and compares a perturbed one
// with it; the mean KL divergence, top-token agreement and perplexities must match a direct
// float64 computation from the two functions' logits (the base file keeps log-probabilities
// to 16 bits, hence the tolerance).
func TestKLDivergence(t *testing.T) {
	const vocab, n, bos = 50, 32, 1
	rng := rand.New(rand.NewSource(5))
	tokens := make([]int, 4*n+7)
	for i := range tokens {
		tokens[i] = rng.Intn(vocab)
	}
	base, quant := fakeLogits(vocab, 0, 1), fakeLogits(vocab, 0.5, 2)
	var buf bytes.Buffer
	ppl, err := WriteKLBase(context.Background(), &buf, base, tokens, KLBaseOptions{Ctx: n, BOS: bos, Vocab: vocab})
	if err != nil {
		t.Fatal(err)
	}
	if ppl.Windows != 4 || ppl.Tokens != 4*rowsPerChunk(n) {
		t.Fatalf("base: %d chunks, %d positions", ppl.Windows, ppl.Tokens)
	}
	res, err := KLDivergence(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), quant, KLOptions{BOS: bos, Vocab: vocab, MaxCtx: n})
	if err != nil {
		t.Fatal(err)
	}
	// The reference, straight from the logits.
	var sumKL, nllQ, nllB float64
	same, count := 0, 0
	for c := 0; c < 4; c++ {
		toks := append([]int(nil), tokens[c*n:(c+1)*n]...)
		toks[0] = bos
		lb, _ := base(context.Background(), toks[:n-1], n/2)
		lq, _ := quant(context.Background(), toks[:n-1], n/2)
		for i := 0; i < rowsPerChunk(n); i++ {
			pb, pq := lb[i*vocab:(i+1)*vocab], lq[i*vocab:(i+1)*vocab]
			kl, agree := exactKL(pb, pq)
			sumKL += kl
			if agree {
				same++
			}
			next := toks[n/2+i+1]
			nllB -= logSoftmax64(pb)[next]
			nllQ -= logSoftmax64(pq)[next]
			count++
		}
	}
	wantKL, wantSame := sumKL/float64(count), float64(same)/float64(count)
	wantRatio := math.Exp((nllQ - nllB) / float64(count))
	t.Logf("mean KLD %.6f (direct %.6f), same top %.4f (%.4f), PPL ratio %.5f (%.5f)", res.KLDMean, wantKL, res.SameTop, wantSame, res.PPLRatio, wantRatio)
	if res.Tokens != count {
		t.Errorf("%d positions, want %d", res.Tokens, count)
	}
	if math.Abs(res.KLDMean-wantKL) > 1e-3*wantKL+1e-5 {
		t.Errorf("mean KLD %.6f, direct %.6f", res.KLDMean, wantKL)
	}
	if res.SameTop != wantSame {
		t.Errorf("same top %.4f, direct %.4f", res.SameTop, wantSame)
	}
	if math.Abs(res.PPLRatio-wantRatio) > 1e-3 || math.Abs(res.PPLBase-math.Exp(nllB/float64(count))) > 1e-3*res.PPLBase {
		t.Errorf("PPL ratio %.5f (direct %.5f), base PPL %.4f (direct %.4f)", res.PPLRatio, wantRatio, res.PPLBase, math.Exp(nllB/float64(count)))
	}
	if !(res.KLDMin <= res.KLDMedian && res.KLDMedian <= res.KLD99 && res.KLD99 <= res.KLDMax) {
		t.Errorf("KLD percentiles out of order: %+v", res)
	}
	// The base against itself: no divergence beyond the 16-bit storage.
	self, err := KLDivergence(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), base, KLOptions{BOS: bos, Vocab: vocab})
	if err != nil {
		t.Fatal(err)
	}
	// (Near-ties for the top token may flip in the 16-bit copy, as in llama.cpp's files.)
	if math.Abs(self.KLDMean) > 1e-5 || self.SameTop < 0.95 || math.Abs(self.PPLRatio-1) > 1e-4 {
		t.Errorf("base against itself: KLD %.3g, same top %.4f, PPL ratio %.6f", self.KLDMean, self.SameTop, self.PPLRatio)
	}
	var out strings.Builder
	if err := res.WriteText(&out); err != nil || !strings.Contains(out.String(), "Mean    KLD:") || !strings.Contains(out.String(), "Same top p:") {
		t.Errorf("WriteText: %v\n%s", err, out.String())
	}
}

// klHeader builds a base file header for vocab v, ctx n and c chunks of zero tokens, with
// extra bytes of rows.
func klHeader(n, v, c, rowBytes int) []byte {
	b := []byte(klMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(v))
	b = binary.LittleEndian.AppendUint32(b, uint32(c))
	b = append(b, make([]byte, 4*max(n*c, 0)+rowBytes)...)
	return b
}

// rawKLHeader is a base file's 20-byte header alone.
func rawKLHeader(n, v, c int) []byte {
	return binary.LittleEndian.AppendUint32(klHeader(n, v, 0, 0)[:16:16], uint32(c))
}

func TestReadKLBaseHeaderErrors(t *testing.T) {
	good := klHeader(8, 10, 1, 2*rowsPerChunk(8)*rowWords(10))
	if _, err := ReadKLBaseHeader(bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatalf("a well-formed header: %v", err)
	}
	badTok := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badTok[20:], 99)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "header"},
		{"bad magic", append([]byte("_logitz_"), good[8:]...), "magic"},
		{"short file", good[:len(good)-2], "need"},
		{"long file", append(append([]byte(nil), good...), 0, 0), "need"},
		{"tiny context", klHeader(2, 10, 1, 0), "context 2"},
		{"huge vocabulary", klHeader(8, 1<<30, 0, 0), "vocabulary size"},
		{"no chunks", klHeader(8, 10, 0, 0), "chunk count 0"},
		{"huge chunk count", rawKLHeader(8, 10, 1<<30), "need"},
		{"token outside the vocabulary", badTok, "outside the vocabulary"},
	} {
		_, err := ReadKLBaseHeader(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// A file of another vocabulary than the model's.
	_, err := KLDivergence(context.Background(), bytes.NewReader(good), int64(len(good)), fakeLogits(11, 0, 1), KLOptions{Vocab: 11})
	if err == nil || !strings.Contains(err.Error(), "vocabulary of 10") {
		t.Errorf("vocabulary mismatch: %v", err)
	}
}

func FuzzReadKLBaseHeader(f *testing.F) {
	f.Add(klHeader(8, 10, 1, 2*rowsPerChunk(8)*rowWords(10)))
	f.Add(klHeader(4, 3, 2, 2*rowsPerChunk(4)*rowWords(3)*2))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ReadKLBaseHeader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if len(b.Tokens) != b.Ctx*b.Chunks || int64(len(data)) < int64(20+4*len(b.Tokens)) {
			t.Fatalf("accepted header of %d bytes: %d chunks of %d", len(data), b.Chunks, b.Ctx)
		}
		// The rest of the file must read through.
		_, err = KLDivergence(context.Background(), bytes.NewReader(data), int64(len(data)), fakeLogits(b.Vocab, 0, 1), KLOptions{Vocab: b.Vocab})
		if err != nil && !strings.Contains(err.Error(), "kl-divergence") {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
