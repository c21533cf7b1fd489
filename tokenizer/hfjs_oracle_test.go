//go:build oracle

package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/decilm/decilm/internal/testutil"
)

// hfjsEncode runs Hugging Face's tokenizers.js over lines. The test fails, never skips, when
// node or the package is missing.
func hfjsEncode(t *testing.T, tokenizerJSON, configJSON []byte, lines []string) (ids [][]int, decoded []string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	dir := testutil.NPMDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "tokenizers", "package.json")); err != nil {
		t.Fatalf("@huggingface/tokenizers not installed in %s (npm install --prefix %s @huggingface/tokenizers@0.2.0, or set DECILM_HFJS): %v", dir, dir, err)
	}
	tmp := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in, _ := json.Marshal(lines)
	script, err := os.ReadFile(filepath.Join("testdata", "hfjs", "encode.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	// The script must sit beside node_modules for the import to resolve.
	scriptPath := filepath.Join(dir, "decilm-encode.mjs")
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out.json")
	var stderr bytes.Buffer
	cmd := exec.Command(node, scriptPath, write("tokenizer.json", tokenizerJSON), write("config.json", configJSON), write("lines.json", in), out)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tokenizers.js: %v\n%s", err, stderr.String())
	}
	var r struct {
		IDs     [][]int  `json:"ids"`
		Decoded []string `json:"decoded"`
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.IDs) != len(lines) || len(r.Decoded) != len(lines) {
		t.Fatalf("tokenizers.js returned %d/%d results for %d lines", len(r.IDs), len(r.Decoded), len(lines))
	}
	return r.IDs, r.Decoded
}

// validLines replaces each invalid byte by U+FFFD (JavaScript strings cannot hold them; our
// Encode treats them the same way).
func validLines(lines []string) []string {
	out := make([]string, len(lines))
	for i, s := range lines {
		var b strings.Builder
		for j := 0; j < len(s); {
			r, n := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && n == 1 {
				b.WriteString("\uFFFD")
			} else {
				b.WriteString(s[j : j+n])
			}
			j += n
		}
		out[i] = b.String()
	}
	return out
}

// TestHFTokenizersJS compares the tokenizer.json path with Hugging Face's tokenizers.js, for
// the real Mistral tokenizer.json and for the Llama-2 tokenizer.json written by
// MarshalHFJSON: ids (special tokens parsed, as Hugging Face does by default) and decoded text
// (skip_special_tokens) on TinyStories lines, adversarial lines and llama.cpp's cases.
func TestHFTokenizersJS(t *testing.T) {
	corpus := strings.Split(string(readFile(t, "corpus", "tinystories_val.txt")), "\n")
	lines := append(corpus[:600:600], adversarialLines(900, 77)...)
	for _, c := range llamacppCases(t) {
		lines = append(lines, c.Text)
	}
	lines = validLines(lines)

	mistralJSON := readFile(t, "mistral-tokenizer", "tokenizer.json")
	mistral, err := LoadHFJSON(mistralJSON)
	if err != nil {
		t.Fatal(err)
	}
	llamaJSON, err := llama(t).MarshalHFJSON()
	if err != nil {
		t.Fatal(err)
	}
	llamaHF, err := LoadHFJSON(llamaJSON)
	if err != nil {
		t.Fatal(err)
	}
	llamaConfig := []byte(`{"add_bos_token": true, "legacy": true, "clean_up_tokenization_spaces": false}`)
	type variant struct {
		name       string
		js, config []byte
		tok        *Tokenizer
	}
	variants := []variant{
		{"mistral tokenizer.json", mistralJSON, readFile(t, "mistral-tokenizer", "tokenizer_config.json"), mistral},
		{"llama-2 converted", llamaJSON, llamaConfig, llamaHF},
	}
	// The same vocabulary with a Metaspace pre-tokeniser instead of the normaliser, as newer
	// conversions write it (prepend_scheme "first" for legacy=false). Not split=true: the
	// README of tokenizers.js says it does not reproduce that (MergedWithNext) exactly.
	for _, pre := range []string{
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}`,
		`{"type":"Metaspace","replacement":"▁","prepend_scheme":"always","split":false}`,
	} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(llamaJSON, &m); err != nil {
			t.Fatal(err)
		}
		m["normalizer"] = json.RawMessage("null")
		m["pre_tokenizer"] = json.RawMessage(pre)
		js, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := LoadHFJSON(js)
		if err != nil {
			t.Fatal(err)
		}
		variants = append(variants, variant{"llama-2 " + pre, js, llamaConfig, tok})
		if strings.Contains(pre, `"first"`) {
			// tokenizer.model with legacy=false is what that tokenizer.json encodes.
			nonLegacy := llamaCopy(t)
			if err := nonLegacy.ApplyConfig([]byte(`{"legacy": false}`)); err != nil {
				t.Fatal(err)
			}
			variants = append(variants, variant{"llama-2 tokenizer.model, legacy=false", js, llamaConfig, nonLegacy})
		}
	}
	for _, c := range variants {
		ids, decoded := hfjsEncode(t, c.js, c.config, lines)
		bad := 0
		for i, s := range lines {
			got := c.tok.Encode(s, EncodeOptions{ParseSpecial: true})
			text, err := c.tok.Decode(ids[i])
			if !slices.Equal(got, ids[i]) || err != nil || text != decoded[i] {
				bad++
				if bad <= 5 {
					t.Errorf("%s line %d %q:\n ours %v\n   js %v\n decode ours %q js %q (%v)", c.name, i, clip(s), got, ids[i], clip(text), clip(decoded[i]), err)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d lines differ from tokenizers.js", c.name, bad, len(lines))
		}
	}
}
