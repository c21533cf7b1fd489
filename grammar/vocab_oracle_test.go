//go:build oracle

package grammar

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/tokenizer"
)

// oracleSchema has bounded strings and lists, so random tokens always finish it.
const oracleSchema = `{"type":"object","properties":{
	"name":{"type":"string","minLength":1,"maxLength":10},
	"n":{"type":"integer"},
	"ok":{"type":"boolean"},
	"kind":{"enum":["a","bé","c\"d"]},
	"xs":{"type":"array","items":{"type":["number","null"]},"maxItems":3},
	"sub":{"type":"object","properties":{"t":{"type":"string","maxLength":4}},"required":["t"]}
},"required":["name","n","kind"]}`

// realVocab loads a real tokenizer and prepares its vocabulary; it returns each
// token's bytes and the end-of-sequence id too.
func realVocab(t testing.TB, path string) ([]string, int, *Vocab) {
	if strings.HasSuffix(path, ".json") {
		return byteLevelVocab(t, path)
	}
	tk, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, tk.VocabSize())
	for id := range texts {
		if !tk.IsSpecial(id) {
			texts[id] = tk.TokenText(id)
		}
	}
	return texts, tk.EOS(), NewVocab(texts, []int{tk.EOS()})
}

// byteLevelVocab reads a byte-level BPE tokenizer.json (GPT-2's byte-to-character
// mapping) directly, independently of package tokenizer; the end of sequence is the
// added token <|eot_id|>.
func byteLevelVocab(t testing.TB, path string) ([]string, int, *Vocab) {
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Vocab map[string]int `json:"vocab"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		t.Fatal(err)
	}
	// GPT-2: printable bytes stand for themselves, the others for U+0100 onwards.
	toByte := map[rune]byte{}
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			toByte[rune(b)] = byte(b)
		} else {
			toByte[rune(256+n)] = byte(b)
			n++
		}
	}
	size := len(tj.Model.Vocab)
	for _, a := range tj.AddedTokens {
		size = max(size, a.ID+1)
	}
	texts := make([]string, size)
	for piece, id := range tj.Model.Vocab {
		var b []byte
		for _, r := range piece {
			c, ok := toByte[r]
			if !ok {
				t.Fatalf("%s: piece %q has %q outside the byte alphabet", path, piece, r)
			}
			b = append(b, c)
		}
		texts[id] = string(b)
	}
	eos := -1
	for _, a := range tj.AddedTokens {
		texts[a.ID] = ""
		if a.Content == "<|eot_id|>" {
			eos = a.ID
		}
	}
	return texts, eos, NewVocab(texts, []int{eos})
}

// TestRealVocabularies samples 100 texts token by token from random logits through the
// mask, over SentencePiece (byte fallback, "▁") and byte-level BPE vocabularies, and
// validates each against the schema with an independent validator.
func TestRealVocabularies(t *testing.T) {
	g, err := FromJSONSchema([]byte(oracleSchema))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(oracleSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("s.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		runs int
	}{
		{testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), 100},
		{testutil.Fixture(t, "llama3-tokenizer", "tokenizer.json"), 40}, // 128,256 tokens: slower
	} {
		path := c.path
		texts, eosID, v := realVocab(t, path)
		rng := rand.New(rand.NewPCG(1, 2))
		multi := 0
		for run := 0; run < c.runs; run++ {
			m, err := NewMatcher(g, v)
			if err != nil {
				t.Fatal(err)
			}
			var text strings.Builder
			logits := make([]float32, v.Size())
			for step := 0; ; step++ {
				if step > 2000 {
					t.Fatalf("%s: run %d did not finish: %q", path, run, text.String())
				}
				for i := range logits {
					logits[i] = float32(rng.NormFloat64() * 3)
				}
				if _, err := m.Mask(logits); err != nil {
					t.Fatal(err)
				}
				// Sample from the softmax of what the mask left.
				mx := float32(math.Inf(-1))
				for _, l := range logits {
					mx = max(mx, l)
				}
				var sum float64
				for _, l := range logits {
					sum += math.Exp(float64(l - mx))
				}
				r := rng.Float64() * sum
				id := -1
				for i, l := range logits {
					if r -= math.Exp(float64(l - mx)); r <= 0 && !math.IsInf(float64(l), -1) {
						id = i
						break
					}
				}
				if id < 0 {
					t.Fatalf("%s: run %d: no token allowed after %q", path, run, text.String())
				}
				if err := m.Accept(id); err != nil {
					t.Fatalf("%s: masked-in token %d %q rejected: %v", path, id, texts[id], err)
				}
				if id == eosID {
					break
				}
				if len(texts[id]) > 1 {
					multi++
				}
				text.WriteString(texts[id])
				if m.Done() {
					break
				}
			}
			var doc any
			if err := json.Unmarshal([]byte(text.String()), &doc); err != nil {
				t.Fatalf("%s: run %d: %q does not parse: %v", path, run, text.String(), err)
			}
			inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(text.String()))
			if err := sch.Validate(inst); err != nil {
				t.Fatalf("%s: run %d: %q fails the schema: %v", path, run, text.String(), err)
			}
			if run == 0 {
				t.Logf("%s: %s", path, text.String())
			}
		}
		if multi == 0 {
			t.Errorf("%s: no token of several bytes was ever chosen", path)
		}
	}
}

// BenchmarkMask times one mask of the 32000-token Llama-2 vocabulary for a JSON-schema
// grammar, at the start of the object and inside a string.
func BenchmarkMask(b *testing.B) {
	_, _, v := realVocab(b, testutil.Fixture(b, "llama2-tokenizer", "tokenizer.model"))
	g, err := FromJSONSchema([]byte(oracleSchema))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, prefix string }{{"start", ""}, {"in-string", `{"name": "ab`}, {"after-key", `{"name": "x", "n": 1`}} {
		b.Run(c.name, func(b *testing.B) {
			m, _ := NewMatcher(g, v)
			for i := 0; i < len(c.prefix); i++ {
				// One-byte pieces <0xXX> exist for every byte in the Llama-2 vocabulary.
				id := -1
				for j := 0; j < v.Size(); j++ {
					if v.texts[j] == c.prefix[i:i+1] {
						id = j
						break
					}
				}
				if err := m.Accept(id); err != nil {
					b.Fatal(err)
				}
			}
			logits := make([]float32, v.Size())
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := m.Mask(logits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
