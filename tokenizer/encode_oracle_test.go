//go:build oracle

package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSegmentable(t *testing.T) {
	if !llama(t).segmentable {
		t.Error("Llama-2 vocabulary should allow word splitting")
	}
}

func TestWordSplittingChangesNothing(t *testing.T) {
	texts := adversarialLines(300, 5)
	texts = append(texts, string(readFile(t, "corpus", "tinystories_val.txt"))[:20000])
	testWordSplitting(t, llama(t), texts)
}

func TestEncodeOptions(t *testing.T) {
	tok := llama(t)
	hello := tok.Encode("Hello", EncodeOptions{})
	if want := []int{15043}; !slices.Equal(hello, want) { // llama.cpp vocab test: "Hello" -> 15043
		t.Fatalf("Hello: %v, want %v", hello, want)
	}
	tests := []struct {
		text string
		o    EncodeOptions
		want []int
	}{
		{"", EncodeOptions{}, []int{}},
		{"", EncodeOptions{AddBOS: true, AddEOS: true}, []int{1, 2}},
		{"Hello", EncodeOptions{AddBOS: true, AddEOS: true}, []int{1, 15043, 2}},
		// Without ParseSpecial, "<s>" is text.
		{"<s>", EncodeOptions{}, tok.Encode("<s>", EncodeOptions{})},
		// With it, each run of text between special tokens gets its own dummy prefix
		// (Hugging Face LlamaTokenizer, legacy).
		{"<s>Hello</s>", EncodeOptions{ParseSpecial: true}, []int{1, 15043, 2}},
		{"Hello<s>Hello", EncodeOptions{ParseSpecial: true}, []int{15043, 1, 15043}},
		{"<unk><s></s>", EncodeOptions{ParseSpecial: true}, []int{0, 1, 2}},
		{"<s", EncodeOptions{ParseSpecial: true}, tok.Encode("<s", EncodeOptions{})},
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.text, tt.o); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q, %+v) = %v, want %v", tt.text, tt.o, got, tt.want)
		}
	}
	if slices.Contains(tok.Encode("<s>", EncodeOptions{}), 1) {
		t.Error("<s> recognised without ParseSpecial")
	}
}

func TestDecode(t *testing.T) {
	tok := llama(t)
	tests := []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{1, 15043, 2}, "Hello"},     // control tokens dropped, prefix space stripped
		{[]int{0}, ""},                    // <unk> dropped, as with skip_special_tokens
		{[]int{29871}, ""},                // the lone dummy prefix
		{[]int{259, 13}, " \n"},           // "▁▁" keeps one space
		{[]int{243, 162, 169, 156}, "🦙"},  // byte tokens reassembled
		{[]int{243, 162}, "\uFFFD\uFFFD"}, // an incomplete sequence: one U+FFFD per byte
		{[]int{243, 15043}, "\uFFFD Hello"},
		{[]int{3 + 0x80}, "\uFFFD"},
	}
	for _, tt := range tests {
		got, err := tok.Decode(tt.ids)
		if err != nil || got != tt.want {
			t.Errorf("Decode(%v) = %q, %v; want %q", tt.ids, got, err, tt.want)
		}
	}
	for _, ids := range [][]int{{-1}, {32000}, {15043, 1 << 40}} {
		if _, err := tok.Decode(ids); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Decode(%v): error %v, want out of range", ids, err)
		}
	}
}

// TestStreamDecoder: chunks are valid UTF-8, multi-byte characters are never split, and the
// chunks concatenate to Decode.
func TestStreamDecoder(t *testing.T) {
	tok := llama(t)
	texts := []string{"🦙Ꙋ and 镇, ok", "Hello world", " leading", "x\xffy", string(readFile(t, "corpus", "tinystories_val.txt"))[:3000]}
	texts = append(texts, adversarialLines(200, 3)...)
	testStreamRoundTrip(t, tok, texts)

	// The llama emoji arrives byte by byte: nothing until the last.
	d := tok.NewDecoder()
	var got []string
	for _, id := range []int{29871, 243, 162, 169, 156, 15043} {
		s, _ := d.Add(id)
		got = append(got, s)
	}
	if want := []string{"", "", "", "", "🦙", " Hello"}; !slices.Equal(got, want) {
		t.Errorf("chunks %q, want %q", got, want)
	}
	if _, err := d.Add(-5); err == nil {
		t.Error("Add(-5) accepted")
	}
	c := tok.NewContinuationDecoder()
	if s, _ := c.Add(15043); s != " Hello" {
		t.Errorf("continuation decoder: %q", s)
	}
}

func TestAccessors(t *testing.T) {
	tok := llama(t)
	if tok.VocabSize() != 32000 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || tok.PAD() != -1 || !tok.AddBOS() || tok.AddEOS() || !tok.ByteFallback() {
		t.Errorf("vocab %d bos %d eos %d unk %d pad %d", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.PAD())
	}
	if id, ok := tok.PieceID("▁Hello"); !ok || id != 15043 || tok.Piece(15043) != "▁Hello" {
		t.Errorf("PieceID(▁Hello) = %d %v", id, ok)
	}
	if id, ok := tok.PieceID("<0x0A>"); !ok || id != 13 || tok.Type(13) != Byte {
		t.Errorf("PieceID(<0x0A>) = %d %v", id, ok)
	}
	if _, ok := tok.PieceID("no such piece"); ok {
		t.Error("PieceID of a missing piece")
	}
	if tok.Piece(-1) != "" || tok.Piece(32000) != "" || tok.Type(32000) != 0 {
		t.Error("out-of-range Piece/Type")
	}
	if !tok.IsSpecial(1) || !tok.IsSpecial(0) || tok.IsSpecial(13) {
		t.Error("IsSpecial")
	}
}

// TestRemoveExtraWhitespaces covers the normaliser option Llama turns off, against
// spm_encode with a model that turns it on.
func TestRemoveExtraWhitespaces(t *testing.T) {
	tok := llamaCopy(t)
	tok.removeExtra = true
	model := filepath.Join(t.TempDir(), "x.model")
	if err := os.WriteFile(model, writeModelProto(tok), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := []string{"  a  b  ", "   ", "x", " lead", "trail  ", "a\t b"}
	compareWithSPM(t, tok, model, lines)
}

// TestConcurrentEncode: goroutines sharing a tokenizer (and its word cache) get the ids a
// single goroutine gets.
func TestConcurrentEncode(t *testing.T) {
	texts := adversarialLines(64, 21)
	corpus := string(readFile(t, "corpus", "tinystories_val.txt"))
	for i := 0; i < 16; i++ {
		texts = append(texts, corpus[i*3000:i*3000+2500])
	}
	testConcurrentEncode(t, llama(t), texts)
}

func TestSegmentableMistral(t *testing.T) {
	tok, err := LoadHFJSON(readFile(t, "mistral-tokenizer", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.segmentable {
		t.Error("Mistral vocabulary should allow word splitting")
	}
	whole := wholeText(tok)
	for _, s := range adversarialLines(300, 8) {
		if a, b := tok.Encode(s, EncodeOptions{}), whole.Encode(s, EncodeOptions{}); !slices.Equal(a, b) {
			t.Errorf("%q: split %v, whole %v", clip(s), a, b)
		}
	}
}

// TestGiantWord: a word past maxSegment is encoded in pieces cut at character boundaries
// (lowered here from 256 MiB), still decoding to the text.
func TestGiantWord(t *testing.T) {
	tok := llama(t)
	old := maxSegment
	maxSegment = 64
	defer func() { maxSegment = old }()
	for _, s := range []string{strings.Repeat("a", 1000), strings.Repeat("日本", 300), strings.Repeat("🦙x", 200)} {
		ids := tok.Encode(s, EncodeOptions{})
		if got, err := tok.Decode(ids); err != nil || got != s {
			t.Errorf("%q: round trip %q, %v", clip(s), clip(got), err)
		}
	}
}
