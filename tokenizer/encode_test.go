package tokenizer

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// wholeText returns a copy of tok that encodes the text as one word, as SentencePiece does,
// to check that splitting into words changes nothing.
func wholeText(tok *Tokenizer) *Tokenizer {
	c := &Tokenizer{}
	*c = Tokenizer{
		pieces: tok.pieces, scores: tok.scores, types: tok.types, prio: tok.prio,
		mergeable: tok.mergeable, reserved: tok.reserved, byteIDs: tok.byteIDs, userDefs: tok.userDefs,
		byteFallback: tok.byteFallback, dummyPrefix: tok.dummyPrefix, removeExtra: tok.removeExtra,
		unk: tok.unk, bos: tok.bos, eos: tok.eos, pad: tok.pad, addBOS: tok.addBOS, addEOS: tok.addEOS,
		merges: tok.merges, fuseUnk: tok.fuseUnk, specials: tok.specials,
		pairs: tok.pairs, asciiID: tok.asciiID, shadowed: tok.shadowed, text: tok.text,
	}
	return c
}

// testWordSplitting: encoding word by word gives the ids of encoding each text as one word.
func testWordSplitting(t *testing.T, tok *Tokenizer, texts []string) {
	whole := wholeText(tok)
	for _, s := range texts {
		if a, b := tok.Encode(s, EncodeOptions{}), whole.Encode(s, EncodeOptions{}); !slices.Equal(a, b) {
			t.Errorf("%q: split %v, whole %v", clip(s), a, b)
		}
	}
}

// testStreamRoundTrip: for each text, the stream decoder's chunks are valid UTF-8 and
// concatenate to Decode, which gives back valid text.
func testStreamRoundTrip(t *testing.T, tok *Tokenizer, texts []string) {
	for _, s := range texts {
		ids := tok.Encode(s, EncodeOptions{AddBOS: true})
		want, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		d := tok.NewDecoder()
		var b strings.Builder
		for _, id := range ids {
			chunk, err := d.Add(id)
			if err != nil {
				t.Fatal(err)
			}
			if !utf8.ValidString(chunk) {
				t.Errorf("%q: chunk %q is not valid UTF-8", clip(s), chunk)
			}
			b.WriteString(chunk)
		}
		b.WriteString(d.Flush())
		if b.String() != want {
			t.Errorf("stream %q != Decode %q", clip(b.String()), clip(want))
		}
		// SentencePiece decodes a literal "▁" in the text as a space, so those do not round trip.
		if utf8.ValidString(s) && !strings.Contains(s, spaceSymbol) && want != s {
			t.Errorf("round trip: %q -> %q", clip(s), clip(want))
		}
	}
}

// testConcurrentEncode: goroutines sharing tok encode texts as one goroutine does.
func testConcurrentEncode(t *testing.T, tok *Tokenizer, texts []string) {
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, EncodeOptions{AddBOS: true})
	}
	tok.resetCache()
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(texts))
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range texts {
				i := (k + g*7) % len(texts)
				if got := tok.Encode(texts[i], EncodeOptions{AddBOS: true}); !slices.Equal(got, want[i]) {
					errs <- texts[i]
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("concurrent Encode(%q) differs", clip(s))
	}
}

// TestHFAddedTokens: in a tokenizer.json, an added token that is not special splits the
// text (each side gets its own "▁" prefix) even without ParseSpecial, as in Hugging Face;
// special ones only with ParseSpecial.
func TestHFAddedTokens(t *testing.T) {
	js := `{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
	"added_tokens":[{"id":7,"content":"<tool>","special":false},{"id":1,"content":"<s>","special":true}],
	"model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"<s>":1,"▁":2,"a":3,"b":4,"▁a":5,"▁b":6,"<tool>":7},"merges":["▁ a","▁ b"]}}`
	tok, err := LoadHFJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text string
		o    EncodeOptions
		want []int
	}{
		{"a<tool>b", EncodeOptions{}, []int{5, 7, 6}},
		{"a<s>b", EncodeOptions{}, []int{5, 0, 0, 0, 4}}, // "<", "s", ">" are unknown; fuse_unk is off
		{"a<s>b", EncodeOptions{ParseSpecial: true}, []int{5, 1, 6}},
	}
	for _, tt := range tests {
		if got := tok.Encode(tt.text, tt.o); !slices.Equal(got, tt.want) {
			t.Errorf("Encode(%q, %+v) = %v, want %v", tt.text, tt.o, got, tt.want)
		}
	}
}

// The tests below check the properties of the oracle tests in encode_oracle_test.go (which
// use the Llama-2 vocabulary and TinyStories text from the shared fixtures) on the embedded
// tok512 vocabulary.

func TestWordSplittingChangesNothingTok512(t *testing.T) {
	testWordSplitting(t, tok512(t), append(adversarialLines(300, 5), storiesText))
}

func TestStreamDecoderTok512(t *testing.T) {
	tok := tok512(t)
	testStreamRoundTrip(t, tok, append([]string{"🦙Ꙋ and 镇, ok", "Hello world", " leading", "x\xffy", storiesText}, adversarialLines(200, 3)...))
	// "é" is piece 485 after the dummy prefix (410); the llama emoji arrives as byte
	// tokens (3 + byte): nothing until its last byte.
	d := tok.NewDecoder()
	var got []string
	for _, id := range []int{1, 410, 485, 3 + 0xf0, 3 + 0x9f, 3 + 0xa6, 3 + 0x99} {
		s, err := d.Add(id)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if want := []string{"", "", "é", "", "", "", "🦙"}; !slices.Equal(got, want) {
		t.Errorf("chunks %q, want %q", got, want)
	}
	if _, err := d.Add(512); err == nil {
		t.Error("Add(512) accepted for a 512-piece vocabulary")
	}
}

func TestConcurrentEncodeTok512(t *testing.T) {
	texts := adversarialLines(64, 21)
	for i := 0; i < 16; i++ {
		texts = append(texts, storiesText[i*20:])
	}
	testConcurrentEncode(t, tok512(t), texts)
}

func TestEncodeOptionsTok512(t *testing.T) {
	tok := tok512(t)
	tests := []struct {
		text string
		o    EncodeOptions
		want []int
	}{
		{"", EncodeOptions{}, []int{}},
		{"", EncodeOptions{AddBOS: true, AddEOS: true}, []int{1, 2}},
		{"é", EncodeOptions{AddBOS: true, AddEOS: true}, []int{1, 410, 485, 2}},
		{"<s>é</s>", EncodeOptions{ParseSpecial: true}, []int{1, 410, 485, 2}},
		{"<s>", EncodeOptions{}, tok.Encode("<s>", EncodeOptions{})},
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

func TestDecodeTok512(t *testing.T) {
	tok := tok512(t)
	tests := []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{1, 410, 485, 2}, "é"},      // control tokens dropped, prefix space stripped
		{[]int{0}, ""},                    // <unk> dropped, as with skip_special_tokens
		{[]int{410}, ""},                  // the lone dummy prefix
		{[]int{243, 162, 169, 156}, "🦙"},  // byte tokens reassembled
		{[]int{243, 162}, "\uFFFD\uFFFD"}, // an incomplete sequence: one U+FFFD per byte
		{[]int{3 + 0x80}, "\uFFFD"},
	}
	for _, tt := range tests {
		got, err := tok.Decode(tt.ids)
		if err != nil || got != tt.want {
			t.Errorf("Decode(%v) = %q, %v; want %q", tt.ids, got, err, tt.want)
		}
	}
	for _, ids := range [][]int{{-1}, {512}, {410, 1 << 40}} {
		if _, err := tok.Decode(ids); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Decode(%v): error %v, want out of range", ids, err)
		}
	}
}
