//go:build oracle

package gguf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/tensor"
)

func BenchmarkParseFixture(b *testing.B) {
	data, err := os.ReadFile(testutil.Fixture(b, "gguf", "llama-2-tiny-random.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse("bench.gguf", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFixtureMetadata(t *testing.T) {
	f := openFixture(t)
	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d alignment %d, want 3 and 32", f.Version, f.Alignment)
	}
	strs := []struct{ key, want string }{
		{"general.architecture", "llama"},
		{"tokenizer.ggml.model", "llama"},
	}
	for _, c := range strs {
		if got, err := f.String(c.key); err != nil || got != c.want {
			t.Errorf("String(%q) = %q, %v; want %q", c.key, got, err, c.want)
		}
	}
	uints := []struct {
		key  string
		want uint64
	}{
		{"tokenizer.ggml.bos_token_id", 1},
		{"tokenizer.ggml.eos_token_id", 2},
		{"tokenizer.ggml.unknown_token_id", 0},
		{"llama.context_length", 4096},
		{"general.file_type", 1}, // MOSTLY_F16
	}
	for _, c := range uints {
		if got, err := f.Uint(c.key); err != nil || got != c.want {
			t.Errorf("Uint(%q) = %d, %v; want %d", c.key, got, err, c.want)
		}
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || math.Abs(eps-1e-5) > 1e-10 {
		t.Errorf("rms epsilon = %g, %v; want 1e-5", eps, err)
	}

	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 32000 {
		t.Fatalf("%d tokens, want 32000", len(tokens))
	}
	for id, want := range map[int]string{0: "<unk>", 1: "<s>", 2: "</s>", 3: "<0x00>", 13: "<0x0A>", 258: "<0xFF>", 29871: "\u2581"} {
		if tokens[id] != want {
			t.Errorf("token %d = %q, want %q", id, tokens[id], want)
		}
	}
	types, err := f.Int32s("tokenizer.ggml.token_type")
	if err != nil {
		t.Fatal(err)
	}
	scores, err := f.Float32s("tokenizer.ggml.scores")
	if err != nil {
		t.Fatal(err)
	}
	if len(types) != 32000 || len(scores) != 32000 {
		t.Fatalf("%d token types and %d scores, want 32000", len(types), len(scores))
	}
	// llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte.
	for id, ty := range types {
		want := int32(1)
		switch {
		case id == 0:
			want = 2
		case id <= 2:
			want = 3
		case id <= 258:
			want = 6
		}
		if ty != want {
			t.Fatalf("token %d (%q) has type %d, want %d", id, tokens[id], ty, want)
		}
	}

	// The pieces of independently known encodings (sentencepiece's own ids for these texts,
	// from the shared fixtures) spell the text, with U+2581 for each space.
	var cases struct {
		Encode []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids_with_bos"`
		} `json:"encode"`
	}
	raw, err := os.ReadFile(testutil.Fixture(t, "llama2-tokenizer", "cases-with-bos.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, c := range cases.Encode {
		if c.Text == "" || strings.ContainsFunc(c.Text, func(r rune) bool { return r > 0x7e || r < 0x20 }) {
			continue // byte-fallback pieces do not spell the text directly
		}
		var sb strings.Builder
		for _, id := range c.IDs[1:] {
			sb.WriteString(tokens[id])
		}
		if got, want := sb.String(), "\u2581"+strings.ReplaceAll(c.Text, " ", "\u2581"); got != want {
			t.Errorf("pieces of %q spell %q", c.Text, got)
		}
		checked++
	}
	if checked < 5 {
		t.Errorf("only %d ASCII cases checked", checked)
	}
}

func TestFixtureTensors(t *testing.T) {
	f := openFixture(t)
	u := func(key string) int {
		v, err := f.Uint(key)
		if err != nil {
			t.Fatal(err)
		}
		return int(v)
	}
	embd, blocks, ff := u("llama.embedding_length"), u("llama.block_count"), u("llama.feed_forward_length")
	heads, kvHeads := u("llama.attention.head_count"), u("llama.attention.head_count_kv")
	kvDim := embd / heads * kvHeads
	if len(f.Tensors) != 3+9*blocks || len(f.Unsupported) != 0 {
		t.Fatalf("%d tensors (%d unsupported), want %d", len(f.Tensors), len(f.Unsupported), 3+9*blocks)
	}
	type spec struct {
		dt    tensor.DType
		shape []int
	}
	want := map[string]spec{
		"token_embd.weight":  {tensor.F16, []int{32000, embd}},
		"output.weight":      {tensor.F16, []int{32000, embd}},
		"output_norm.weight": {tensor.F32, []int{embd}},
	}
	for b := 0; b < blocks; b++ {
		p := fmt.Sprintf("blk.%d.", b)
		want[p+"attn_q.weight"] = spec{tensor.F16, []int{embd, embd}}
		want[p+"attn_k.weight"] = spec{tensor.F16, []int{kvDim, embd}}
		want[p+"attn_v.weight"] = spec{tensor.F16, []int{kvDim, embd}}
		want[p+"attn_output.weight"] = spec{tensor.F16, []int{embd, embd}}
		want[p+"ffn_gate.weight"] = spec{tensor.F16, []int{ff, embd}}
		want[p+"ffn_up.weight"] = spec{tensor.F16, []int{ff, embd}}
		want[p+"ffn_down.weight"] = spec{tensor.F16, []int{embd, ff}}
		want[p+"attn_norm.weight"] = spec{tensor.F32, []int{embd}}
		want[p+"ffn_norm.weight"] = spec{tensor.F32, []int{embd}}
	}
	raw, err := os.ReadFile(testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	end := 0
	for _, tt := range f.Tensors {
		w, ok := want[tt.Name]
		if !ok {
			t.Errorf("unexpected tensor %q", tt.Name)
			continue
		}
		if tt.DType != w.dt || !tensor.ShapeEqual(tt.Shape, w.shape) {
			t.Errorf("%s: %s %v, want %s %v", tt.Name, tt.DType, tt.Shape, w.dt, w.shape)
		}
		if err := tt.Validate(); err != nil {
			t.Error(err)
		}
		got, ok := f.Tensor(tt.Name)
		if !ok || got != tt {
			t.Errorf("Tensor(%q) does not find it", tt.Name)
		}
		// The view must hold the same bytes as the file at an aligned position.
		off := dataOffsetIn(t, f, tt)
		if off%32 != 0 || string(raw[off:off+len(tt.Data)]) != string(tt.Data) {
			t.Errorf("%s: data at file offset %d do not match the file", tt.Name, off)
		}
		end = max(end, off+len(tt.Data))
		// Random weights: every value finite and not all zero.
		vals := make([]float32, tt.Elements())
		if err := tensor.DecodeRow(vals, tt.Data, tt.DType); err != nil {
			t.Fatal(err)
		}
		nonzero := false
		for _, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: non-finite value", tt.Name)
			}
			nonzero = nonzero || v != 0
		}
		if !nonzero {
			t.Errorf("%s: all zero", tt.Name)
		}
	}
	if end > len(raw) || len(raw)-end >= 32 {
		t.Errorf("tensor data end at %d, file size %d", end, len(raw))
	}
	if _, err := f.LookupTensor("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupTensor(nope) = %v, want ErrNotFound", err)
	}
}

func openFixture(t *testing.T) *File {
	t.Helper()
	f, err := Open(testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestWriteReproducesFixture rewrites the fixture (written by the reference gguf-py writer)
// from its parsed metadata and tensors: the result must be byte-identical.
func TestWriteReproducesFixture(t *testing.T) {
	path := testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(path, want)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, f.KV, f.Tensors); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("rewritten file differs from the fixture at byte %d (sizes %d and %d)", i, len(got), len(want))
	}
}
