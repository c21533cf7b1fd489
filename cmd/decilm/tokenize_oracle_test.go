//go:build oracle

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// TestTokenizeCommand checks "decilm tokenize" against the fixtures' reference ids, for each
// kind of PATH.
func TestTokenizeCommand(t *testing.T) {
	var cases struct {
		Encode []struct {
			Text string `json:"text"`
			IDs  []int  `json:"ids_with_bos"`
		} `json:"encode"`
	}
	data, err := os.ReadFile(testutil.Fixture(t, "llama2-tokenizer", "cases-with-bos.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	llamaModel := testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model")
	gguf := testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf")
	dir := testutil.Fixture(t, "tiny-decilm")
	mistral := testutil.Fixture(t, "mistral-tokenizer")
	type tc struct {
		name  string
		args  []string
		stdin string
		want  string
	}
	var tests []tc
	for i, c := range cases.Encode {
		for _, path := range []string{llamaModel, gguf, dir} {
			tests = append(tests, tc{"case" + strconv.Itoa(i), []string{"--model", path}, c.Text, idLine(c.IDs)})
		}
		tests = append(tests, tc{"nobos" + strconv.Itoa(i), []string{"--model", llamaModel, "--no-bos"}, c.Text, idLine(c.IDs[1:])})
	}
	tests = append(tests,
		// mistral-tokenizer-js: " \n" -> 1 259 13; standard input is not trimmed.
		tc{"mistral", []string{"--model", mistral}, " \n", "1 259 13\n"},
		tc{"mistral file", []string{"--model", testutil.Fixture(t, "mistral-tokenizer", "tokenizer.json")}, "\U0001F999", "1 28705 243 162 169 156\n"},
		// tok512.bin (pieces read from the file: " " is 410, "é" 485, no " é"): BOS, the
		// dummy prefix, then the piece, or the byte tokens (3 + byte) of a character outside
		// its 512 pieces.
		tc{"tok512", []string{"--model", testutil.Fixture(t, "stories260K", "tok512.bin")}, "\u00e9", "1 410 485\n"},
		tc{"tok512 bytes", []string{"--model", testutil.Fixture(t, "stories260K", "tok512.bin")}, "\U0001F999", "1 410 243 162 169 156\n"},
		tc{"flags after", []string{"--no-bos", "--model=" + llamaModel}, "\n", "29871 13\n"},
		// Special tokens are text unless --special: "<s>" is < s > otherwise.
		tc{"special", []string{"--model", llamaModel, "--special", "--no-bos"}, "<s>", "1\n"},
	)
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), &env{stdin: strings.NewReader(tt.stdin), stdout: &out, stderr: &errb}, append([]string{"tokenize"}, tt.args...))
		if code != 0 {
			t.Errorf("%s: exit %d: %s", tt.name, code, errb.String())
			continue
		}
		if out.String() != tt.want {
			t.Errorf("%s %v %q: got %q, want %q", tt.name, tt.args, tt.stdin, out.String(), tt.want)
		}
	}

	var out, errb bytes.Buffer
	runMain(context.Background(), &env{stdin: strings.NewReader("<s>"), stdout: &out, stderr: &errb}, []string{"tokenize", "--model", llamaModel, "--no-bos"})
	if out.String() == "1\n" {
		t.Error("<s> parsed as a special token without --special")
	}
}
