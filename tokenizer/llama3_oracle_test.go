//go:build oracle

package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/internal/testutil"
)

var (
	llama3Once sync.Once
	llama3Tok  *Tokenizer
	llama3Err  error
)

// llama3 loads the Llama-3.1 tokenizer of the fixtures (tokenizer.json and its
// tokenizer_config.json) once per test binary.
func llama3(t testing.TB) *Tokenizer {
	t.Helper()
	dir := testutil.Fixture(t, "llama3-tokenizer")
	llama3Once.Do(func() { llama3Tok, llama3Err = Load(dir) })
	if llama3Err != nil {
		t.Fatal(llama3Err)
	}
	return llama3Tok
}

// TestLlama3FixtureCases: the ids of cases.json, computed by @huggingface/tokenizers and
// tiktoken, with and without <|begin_of_text|>; special tokens in the text are parsed, as
// Hugging Face does by default. Decoding gives the text back.
func TestLlama3FixtureCases(t *testing.T) {
	tok := llama3(t)
	var cases []struct {
		Text     string `json:"text"`
		IDs      []int  `json:"ids"`
		IDsNoBOS []int  `json:"ids_no_bos"`
	}
	if err := json.Unmarshal(readFile(t, "llama3-tokenizer", "cases.json"), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("cases.json has no cases")
	}
	if !tok.ByteLevel() || tok.VocabSize() != 128256 || tok.BOS() != 128000 || !tok.AddBOS() {
		t.Fatalf("byte level %v, %d tokens, BOS %d (add %v); want true, 128256, 128000, true", tok.ByteLevel(), tok.VocabSize(), tok.BOS(), tok.AddBOS())
	}
	for _, c := range cases {
		if got := tok.Encode(c.Text, EncodeOptions{AddBOS: true, ParseSpecial: true}); !slices.Equal(got, c.IDs) {
			t.Errorf("Encode(%q) = %v, want %v", c.Text, got, c.IDs)
		}
		if got := tok.Encode(c.Text, EncodeOptions{ParseSpecial: true}); !slices.Equal(got, c.IDsNoBOS) {
			t.Errorf("Encode(%q) without BOS = %v, want %v", c.Text, got, c.IDsNoBOS)
		}
	}
}

// llama3Lines are inputs for the Llama-3 oracles: each rule of the split pattern and the
// characters at its edges, then random mixtures of them.
func llama3Lines() []string {
	lines := []string{
		"", "a", " ", "  ", "\n", "\r\n", "\n\n\n", " \n ", "\t", "\t\tx", "x\t", " \t\n \t", "a  b", "a   ",
		"2024", "12345678", "1 22 333 4444 55555", "3.14159", "-42", "1,000,000", "x1y22z333", "٣٤٥٦", "²³", "Ⅻ", "½",
		"I'm", "I'M", "you're YOU'RE You'Re", "he's HE'S", "we'll WE'LL We'Ll", "I'd I'D", "can't CAN'T", "they've THEY'VE",
		"'s", "'", "''", "'x", "' s", "'ſ", "O'Neil", "rock'n'roll", "’s curly", "'S'T'M'D",
		"Hello, world!", "(parenthesis)", "a...b", "!!!\n\n", " ?!\n", "x = y + z;", "<html><body>", "http://example.com/a?b=c",
		"café", "naïve résumé", "e\u0301", "Ελληνικά", "Привет мир", "日本語のテキスト", "中文，标点。", "한국어", "العربية", "हिन्दी", "ไทย",
		"🙂", "🦙🦙", "👨‍👩‍👧", "👍🏽", "🇫🇷", "❤️", "a🙂b", " 🙂 ", "\u00a0x", "\u3000日本", "x\u2028y", "\u200b", "\u0085", "\x00\x01\x7f",
		"<|begin_of_text|>", "<|eot_id|>Hi", "x<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
		"<|reserved_special_token_0|>", "<|eot_id", "<|end_of_text|><|end_of_text|>",
		"def f(x):\n    return x**2\n\n\tpass", "  leading", "trailing  ", "mixed \t \n\n  spaces\r\n\r\n",
	}
	atoms := []string{
		" ", "  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "a", "The", "ing", "HELLO", "'s", "'LL", "'re", "'", "1", "22", "4567",
		".", ",", "!?", "-", "(", "é", "ß", "Привет", "日本", "🦙", "👍🏽", "\u0301", "٣", "²", "<|eot_id|>", "<|begin_of_text|>",
	}
	r := rand.New(rand.NewPCG(3, 1))
	for range 400 {
		var b strings.Builder
		for k := r.IntN(14); k >= 0; k-- {
			a := atoms[r.IntN(len(atoms))]
			for rep := 1 + r.IntN(3)*r.IntN(3); rep > 0; rep-- {
				b.WriteString(a)
			}
		}
		lines = append(lines, b.String())
	}
	lines = append(lines, strings.Repeat(" ", 700), strings.Repeat("1", 700), strings.Repeat("\n", 300)+"x", strings.Repeat("ab ", 300))
	return lines
}

// runNodeScript runs testdata/hfjs/<script> with node beside the npm oracles, with the
// given files, and decodes the JSON it writes to its last argument.
func runNodeScript(t *testing.T, script string, pkg string, files [][]byte, out any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	dir := testutil.NPMDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
		t.Fatalf("%s not installed in %s/node_modules: %v", pkg, dir, err)
	}
	src, err := os.ReadFile(filepath.Join("testdata", "hfjs", script))
	if err != nil {
		t.Fatal(err)
	}
	scriptPath := filepath.Join(dir, "decilm-"+script)
	if err := os.WriteFile(scriptPath, src, 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	args := []string{scriptPath}
	for i, data := range files {
		p := filepath.Join(tmp, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	outPath := filepath.Join(tmp, "out.json")
	var stderr bytes.Buffer
	cmd := exec.Command(node, append(args, outPath)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, stderr.String())
	}
	data, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
}

// TestLlama3Oracles compares Encode (special tokens parsed, no BOS) with both npm oracles,
// @huggingface/tokenizers reading tokenizer.json and tiktoken with the same ranks and the
// Llama-3 pattern, and Decode with tokenizers.js's decode(skip_special_tokens), on
// llama3Lines and TinyStories lines.
func TestLlama3Oracles(t *testing.T) {
	tok := llama3(t)
	corpus := strings.Split(string(readFile(t, "corpus", "tinystories_val.txt")), "\n")
	lines := append(llama3Lines(), corpus[:300]...)
	tj := readFile(t, "llama3-tokenizer", "tokenizer.json")
	// Decode is lossless, as llama.cpp's: it does not apply transformers'
	// clean_up_tokenization_spaces (" ," to "," and so on), which this tokenizer_config.json
	// turns on.
	var cfg map[string]any
	if err := json.Unmarshal(readFile(t, "llama3-tokenizer", "tokenizer_config.json"), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["clean_up_tokenization_spaces"] = false
	tc, _ := json.Marshal(cfg)
	hfIDs, hfDecoded := hfjsEncode(t, tj, tc, lines)
	in, _ := json.Marshal(lines)
	var tk struct {
		IDs [][]int `json:"ids"`
	}
	runNodeScript(t, "tiktoken.mjs", "tiktoken", [][]byte{tj, []byte(llama3Pattern), in}, &tk)
	if len(tk.IDs) != len(lines) {
		t.Fatalf("tiktoken returned %d results for %d lines", len(tk.IDs), len(lines))
	}
	bad := 0
	for i, s := range lines {
		got := tok.Encode(s, EncodeOptions{ParseSpecial: true})
		if !slices.Equal(hfIDs[i], tk.IDs[i]) {
			t.Errorf("the oracles disagree on %q: tokenizers.js %v, tiktoken %v", s, hfIDs[i], tk.IDs[i])
		}
		if !slices.Equal(got, hfIDs[i]) {
			t.Errorf("Encode(%q) = %v, tokenizers.js %v", s, got, hfIDs[i])
			bad++
		}
		dec, err := tok.Decode(got)
		if err != nil {
			t.Fatal(err)
		}
		if dec != hfDecoded[i] {
			t.Errorf("Decode(Encode(%q)) = %q, tokenizers.js %q", s, dec, hfDecoded[i])
			bad++
		}
		if bad > 20 {
			t.Fatal("too many differences")
		}
	}
	t.Logf("%d lines agree with tokenizers.js and tiktoken", len(lines))
}

// BenchmarkEncodeLlama3TinyStories encodes the TinyStories validation text as one string
// with the Llama-3 tokenizer, the word cache cleared each time (as BenchmarkEncodeTinyStories
// does for SentencePiece).
func BenchmarkEncodeLlama3TinyStories(b *testing.B) {
	tok := llama3(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	c0 := cpuTime()
	for b.Loop() {
		tok.resetCache()
		tok.Encode(text, EncodeOptions{AddBOS: true})
	}
	reportCPU(b, c0, len(text))
}

// BenchmarkEncodeLlama3TinyStoriesWarm keeps the word cache between iterations.
func BenchmarkEncodeLlama3TinyStoriesWarm(b *testing.B) {
	tok := llama3(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	b.SetBytes(int64(len(text)))
	c0 := cpuTime()
	for b.Loop() {
		tok.Encode(text, EncodeOptions{AddBOS: true})
	}
	reportCPU(b, c0, len(text))
}

func BenchmarkDecodeLlama3TinyStories(b *testing.B) {
	tok := llama3(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	ids := tok.Encode(text, EncodeOptions{})
	b.SetBytes(int64(len(text)))
	c0 := cpuTime()
	for b.Loop() {
		if _, err := tok.Decode(ids); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0, len(text))
}

// TestLlama3GGUF: the vocabulary written as GGUF metadata the way llama.cpp's converter
// writes a Llama-3 tokenizer (model gpt2, pre llama-bpe, tokens, merges, token_type) reads
// back into a tokenizer that encodes llama3Lines as the tokenizer.json does; and the
// tiny-nemotron fixture's tokenizer gives prompts.json's ids.
func TestLlama3GGUF(t *testing.T) {
	tok := llama3(t)
	pieces, _, types := tok.Pieces()
	var buf bytes.Buffer
	err := gguf.Write(&buf, []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "llama-bpe"},
		{Key: "tokenizer.ggml.tokens", Value: pieces},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.merges", Value: tok.Merges()},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(128000)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(128009)},
		{Key: "tokenizer.ggml.add_bos_token", Value: true},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("llama3.gguf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	g, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Merges()) != 280147 {
		t.Errorf("%d merges, want 280147", len(tok.Merges()))
	}
	for _, s := range llama3Lines() {
		for _, o := range []EncodeOptions{{AddBOS: true, ParseSpecial: true}, {}} {
			if a, b := tok.Encode(s, o), g.Encode(s, o); !slices.Equal(a, b) {
				t.Fatalf("GGUF Encode(%q, %+v) = %v, tokenizer.json %v", s, o, b, a)
			}
		}
	}
	// This vocabulary names 128008 <|reserved_special_token_4|> (Llama-3.0's names; Llama-3.1
	// calls it <|eom_id|>); config.json's eos_token_id lists it anyway.
	if !slices.Equal(g.StopIDs(), []int{128009, 128001}) {
		t.Errorf("StopIDs = %v, want [128009 128001]", g.StopIDs())
	}

	nemo, err := Load(testutil.Fixture(t, "tiny-nemotron"))
	if err != nil {
		t.Fatal(err)
	}
	var prompts []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	}
	if err := json.Unmarshal(readFile(t, "tiny-nemotron", "prompts.json"), &prompts); err != nil {
		t.Fatal(err)
	}
	for _, p := range prompts {
		if got := nemo.Encode(p.Text, nemo.DefaultOptions()); !slices.Equal(got, p.IDs) {
			t.Errorf("tiny-nemotron Encode(%q) = %v, want %v", p.Text, got, p.IDs)
		}
	}
}
