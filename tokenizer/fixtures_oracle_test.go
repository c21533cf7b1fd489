//go:build oracle

package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// Loaded once per test binary: the vocabularies are large.
var (
	llamaOnce sync.Once
	llamaTok  *Tokenizer
	llamaErr  error
)

func llama(t testing.TB) *Tokenizer {
	t.Helper()
	path := testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model")
	llamaOnce.Do(func() {
		var data []byte
		data, llamaErr = os.ReadFile(path)
		if llamaErr == nil {
			llamaTok, llamaErr = LoadModelProto(data)
		}
	})
	if llamaErr != nil {
		t.Fatal(llamaErr)
	}
	return llamaTok
}

func readFile(t testing.TB, elem ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(testutil.Fixture(t, elem...))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type encodeCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids_with_bos"`
}

func readCases(t testing.TB, elem ...string) []encodeCase {
	t.Helper()
	var f struct {
		Encode []encodeCase `json:"encode"`
	}
	if err := json.Unmarshal(readFile(t, elem...), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Encode) == 0 {
		t.Fatal("no cases")
	}
	return f.Encode
}

// llamacppCases reads llama.cpp's vocab test: texts and their ids without BOS.
func llamacppCases(t testing.TB) []encodeCase {
	t.Helper()
	inp := string(readFile(t, "llama2-tokenizer", "llamacpp-vocab-test.inp"))
	out := string(readFile(t, "llama2-tokenizer", "llamacpp-vocab-test.out"))
	texts := strings.Split(inp, "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] != "" {
		t.Fatalf("inp does not end with a separator")
	}
	texts = texts[:len(texts)-1]
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(texts) != len(lines) {
		t.Fatalf("%d texts but %d id lines", len(texts), len(lines))
	}
	cases := make([]encodeCase, len(texts))
	for i := range texts {
		cases[i].Text = texts[i]
		cases[i].IDs = []int{}
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			cases[i].IDs = append(cases[i].IDs, id)
		}
	}
	return cases
}

func checkCases(t *testing.T, tok *Tokenizer, cases []encodeCase, bos bool) {
	t.Helper()
	for i, c := range cases {
		got := tok.Encode(c.Text, EncodeOptions{AddBOS: bos})
		if !slices.Equal(got, c.IDs) {
			t.Errorf("case %d: Encode(%q) =\n%v, want\n%v", i, c.Text, got, c.IDs)
		}
		text, err := tok.Decode(c.IDs)
		if err != nil {
			t.Errorf("case %d: Decode: %v", i, err)
		} else if text != c.Text {
			t.Errorf("case %d: Decode(%v) = %q, want %q", i, c.IDs, text, c.Text)
		}
	}
}

func TestLlamaCppVocabCases(t *testing.T) {
	cases := llamacppCases(t)
	if len(cases) != 46 {
		t.Fatalf("%d cases, want 46", len(cases))
	}
	checkCases(t, llama(t), cases, false)
}

func TestLlamaCasesWithBOS(t *testing.T) {
	cases := readCases(t, "llama2-tokenizer", "cases-with-bos.json")
	if len(cases) != 16 {
		t.Fatalf("%d cases, want 16", len(cases))
	}
	checkCases(t, llama(t), cases, true)
}

func TestMistralHFJSONCases(t *testing.T) {
	tok, err := LoadHFJSON(readFile(t, "mistral-tokenizer", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.AddBOS() || tok.AddEOS() || tok.BOS() != 1 || tok.EOS() != 2 || tok.UNK() != 0 || tok.VocabSize() != 32000 {
		t.Errorf("AddBOS %v AddEOS %v BOS %d EOS %d UNK %d VocabSize %d", tok.AddBOS(), tok.AddEOS(), tok.BOS(), tok.EOS(), tok.UNK(), tok.VocabSize())
	}
	cases := readCases(t, "mistral-tokenizer", "cases-with-bos.json")
	if len(cases) != 11 {
		t.Fatalf("%d cases, want 11", len(cases))
	}
	checkCases(t, tok, cases, true)
}

func init() {
	oracleFuzzTokenizers = func(t testing.TB) []*Tokenizer { return []*Tokenizer{llama(t)} }
}
