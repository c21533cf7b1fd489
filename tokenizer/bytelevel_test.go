package tokenizer

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// TestLlama3Split: pre-tokens of the Llama-3 pattern; the expected splits are those of
// Python's regex module (2026.5.9) with the pattern of Llama-3's tokenizer.json.
func TestLlama3Split(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm HERE'S it'LL", []string{"I", "'m", " HERE", "'S", " it", "'LL"}},
		{"12345 6", []string{"123", "45", " ", "6"}},
		{"  two spaces\n\nnew", []string{" ", " two", " spaces", "\n\n", "new"}},
		{"a  \n  b", []string{"a", "  \n", " ", " b"}},
		{"x   y", []string{"x", "  ", " y"}},
		{"tab\tx", []string{"tab", "\tx"}},
		{"café ☕ 🙂", []string{"café", " ☕", " 🙂"}},
		{"end  ", []string{"end", "  "}},
		{"'hello", []string{"'hello"}},
		{"(a)...!\n\n", []string{"(a", ")...!\n\n"}},
		{" ?!\r\n", []string{" ?!\r\n"}},
		{"\u00a0x", []string{"\u00a0x"}},
		{"日本語", []string{"日本語"}},
		{"٣٤٥٦٧", []string{"٣٤٥", "٦٧"}},
		{"e\u0301x", []string{"e", "\u0301x"}},
		{"'ſ", []string{"'ſ"}},
	} {
		var got []string
		for s := c.in; s != ""; {
			n := llama3Split(s)
			got = append(got, s[:n])
			s = s[n:]
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("split %q = %q, want %q", c.in, got, c.want)
		}
	}
}

// tinyByteLevel is a byte-level vocabulary: token b (0..255) is byte b, then the merges'
// results, then two special tokens.
func tinyByteLevel() Vocab {
	var v Vocab
	v.Model, v.Pre = "gpt2", "llama-bpe"
	for b := range 256 {
		v.Tokens = append(v.Tokens, string(byteRunes[b]))
	}
	v.Merges = []string{"Ġ t", "h e", "Ġt he", "1 2", "12 3"}
	for _, m := range v.Merges {
		v.Tokens = append(v.Tokens, strings.ReplaceAll(m, " ", "")) // 256 Ġt, 257 he, 258 Ġthe, 259 12, 260 123
	}
	v.Tokens = append(v.Tokens, "<|begin_of_text|>", "<|eot_id|>", "ab") // 261, 262, 263 (no merge forms "ab")
	v.Types = make([]int32, len(v.Tokens))
	for i := range v.Types {
		v.Types[i] = int32(Normal)
	}
	v.Types[261], v.Types[262] = int32(Control), int32(Control)
	v.BOS, v.EOS, v.UNK, v.PAD = 261, 262, -1, -1
	v.AddBOS = true
	return v
}

// tinyByteLevelJSON is the same vocabulary as a Llama-3 style tokenizer.json.
func tinyByteLevelJSON(t testing.TB, ignoreMerges bool) []byte {
	t.Helper()
	v := tinyByteLevel()
	vocab := map[string]int{}
	for i, p := range v.Tokens[:261] {
		vocab[p] = i
	}
	vocab["ab"] = 263
	f := map[string]any{
		"normalizer": nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "pattern": map[string]any{"Regex": llama3Pattern}, "behavior": "Isolated", "invert": false},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "Sequence", "processors": []any{
			map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
			map[string]any{"type": "TemplateProcessing", "single": []any{
				map[string]any{"SpecialToken": map[string]any{"id": "<|begin_of_text|>", "type_id": 0}},
				map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}},
			}},
		}},
		"added_tokens": []any{
			map[string]any{"id": 261, "content": "<|begin_of_text|>", "special": true},
			map[string]any{"id": 262, "content": "<|eot_id|>", "special": true},
		},
		"model": map[string]any{"type": "BPE", "unk_token": nil, "byte_fallback": false, "ignore_merges": ignoreMerges, "vocab": vocab, "merges": v.Merges},
	}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestByteLevelTiny: the same vocabulary from FromVocab, from a GGUF file and from a
// tokenizer.json encodes as worked out by hand.
func TestByteLevelTiny(t *testing.T) {
	var buf bytes.Buffer
	v := tinyByteLevel()
	types := v.Types
	err := gguf.Write(&buf, []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "llama-bpe"},
		{Key: "tokenizer.ggml.tokens", Value: v.Tokens},
		{Key: "tokenizer.ggml.merges", Value: v.Merges},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.bos_token_id", Value: uint32(261)},
		{Key: "tokenizer.ggml.eos_token_id", Value: uint32(262)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse("tiny.gguf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fromVocab, err := FromVocab(v)
	if err != nil {
		t.Fatal(err)
	}
	fromGGUF, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := LoadHFJSON(tinyByteLevelJSON(t, true))
	if err != nil {
		t.Fatal(err)
	}
	noIgnore, err := LoadHFJSON(tinyByteLevelJSON(t, false))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text    string
		o       EncodeOptions
		want    []int
		noIgnor []int // with ignore_merges false, when it differs
	}{
		// "the" -> t + (h e); " the" -> (Ġ t) then (h e) then (Ġt he).
		{"the the", EncodeOptions{AddBOS: true}, []int{261, 't', 257, 258}, nil},
		// Digits in runs of at most three: "123" + "45".
		{"12345", EncodeOptions{}, []int{260, '4', '5'}, nil},
		// é is two bytes, 🙂 four.
		{"é🙂", EncodeOptions{}, []int{0xC3, 0xA9, 0xF0, 0x9F, 0x99, 0x82}, nil},
		// A space and a newline are bytes 0x20 and 0x0A; "  \n" is one pre-token.
		{"a  \n", EncodeOptions{}, []int{'a', ' ', ' ', '\n'}, nil},
		// ignore_merges: "ab" is a token, though no merge forms it.
		{"ab", EncodeOptions{}, []int{263}, []int{'a', 'b'}},
		// Special tokens in text only with ParseSpecial.
		{"<|eot_id|>the", EncodeOptions{ParseSpecial: true}, []int{262, 't', 257}, nil},
		{"<|eot_id|>", EncodeOptions{}, []int{'<', '|', 'e', 'o', 't', '_', 'i', 'd', '|', '>'}, nil},
		// Invalid UTF-8 is encoded as U+FFFD (EF BF BD), as for SentencePiece.
		{"\xff", EncodeOptions{}, []int{0xEF, 0xBF, 0xBD}, nil},
	}
	for name, tok := range map[string]*Tokenizer{"vocab": fromVocab, "gguf": fromGGUF, "json": fromJSON, "json no ignore_merges": noIgnore} {
		if !tok.ByteLevel() || tok.BOS() != 261 || !tok.AddBOS() {
			t.Errorf("%s: ByteLevel %v BOS %d AddBOS %v", name, tok.ByteLevel(), tok.BOS(), tok.AddBOS())
		}
		for _, c := range cases {
			want := c.want
			if name == "json no ignore_merges" && c.noIgnor != nil {
				want = c.noIgnor
			}
			if got := tok.Encode(c.text, c.o); !slices.Equal(got, want) {
				t.Errorf("%s: Encode(%q, %+v) = %v, want %v", name, c.text, c.o, got, want)
			}
		}
		if got := tok.Merges(); !slices.Equal(got, v.Merges) {
			t.Errorf("%s: Merges() = %q, want %q", name, got, v.Merges)
		}
	}
	if tok := fromVocab; tok.Piece(258) != "Ġthe" {
		t.Errorf("Piece(258) = %q", tok.Piece(258))
	}
}

// TestByteLevelDecode: byte tokens decode to their bytes, special tokens to nothing, and the
// stream decoder never splits a character however the bytes fall across tokens.
func TestByteLevelDecode(t *testing.T) {
	tok, err := FromVocab(tinyByteLevel())
	if err != nil {
		t.Fatal(err)
	}
	text := " the 🙂 café 日本\n"
	ids := tok.Encode(text, EncodeOptions{AddBOS: true})
	got, err := tok.Decode(append(ids, 262))
	if err != nil || got != text {
		t.Fatalf("Decode = %q, %v; want %q", got, err, text)
	}
	for _, d := range []*StreamDecoder{tok.NewDecoder(), tok.NewContinuationDecoder()} {
		var chunks []string
		for _, id := range ids {
			c, err := d.Add(id)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(c) {
				t.Fatalf("chunk %q is not valid UTF-8", c)
			}
			if c != "" {
				chunks = append(chunks, c)
			}
		}
		if rest := d.Flush(); rest != "" {
			t.Errorf("Flush = %q, want nothing held back", rest)
		}
		if s := strings.Join(chunks, ""); s != text {
			t.Errorf("stream = %q, want %q", s, text)
		}
		for _, c := range chunks {
			if c == "\xf0" || strings.ContainsRune(c, utf8.RuneError) {
				t.Errorf("chunk %q splits a character", c)
			}
		}
	}
	// An incomplete character at the end comes out of Flush as U+FFFD.
	d := tok.NewDecoder()
	for _, b := range []int{0xF0, 0x9F} {
		if c, _ := d.Add(b); c != "" {
			t.Errorf("Add(0x%X) = %q, want it held back", b, c)
		}
	}
	if c := d.Flush(); c != "\uFFFD\uFFFD" {
		t.Errorf("Flush = %q", c)
	}
}

// TestByteLevelErrors: vocabularies that cannot work are refused with an error naming what is
// wrong.
func TestByteLevelErrors(t *testing.T) {
	mod := func(f func(*Vocab)) error {
		v := tinyByteLevel()
		f(&v)
		_, err := FromVocab(v)
		return err
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"pre", mod(func(v *Vocab) { v.Pre = "qwen2" }), `"qwen2" not supported`},
		{"byte missing", mod(func(v *Vocab) { v.Tokens[0x41] = "ĠĠĠ"; v.Merges = v.Merges[:1] }), "no token for byte 0x41"},
		{"not byte-level", mod(func(v *Vocab) { v.Tokens[263] = "a b" }), "not byte-level"},
		{"bad merge", mod(func(v *Vocab) { v.Merges[1] = "he" }), `merges[1] = "he"`},
		{"merge outside", mod(func(v *Vocab) { v.Merges[1] = "x y" }), `merge 1 ("x" "y")`},
		{"no merges", mod(func(v *Vocab) { v.Merges = nil }), "no merges"},
		{"type", mod(func(v *Vocab) { v.Types[3] = int32(Byte) }), "type 6"},
		{"bos", mod(func(v *Vocab) { v.BOS = 9999 }), "9999 out of range"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || !strings.HasPrefix(c.err.Error(), "tokenizer: ") {
			t.Errorf("%s: error %v, want one starting \"tokenizer: \" and containing %q", c.name, c.err, c.want)
		}
	}
	// tokenizer.json: GPT-2's ByteLevel pattern and other Split patterns are not Llama-3's.
	js := string(tinyByteLevelJSON(t, true))
	for _, c := range []struct{ old, new, want string }{
		{`"use_regex":false`, `"use_regex":true`, "use_regex"},
		{`\\p{N}{1,3}`, `\\p{N}+`, "only Llama-3's"},
		{`"Isolated"`, `"Removed"`, `behavior "Removed"`},
	} {
		_, err := LoadHFJSON([]byte(strings.Replace(js, c.old, c.new, 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("tokenizer.json with %s: error %v, want %q", c.new, err, c.want)
		}
	}
}

// FuzzByteLevel: any text encodes into ids of the vocabulary; valid UTF-8 round trips
// exactly through Decode and the stream decoder; the pre-tokens cover the text.
func FuzzByteLevel(f *testing.F) {
	for _, s := range []string{"", "the the", "12345 'S 'll\n\n  x", "é🙂\xff", "<|eot_id|>x", " \t\r\n\u00a0\u3000"} {
		f.Add(s)
	}
	tok, err := FromVocab(tinyByteLevel())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		for rest := s; rest != ""; {
			k := llama3Split(rest)
			if k <= 0 || k > len(rest) {
				t.Fatalf("split of %q took %d bytes", rest, k)
			}
			rest = rest[k:]
			n += k
		}
		ids := tok.Encode(s, EncodeOptions{AddBOS: true, ParseSpecial: true})
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		got, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		want := validUTF8([]byte(s))
		for _, sp := range []string{"<|begin_of_text|>", "<|eot_id|>"} {
			want = strings.ReplaceAll(want, sp, "")
		}
		if got != want {
			t.Fatalf("round trip %q -> %v -> %q", s, ids, got)
		}
		d := tok.NewDecoder()
		var b strings.Builder
		for _, id := range ids {
			c, _ := d.Add(id)
			b.WriteString(c)
		}
		if b.String()+d.Flush() != got {
			t.Fatalf("stream %q != Decode %q", b.String(), got)
		}
	})
}

// FuzzLoadByteLevelJSON: a byte-level tokenizer.json, however damaged, loads or gives an
// error; a loaded one encodes and decodes.
func FuzzLoadByteLevelJSON(f *testing.F) {
	js := tinyByteLevelJSON(f, true)
	f.Add(js)
	f.Add(bytes.Replace(js, []byte(`"merges":[`), []byte(`"merges":["a b",`), 1))
	f.Add(js[:len(js)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := LoadHFJSON(data)
		if err != nil {
			return
		}
		fuzzUseByteLevel(t, tok)
	})
}

func fuzzUseByteLevel(t *testing.T, tok *Tokenizer) {
	for _, s := range []string{"", "Hello world", " a  b\n", "日本🦙\xff", "<|eot_id|>x 123456"} {
		ids := tok.Encode(s, EncodeOptions{AddBOS: true, AddEOS: true, ParseSpecial: true})
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize() {
				t.Fatalf("Encode(%q) gave id %d outside [0, %d)", s, id, tok.VocabSize())
			}
		}
		if _, err := tok.Decode(ids); err != nil {
			t.Fatalf("Decode of Encode(%q): %v", s, err)
		}
	}
}

// TestStopIDs: EOS and Llama-3's end-of-turn control tokens end generation.
func TestStopIDs(t *testing.T) {
	v := tinyByteLevel()
	v.Tokens = append(v.Tokens, "<|end_of_text|>", "<|eom_id|>", "<|start_header_id|>") // 264, 265, 266
	v.Types = append(v.Types, int32(Control), int32(Control), int32(Control))
	tok, err := FromVocab(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.StopIDs(); !slices.Equal(got, []int{262, 265, 264}) {
		t.Errorf("StopIDs = %v, want [262 265 264]", got)
	}
	v.EOS = -1
	v.Types[262] = int32(Normal) // an ordinary piece spelled like a control token does not stop
	if tok, err = FromVocab(v); err != nil {
		t.Fatal(err)
	}
	if got := tok.StopIDs(); !slices.Equal(got, []int{265, 264}) {
		t.Errorf("StopIDs without EOS = %v, want [265 264]", got)
	}
}

// TestTokenText: the bytes of byte-level tokens, and control tokens as written.
func TestTokenText(t *testing.T) {
	tok, err := FromVocab(tinyByteLevel())
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{258: " the", 0xF0: "\xf0", ' ': " ", 262: "<|eot_id|>", 263: "ab", -1: "", 999: ""} {
		if got := tok.TokenText(id); got != want {
			t.Errorf("TokenText(%d) = %q, want %q", id, got, want)
		}
	}
	spm, err := FromVocab(Vocab{Tokens: []string{"<unk>", "<s>", "▁a", "<0x41>"}, UNK: 0, BOS: 1, EOS: -1, PAD: -1})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int]string{0: "<unk>", 1: "<s>", 2: " a", 3: "A"} {
		if got := spm.TokenText(id); got != want {
			t.Errorf("SentencePiece TokenText(%d) = %q, want %q", id, got, want)
		}
	}
}
