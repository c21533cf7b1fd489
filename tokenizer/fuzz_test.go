package tokenizer

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// tinySeed returns small tokenizer files of each format, built from a 24-piece llama2.c
// vocabulary (under 400 bytes; the 6 KB tok512.bin these seeds once came from left the
// fuzzers minimising instead of fuzzing).
func tinySeed(t testing.TB) (model, js, bin []byte) {
	bin = tinyLlama2CVocab()
	tok, err := LoadLlama2C(bin, 0)
	if err != nil {
		t.Fatal(err)
	}
	js, err = tok.MarshalHFJSON()
	if err != nil {
		t.Fatal(err)
	}
	return writeModelProto(tok), js, bin
}

// oracleFuzzTokenizers, set by an oracle test file, adds the shared fixtures' vocabularies
// to the ones the fuzz targets exercise.
var oracleFuzzTokenizers func(testing.TB) []*Tokenizer

// fuzzTokenizers returns the tokenizers the encode and decode fuzz targets exercise: the
// embedded tok512 vocabulary, and under the oracle tag the Llama-2 one.
func fuzzTokenizers(t testing.TB) []*Tokenizer {
	toks := []*Tokenizer{tok512(t)}
	if oracleFuzzTokenizers != nil {
		toks = append(toks, oracleFuzzTokenizers(t)...)
	}
	return toks
}

// tinyLlama2CVocab is a llama2.c tokenizer.bin: <unk>, <s>, </s>, three byte pieces and
// some words, with scores that make "hello" and " world" merge.
func tinyLlama2CVocab() []byte {
	pieces := []string{"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", "<0x41>", "<0xE6>",
		" ", "a", "b", "d", "e", "h", "l", "o", "r", "w", "ab", " a", "he", "ll", "llo", "hello", " w", " world"}
	b := binary.LittleEndian.AppendUint32(nil, 8)
	for i, p := range pieces {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(-float32(i)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// fuzzUse exercises a loaded tokenizer: encode and decode must not panic, and valid text must
// round trip.
func fuzzUse(t *testing.T, tok *Tokenizer) {
	for _, s := range []string{"", "Hello world", " a  b\n", "日本🦙\xff", "<s>x</s>"} {
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

func FuzzLoadModelProto(f *testing.F) {
	model, _, _ := tinySeed(f)
	f.Add(model)
	f.Add(model[:len(model)/3])
	f.Add([]byte{0x0a, 0x09, 0x0a, 0x05, '<', 'u', 'n', 'k', '>', 0x18, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := LoadModelProto(data)
		if err != nil {
			return
		}
		fuzzUse(t, tok)
	})
}

func FuzzLoadHFJSON(f *testing.F) {
	_, js, _ := tinySeed(f)
	f.Add(js)
	f.Add([]byte(`{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":true,"vocab":{"<unk>":0,"a":1,"b":2,"ab":3,"▁":4,"<0x41>":5},"merges":["a b",["▁","ab"]]},"added_tokens":[{"id":6,"content":"<s>","special":true}]}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},"model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"▁a":1,"▁":2,"a":3},"merges":[["▁","a"]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := LoadHFJSON(data)
		if err != nil {
			return
		}
		fuzzUse(t, tok)
	})
}

func FuzzLoadLlama2C(f *testing.F) {
	_, _, bin := tinySeed(f)
	f.Add(bin, 0)
	f.Add(bin, 24)
	f.Add(bin[:100], 0)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		tok, err := LoadLlama2C(data, n%1024)
		if err != nil {
			return
		}
		fuzzUse(t, tok)
	})
}

// FuzzFromVocab builds GGUF-style vocabularies from fuzz data: NUL-separated tokens, one
// score and type per token from the type bytes.
func FuzzFromVocab(f *testing.F) {
	f.Add("<unk>\x00<s>\x00</s>\x00▁\x00a\x00▁a\x00<0x41>", []byte{2, 3, 3, 1, 1, 1, 6}, -1, 1, 2)
	f.Add("a\x00b\x00ab\x00abab", []byte{}, 0, -1, -1)
	f.Fuzz(func(t *testing.T, tokens string, types []byte, unk, bos, eos int) {
		v := Vocab{Tokens: strings.Split(tokens, "\x00"), UNK: unk, BOS: bos, EOS: eos, PAD: -1}
		if len(types) >= len(v.Tokens) {
			for i := range v.Tokens {
				v.Types = append(v.Types, int32(types[i]%8))
				v.Scores = append(v.Scores, -float32(types[i])/7)
			}
		}
		tok, err := FromVocab(v)
		if err != nil {
			return
		}
		fuzzUse(t, tok)
	})
}

// FuzzEncodeDecode: any text encodes without panic into ids that decode; valid UTF-8 without
// a literal "▁" round trips; splitting into words gives what SentencePiece's whole-text
// algorithm gives; the stream decoder agrees with Decode in valid UTF-8 chunks.
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range adversarialLines(20, 11) {
		f.Add(s)
	}
	f.Add("Hello world")
	f.Add("  \n\t🦙Ꙋ")
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range fuzzTokenizers(t) {
			fuzzEncodeDecode(t, tok, s)
		}
	})
}

// fuzzEncodeDecode checks FuzzEncodeDecode's properties for one tokenizer.
func fuzzEncodeDecode(t *testing.T, tok *Tokenizer, s string) {
	ids := tok.Encode(s, EncodeOptions{})
	if w := wholeText(tok).Encode(s, EncodeOptions{}); !slices.Equal(ids, w) {
		t.Fatalf("word splitting changed %q: %v vs %v", s, ids, w)
	}
	got, err := tok.Decode(ids)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.ValidString(got) {
		t.Fatalf("Decode gave invalid UTF-8 %q", got)
	}
	if utf8.ValidString(s) && !strings.Contains(s, spaceSymbol) && got != s {
		t.Fatalf("round trip %q -> %v -> %q", s, ids, got)
	}
	d := tok.NewDecoder()
	var b strings.Builder
	for _, id := range ids {
		c, err := d.Add(id)
		if err != nil || !utf8.ValidString(c) {
			t.Fatalf("stream chunk %q, %v", c, err)
		}
		b.WriteString(c)
	}
	if b.String()+d.Flush() != got {
		t.Fatalf("stream %q != Decode %q", b.String(), got)
	}
}

// FuzzDecode: arbitrary ids decode to valid UTF-8 or an out-of-range error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{243, 0, 162, 0, 169, 0, 156, 0})
	f.Add(binary.LittleEndian.AppendUint16(nil, math.MaxUint16))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids := make([]int, len(data)/2)
		for i := range ids {
			ids[i] = int(binary.LittleEndian.Uint16(data[2*i:]))
		}
		for _, tok := range fuzzTokenizers(t) {
			s, err := tok.Decode(ids)
			if err != nil {
				if !strings.Contains(err.Error(), "out of range") {
					t.Fatal(err)
				}
				continue
			}
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 %q", s)
			}
		}
	})
}
