package tokenizer

import (
	"os"
	"path/filepath"
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
