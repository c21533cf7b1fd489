package tokenizer

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLlama2CTok512 checks the llama2.c loader against the format's documented layout
// (shared/fixtures/README.md): 512 tokens, <unk> <s> </s>, then the 256 byte tokens.
func TestLlama2CTok512(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tok512.bin")
	if err := os.WriteFile(p, tok512Bytes(t), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 512 || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || !tok.ByteFallback() || !tok.AddBOS() {
		t.Fatalf("vocab %d bos %d eos %d unk %d byteFallback %v", tok.VocabSize(), tok.BOS(), tok.EOS(), tok.UNK(), tok.ByteFallback())
	}
	if tok.Piece(1) != "<s>" || tok.Piece(2) != "</s>" || tok.Piece(3) != "<0x00>" || tok.Piece(258) != "<0xFF>" || tok.Type(3) != Byte {
		t.Errorf("pieces 1..3, 258: %q %q %q %q", tok.Piece(1), tok.Piece(2), tok.Piece(3), tok.Piece(258))
	}
	text := "Once upon a time, there was a little girl named Lily."
	ids := tok.Encode(text, tok.DefaultOptions())
	if ids[0] != 1 {
		t.Errorf("no BOS: %v", ids)
	}
	back, err := tok.Decode(ids)
	if err != nil || back != text {
		t.Errorf("round trip: %q, %v", back, err)
	}
	if _, err := LoadLlama2C(tok512Bytes(t), 513); err == nil {
		t.Error("vocabSize 513 accepted for a 512-token file")
	}
}

// TestLoadErrors: truncated and corrupt files give errors that say what is wrong.
func TestLoadErrors(t *testing.T) {
	// The embedded tok512 vocabulary in each format.
	model := writeModelProto(tok512(t))
	js, err := tok512(t).MarshalHFJSON()
	if err != nil {
		t.Fatal(err)
	}
	bin := tok512Bytes(t)
	badType := append([]byte(nil), model...)
	// First piece: 0a LEN 0a 05 "<unk>" 15 score 18 type -> set type 9.
	if i := strings.Index(string(badType[:40]), "\x18\x02"); i >= 0 {
		badType[i+1] = 9
	} else {
		t.Fatal("cannot find the first piece's type")
	}
	longPiece := binary.LittleEndian.AppendUint32([]byte(nil), 7)
	longPiece = binary.LittleEndian.AppendUint32(longPiece, math.Float32bits(0))
	longPiece = binary.LittleEndian.AppendUint32(longPiece, 100)
	tests := []struct {
		name string
		load func() error
		want string
	}{
		{"model truncated", func() error { _, err := LoadModelProto(model[:len(model)/2]); return err }, "truncated"},
		{"model empty", func() error { _, err := LoadModelProto(nil); return err }, "no pieces"},
		{"model garbage", func() error { _, err := LoadModelProto([]byte("\xff\xff\xff")); return err }, "SentencePiece model"},
		{"model bad type", func() error { _, err := LoadModelProto(badType); return err }, "pieces[0]: type 9"},
		{"json truncated", func() error { _, err := LoadHFJSON(js[:len(js)/2]); return err }, "tokenizer.json"},
		{"json not bpe", func() error { _, err := LoadHFJSON([]byte(`{"model":{"type":"Unigram"}}`)); return err }, "Unigram"},
		{"json gap", func() error {
			_, err := LoadHFJSON([]byte(`{"model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"a":2}}}`))
			return err
		}, "no token has id 1"},
		{"json bad merge", func() error {
			_, err := LoadHFJSON([]byte(`{"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},"model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"a":1},"merges":["a b"]}}`))
			return err
		}, "merges[0]"},
		{"json no escaping", func() error {
			_, err := LoadHFJSON([]byte(`{"model":{"type":"BPE","unk_token":"<unk>","vocab":{"<unk>":0,"a":1}}}`))
			return err
		}, "spaces are not replaced"},
		{"bin truncated", func() error { _, err := LoadLlama2C(bin[:len(bin)-3], 0); return err }, "truncated"},
		{"bin short", func() error { _, err := LoadLlama2C([]byte{1}, 0); return err }, "too short"},
		{"bin long piece", func() error { _, err := LoadLlama2C(longPiece, 0); return err }, "length 100"},
		{"vocab empty", func() error { _, err := FromVocab(Vocab{}); return err }, "no tokens"},
		{"vocab model", func() error { _, err := FromVocab(Vocab{Model: "gpt2", Tokens: []string{"a"}}); return err }, "gpt2"},
		{"vocab scores", func() error {
			_, err := FromVocab(Vocab{Tokens: []string{"<unk>", "a"}, Scores: []float32{0}, BOS: -1, EOS: -1, UNK: -1, PAD: -1})
			return err
		}, "1 scores"},
		{"vocab no unk", func() error {
			_, err := FromVocab(Vocab{Tokens: []string{"a", "b"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1})
			return err
		}, "no unknown piece"},
		{"load missing", func() error { _, err := Load(filepath.Join(t.TempDir(), "nothing")); return err }, "no such file"},
		{"load empty dir", func() error { _, err := Load(t.TempDir()); return err }, "has no tokenizer.model"},
		{"config bad", func() error { return tok512(t).ApplyConfig([]byte(`{"add_bos_token": "yes"}`)) }, "tokenizer config"},
		{"config gap", func() error {
			return tok512(t).ApplyConfig([]byte(`{"added_tokens_decoder": {"517": {"content": "x"}}}`))
		}, "leave id 512 undefined"},
		{"config bos", func() error { return tok512(t).ApplyConfig([]byte(`{"bos_token": "<nope>"}`)) }, "not in the vocabulary"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load()
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
