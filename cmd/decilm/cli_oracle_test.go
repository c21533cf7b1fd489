//go:build oracle

package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// TestRunStoriesLlama2C: greedy generation from llama2.c's own stories260K.bin (with its
// tok512.bin found beside it) reproduces llama2.c's text.
func TestRunStoriesLlama2C(t *testing.T) {
	for _, args := range [][]string{
		{"run", "-m", testutil.Fixture(t, "stories260K", "stories260K.bin"), "--temperature", "0", "-n", "200"},
	} {
		out, errs, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if strings.TrimSuffix(out, "\n") != llama2cText {
			t.Fatalf("%v printed %q", args, out)
		}
	}
}

// TestRunIDsLlamaCpp: the --tokens/--ids contract against llama.cpp's 32 greedy tokens.
func TestRunIDsLlamaCpp(t *testing.T) {
	var ref struct {
		PromptTokens    []int `json:"prompt_tokens"`
		GeneratedTokens []int `json:"generated_tokens"`
	}
	b, err := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "greedy_0.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &ref)
	var toks []string
	for _, x := range ref.PromptTokens {
		toks = append(toks, strconv.Itoa(x))
	}
	out, errs, code := run(t, "", "run", "-m", testutil.Fixture(t, "tiny-decilm"), "--tokens", strings.Join(toks, ","),
		"-n", "32", "--temperature", "0", "--ignore-eos", "--ids")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var want []string
	for _, x := range ref.GeneratedTokens {
		want = append(want, strconv.Itoa(x))
	}
	if strings.TrimSpace(out) != strings.Join(want, " ") {
		t.Fatalf("got %q\nwant %q", out, strings.Join(want, " "))
	}
}

// TestLogitsCommand compares `decilm logits` with llama.cpp's logits (1e-4).
func TestLogitsCommand(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.f32")
	_, errs, code := run(t, "", "logits", "-m", testutil.Fixture(t, "tiny-decilm"), "--tokens", "1,450,4996,17354,1701,29916", "-o", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, _ := os.ReadFile(p)
	want, _ := os.ReadFile(testutil.Fixture(t, "tiny-decilm", "logits_0.f32"))
	if len(got) != len(want) {
		t.Fatalf("%d bytes, want %d", len(got), len(want))
	}
	for i := 0; i < len(want); i += 4 {
		g := math.Float32frombits(binary.LittleEndian.Uint32(got[i:]))
		w := math.Float32frombits(binary.LittleEndian.Uint32(want[i:]))
		if math.Abs(float64(g-w)) > 1e-4 {
			t.Fatalf("logit %d: %g, llama.cpp %g", i/4, g, w)
		}
	}
}
