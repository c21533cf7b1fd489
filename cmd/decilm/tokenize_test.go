package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
)

func idLine(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, " ") + "\n"
}

func TestTokenizeHelp(t *testing.T) {
	var out, errb bytes.Buffer
	code := runMain(context.Background(), &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, []string{"tokenize", "-h"})
	if code != 0 || !strings.Contains(errb.String(), "--no-bos") && !strings.Contains(errb.String(), "-no-bos") {
		t.Errorf("tokenize -h: exit %d, %q", code, errb.String())
	}
}

func TestTokenizeCommandErrors(t *testing.T) {
	notTokenizer := filepath.Join(t.TempDir(), "README.md")
	if err := os.WriteFile(notTokenizer, []byte("# Not a tokenizer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "-m (or --model) is required"},
		{[]string{"--model", "x", "extra"}, 2, "unexpected argument"},
		{[]string{"--bogus"}, 2, "bogus"},
		{[]string{"--model", "/nonexistent/tokenizer.model"}, 1, "no such file"},
		{[]string{"--model", notTokenizer}, 1, "README.md"},
		{[]string{"-m", notTokenizer}, 1, "README.md"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), &env{stdin: strings.NewReader("hi"), stdout: &out, stderr: &errb}, append([]string{"tokenize"}, tt.args...))
		if code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
	}
}

// TestTokenizeEmbeddedVocab checks "decilm tokenize" with the embedded stories260K vocabulary
// (llama2.c's tok512.bin): pieces read from the file (" " is 410, "é" 485, no " é"), and
// characters outside its 512 pieces as byte tokens (3 + byte). TestTokenizeCommand checks
// the Llama-2, Mistral and GGUF vocabularies under the oracle tag.
func TestTokenizeEmbeddedVocab(t *testing.T) {
	tok := testmodel.Tokenizer(t, t.TempDir(), 512)
	tests := []struct {
		args        []string
		stdin, want string
	}{
		{[]string{"-m", tok}, "\u00e9", "1 410 485\n"},
		{[]string{"--model", tok}, "\U0001F999", "1 410 243 162 169 156\n"},
		{[]string{"--no-bos", "--model=" + tok}, "\u00e9", "410 485\n"},
		{[]string{"-m", filepath.Dir(tok), "--no-bos"}, "\U0001F999", "410 243 162 169 156\n"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), &env{stdin: strings.NewReader(tt.stdin), stdout: &out, stderr: &errb}, append([]string{"tokenize"}, tt.args...))
		if code != 0 {
			t.Errorf("%v: exit %d: %s", tt.args, code, errb.String())
			continue
		}
		if out.String() != tt.want {
			t.Errorf("%v %q: got %q, want %q", tt.args, tt.stdin, out.String(), tt.want)
		}
	}
}
