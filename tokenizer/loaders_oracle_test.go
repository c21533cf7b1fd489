//go:build oracle

package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/internal/testutil"
)

// TestModelAndJSONAgree converts tokenizer.model into a tokenizer.json (merges derived from
// the scores, as transformers' LlamaConverter does) and checks that the merges-based Hugging
// Face algorithm gives the same ids as SentencePiece's score-based one on the whole corpus.
func TestModelAndJSONAgree(t *testing.T) {
	spm := llama(t)
	js, err := spm.MarshalHFJSON()
	if err != nil {
		t.Fatal(err)
	}
	hf, err := LoadHFJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	if hf.merges == nil || len(hf.merges) < 60000 {
		t.Fatalf("converted tokenizer.json has %d merges, want the ~61k of Llama-2", len(hf.merges))
	}
	if hf.VocabSize() != spm.VocabSize() || hf.BOS() != spm.BOS() || hf.EOS() != spm.EOS() || hf.UNK() != spm.UNK() || !hf.AddBOS() {
		t.Fatalf("tokenizer.json: vocab %d bos %d eos %d unk %d addBOS %v", hf.VocabSize(), hf.BOS(), hf.EOS(), hf.UNK(), hf.AddBOS())
	}
	corpus := string(readFile(t, "corpus", "tinystories_val.txt"))
	texts := strings.Split(corpus, "\n\n") // the stories
	texts = append(texts, corpus)
	texts = append(texts, adversarialLines(2000, 99)...)
	for _, c := range llamacppCases(t) {
		texts = append(texts, c.Text)
	}
	bad := 0
	for i, s := range texts {
		a := spm.Encode(s, EncodeOptions{AddBOS: true})
		b := hf.Encode(s, EncodeOptions{AddBOS: true})
		if !slices.Equal(a, b) {
			bad++
			if bad < 5 {
				t.Errorf("text %d %q:\nmodel %v\n json %v", i, clip(s), a, b)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d texts differ", bad, len(texts))
	}
}

// TestGGUFVocabEqualsModel checks the vocabulary in a real GGUF file's metadata against
// tokenizer.model.
func TestGGUFVocabEqualsModel(t *testing.T) {
	path := testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf")
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g, err := FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	m := llama(t)
	gp, gs, gt := g.Pieces()
	mp, ms, mt := m.Pieces()
	if !slices.Equal(gp, mp) || !slices.Equal(gs, ms) || !slices.Equal(gt, mt) {
		t.Fatal("GGUF pieces, scores or types differ from tokenizer.model")
	}
	if g.BOS() != m.BOS() || g.EOS() != m.EOS() || g.UNK() != m.UNK() || !g.AddBOS() || g.ByteFallback() != m.ByteFallback() {
		t.Fatalf("GGUF: bos %d eos %d unk %d addBOS %v byteFallback %v", g.BOS(), g.EOS(), g.UNK(), g.AddBOS(), g.ByteFallback())
	}
	checkCases(t, g, llamacppCases(t), false)

	// Load recognises the file, by extension and by content.
	for _, p := range []string{path, copyTo(t, path, "vocab.dat")} {
		l, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		if l.VocabSize() != 32000 {
			t.Errorf("Load(%s): %d tokens", p, l.VocabSize())
		}
	}
}

func copyTo(t *testing.T, src, name string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLoadDirectory checks Load on model directories: tokenizer.model preferred, the
// tokenizer_config.json beside it applied.
func TestLoadDirectory(t *testing.T) {
	dir := testutil.Fixture(t, "tiny-decilm")
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.AddBOS() || tok.AddEOS() || tok.VocabSize() != 32000 {
		t.Errorf("tiny-decilm: addBOS %v addEOS %v vocab %d", tok.AddBOS(), tok.AddEOS(), tok.VocabSize())
	}
	tok, err = Load(testutil.Fixture(t, "mistral-tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	if tok.merges == nil {
		t.Error("mistral-tokenizer directory not loaded from tokenizer.json")
	}

	// A config that turns on EOS and adds a token past the vocabulary.
	tmp := t.TempDir()
	copyFile(t, testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), filepath.Join(tmp, "tokenizer.model"))
	cfg := `{"add_bos_token": false, "add_eos_token": true, "added_tokens_decoder": {
		"32000": {"content": "<|im_end|>", "special": true},
		"32001": {"content": "<tool>", "special": false}}}`
	if err := os.WriteFile(filepath.Join(tmp, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err = Load(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AddBOS() || !tok.AddEOS() || tok.VocabSize() != 32002 {
		t.Fatalf("config not applied: addBOS %v addEOS %v vocab %d", tok.AddBOS(), tok.AddEOS(), tok.VocabSize())
	}
	got := tok.Encode("Hi<|im_end|><tool>", EncodeOptions{ParseSpecial: true, AddEOS: true})
	// "▁Hi" = 6324; the special token; the user-defined token; EOS.
	if want := []int{6324, 32000, 32001, 2}; !slices.Equal(got, want) {
		t.Errorf("added tokens: %v, want %v", got, want)
	}
	if s, _ := tok.Decode(got); s != "Hi<tool>" {
		t.Errorf("decode added tokens: %q", s)
	}
	// As in Hugging Face, a non-special added token splits the text even without
	// ParseSpecial: "Hi" and "Hi" each get the dummy prefix.
	if got, want := tok.Encode("Hi<tool>Hi", EncodeOptions{}), []int{6324, 32001, 6324}; !slices.Equal(got, want) {
		t.Errorf("Encode(Hi<tool>Hi) = %v, want %v", got, want)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// llamaCopy loads a private Llama tokenizer (ApplyConfig changes it).
func llamaCopy(t *testing.T) *Tokenizer {
	t.Helper()
	tok, err := LoadModelProto(readFile(t, "llama2-tokenizer", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
