package eval

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
)

// The expected splits follow lm-evaluation-harness's _encode_pair and loglikelihood
// (lm_eval/api/model.py) and the truncation of _loglikelihood_tokens
// (lm_eval/models/huggingface.py), worked through by hand on wordTok's pieces.
func TestEncode(t *testing.T) {
	tests := []struct {
		name     string
		req      Request
		opts     EncodeOptions
		ctx, cnt []string
		err      string
	}{
		{name: "plain", req: Request{"Question: x\nAnswer:", " yes"},
			ctx: []string{"<s>", "Question:", " x", "\nAnswer:"}, cnt: []string{" yes"}},
		{name: "trailing space moves to the continuation", req: Request{"The answer is ", "yes"},
			ctx: []string{"<s>", "The", " answer", " is"}, cnt: []string{" yes"}},
		{name: "trailing newlines move too", req: Request{"a b\n\n", "c"},
			ctx: []string{"<s>", "a", " b"}, cnt: []string{"\n\nc"}},
		{name: "old behaviour: no BOS", req: Request{"Question: x\nAnswer:", " yes no"}, opts: EncodeOptions{NoBOS: true},
			ctx: []string{"Question:", " x", "\nAnswer:"}, cnt: []string{" yes", " no"}},
		{name: "empty context is BOS, continuation without BOS", req: Request{"", " hello world"},
			ctx: []string{"<s>"}, cnt: []string{" hello", " world"}},
		{name: "empty context, old behaviour too", req: Request{"", " hello"}, opts: EncodeOptions{NoBOS: true},
			ctx: []string{"<s>"}, cnt: []string{" hello"}},
		{name: "truncated to max_length+1 tokens from the left", req: Request{"a b c d", " e f"}, opts: EncodeOptions{MaxLength: 3},
			ctx: []string{" c", " d"}, cnt: []string{" e", " f"}},
		{name: "fits exactly", req: Request{"a b", " e f"}, opts: EncodeOptions{MaxLength: 4},
			ctx: []string{"<s>", "a", " b"}, cnt: []string{" e", " f"}},
		{name: "continuation longer than the window", req: Request{"a", " e f"}, opts: EncodeOptions{MaxLength: 1},
			err: "does not fit the context window of 1"},
		{name: "empty continuation", req: Request{"a", ""}, err: "encodes to no tokens"},
		{name: "whitespace-only context without BOS", req: Request{"  ", "x"}, opts: EncodeOptions{NoBOS: true},
			err: "encodes to no tokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := newWordTok()
			got, err := Encode(tok, tt.req, tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c := tok.decode(got.Context); !reflect.DeepEqual(c, tt.ctx) {
				t.Errorf("context %q, want %q", c, tt.ctx)
			}
			if c := tok.decode(got.Continuation); !reflect.DeepEqual(c, tt.cnt) {
				t.Errorf("continuation %q, want %q", c, tt.cnt)
			}
		})
	}
}

// A tokenizer that merges across the boundary leaves the continuation empty, which the
// harness would assert on; we return an error.
func TestEncodeMergeAcrossBoundary(t *testing.T) {
	if _, err := Encode(newWordTok(), Request{"abc", "def"}, EncodeOptions{}); err == nil {
		t.Fatal("no error for a continuation swallowed by the context's last token")
	}
}

// Windows worked out by hand from Hugging Face's perplexity guide: for begin in
// range(0, n, stride): end = min(begin+ctx, n); trg_len = end - prev_end.
func TestPerplexityWindows(t *testing.T) {
	seq := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	tr := func(c, n []int) TokenRequest { return TokenRequest{Context: c, Continuation: n} }
	tests := []struct {
		ctx, stride int
		want        []TokenRequest
	}{
		{4, 2, []TokenRequest{tr([]int{0}, []int{1, 2, 3}), tr([]int{2, 3}, []int{4, 5}), tr([]int{4, 5}, []int{6, 7}), tr([]int{6, 7}, []int{8, 9})}},
		{4, 3, []TokenRequest{tr([]int{0}, []int{1, 2, 3}), tr([]int{3}, []int{4, 5, 6}), tr([]int{6}, []int{7, 8, 9})}},
		{4, 4, []TokenRequest{tr([]int{0}, []int{1, 2, 3}), tr([]int{4}, []int{5, 6, 7}), tr([]int{8}, []int{9})}},
		{16, 8, []TokenRequest{tr([]int{0}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9})}},
		{5, 1, []TokenRequest{tr([]int{0}, []int{1, 2, 3, 4}), tr([]int{1, 2, 3, 4}, []int{5}), tr([]int{2, 3, 4, 5}, []int{6}),
			tr([]int{3, 4, 5, 6}, []int{7}), tr([]int{4, 5, 6, 7}, []int{8}), tr([]int{5, 6, 7, 8}, []int{9})}},
	}
	for _, tt := range tests {
		got, err := PerplexityWindows(seq, tt.ctx, tt.stride)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ctx %d stride %d:\n got %v\nwant %v", tt.ctx, tt.stride, got, tt.want)
		}
		for _, w := range got {
			if len(w.Context)+len(w.Continuation) > tt.ctx {
				t.Errorf("ctx %d stride %d: window of %d tokens", tt.ctx, tt.stride, len(w.Context)+len(w.Continuation))
			}
		}
	}
	for _, bad := range [][3]int{{10, 1, 0}, {10, 4, 5}, {1, 4, 2}, {10, 1, 1}} {
		if _, err := PerplexityWindows(seq[:bad[0]], bad[1], bad[2]); err == nil {
			t.Errorf("PerplexityWindows(%d tokens, ctx %d, stride %d) succeeded", bad[0], bad[1], bad[2])
		}
	}
}

func TestPerplexity(t *testing.T) {
	// every scored token has log-probability −0.5
	sc := ScorerFunc(func(_ context.Context, reqs []TokenRequest) ([]Result, error) {
		out := make([]Result, len(reqs))
		for i, r := range reqs {
			out[i].LogLikelihood = -0.5 * float64(len(r.Continuation))
		}
		return out, nil
	})
	seq := make([]int, 100)
	var calls []int
	res, err := Perplexity(context.Background(), sc, seq, PerplexityOptions{Window: 16, Stride: 4, Batch: 10,
		Progress: func(done, total int) { calls = append(calls, done, total) }})
	if err != nil {
		t.Fatal(err)
	}
	// windows start at 0, 4, ..., 84 (the one at 84 reaches the end): 22 windows
	if res.Tokens != 99 || res.LogLikelihood != -49.5 || !near(res.Perplexity, math.Exp(0.5), 1e-15) || res.Windows != 22 {
		t.Errorf("%+v, want e^0.5, -49.5, 99 tokens, 22 windows", res)
	}
	if !reflect.DeepEqual(calls, []int{10, 22, 20, 22, 22, 22}) {
		t.Errorf("progress %v", calls)
	}
	if _, err := Perplexity(context.Background(), sc, seq, PerplexityOptions{Window: 1}); err == nil {
		t.Error("window 1 accepted")
	}
}

func TestGroupByContext(t *testing.T) {
	reqs := []TokenRequest{
		{Context: []int{1, 2}, Continuation: []int{3}},
		{Context: []int{1, 2}, Continuation: []int{4}},
		{Context: []int{1, 5}, Continuation: []int{3}},
		{Context: []int{1, 2}, Continuation: []int{6, 7}},
		{Context: []int{1 << 8, 2}, Continuation: []int{3}},
	}
	want := [][]int{{0, 1, 3}, {2}, {4}}
	if got := GroupByContext(reqs); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// Python's rstrip also strips the separators U+001C..U+001F, which Go's unicode.IsSpace
// does not count as space.
func TestEncodeStripsLikePython(t *testing.T) {
	got, err := Encode(byteTok{}, Request{"a b\x1f\u3000", "c"}, EncodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c, n := decodeBytes(got.Context), decodeBytes(got.Continuation); c != "a b" || n != "\x1f\u3000c" || got.Context[0] != testBOS {
		t.Errorf("context %q continuation %q", c, n)
	}
}
