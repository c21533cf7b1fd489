//go:build oracle

package quantize_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// perplexity scores toks in disjoint windows of n tokens (every token but the first of a
// window is predicted from the ones before it in the window) and returns exp of the mean
// negative log-likelihood.
func perplexity(t *testing.T, m *model.Model, toks []int, n int) float64 {
	t.Helper()
	c := model.NewCache(m.Config, n)
	V := m.Config.Vocab
	var nll float64
	var count int
	for start := 0; start+n <= len(toks); start += n {
		c.Truncate(0, 0)
		var b model.Batch
		for p := 0; p < n; p++ {
			b.Add(0, p, toks[start+p], p < n-1)
		}
		out, err := m.Forward(&b, c)
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p < n-1; p++ {
			row := out[p*V : (p+1)*V]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			var sum float64
			for _, v := range row {
				sum += math.Exp(float64(v) - mx)
			}
			nll += mx + math.Log(sum) - float64(row[toks[start+p+1]])
			count++
		}
	}
	return math.Exp(nll / float64(count))
}

// TestStoriesPerplexity measures the perplexity of the real pretrained stories260K model on
// TinyStories validation text in F32 and after quantizing to Q8_0 and Q4_0: Q8_0 must stay
// within 1% of F32, Q4_0 within 10%. QUANTIZE_PPL_CHARS sets how much of the file is used
// (default 20000 characters; 0 means all of it).
func TestStoriesPerplexity(t *testing.T) {
	src, err := decilm.Load(context.Background(), testutil.Fixture(t, "stories260K", "stories260K.bin"), decilm.Options{Threads: 2})
	if err != nil {
		// The fixture directory names its tokenizer tok512.bin; fall back to the embedded copy.
		src, err = decilm.Load(context.Background(), "", decilm.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
	}
	defer src.Close()
	text, err := os.ReadFile(testutil.Fixture(t, "corpus", "tinystories_val.txt"))
	if err != nil {
		t.Fatal(err)
	}
	chars := 20000
	if s := os.Getenv("QUANTIZE_PPL_CHARS"); s != "" {
		if chars, err = strconv.Atoi(s); err != nil {
			t.Fatalf("QUANTIZE_PPL_CHARS=%q: %v", s, err)
		}
	}
	if chars > 0 && chars < len(text) {
		text = text[:chars]
	}
	toks := src.Tokenizer.Encode(string(text), tokenizer.EncodeOptions{AddBOS: true})
	const window = 256
	base := perplexity(t, src.Net, toks, window)
	t.Logf("stories260K, %d tokens in windows of %d: F32 (llama2.c file) perplexity %.4f", len(toks)/window*window, window, base)
	for _, tc := range []struct {
		typ      tensor.DType
		maxRatio float64
	}{{tensor.F32, 1 + 1e-6}, {tensor.Q8_0, 1.01}, {tensor.Q4_0, 1.10}} {
		path := writeGGUF(t, src, quantize.Options{Type: tc.typ})
		m, err := decilm.Load(context.Background(), path, decilm.Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		ppl := perplexity(t, m.Net, toks, window)
		m.Close()
		t.Logf("%s GGUF: perplexity %.4f (%.3f%% vs F32), file %d bytes", tc.typ, ppl, 100*(ppl/base-1), fileSize(t, path))
		if ppl > base*tc.maxRatio || ppl < base/tc.maxRatio {
			t.Errorf("%s: perplexity %.4f vs F32 %.4f: ratio %.4f beyond %.4f", tc.typ, ppl, base, ppl/base, tc.maxRatio)
		}
	}
}
