package main

import (
	"bytes"
	"context"
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

// run executes decilm in-process and returns stdout, stderr and the exit status.
func run(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runMain(context.Background(), &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), code
}

const llama2cText = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't know what to do. She said, "I want to play with your ball, but I can't find it."
Lily was sad and didn't know what to do. She said, "I'm sorry, Lily. I didn't know what to do."
Lily didn't want to help her mom, so she`

// TestRunStories: greedy generation from BOS reproduces llama2.c's text, from the embedded
// model and from llama2.c's own file (with its tok512.bin found beside it).
func TestRunStories(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--temperature", "0", "-n", "200"},
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

// TestRunIDs: the --tokens/--ids contract against llama.cpp's 32 greedy tokens.
func TestRunIDs(t *testing.T) {
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

func TestInfo(t *testing.T) {
	out, errs, code := run(t, "", "info", "-m", testutil.Fixture(t, "tiny-decilm"))
	if code != 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{"KV heads per layer:  [8, 4, 2, 1] (15 in all)", "KV bytes per token:  960 at f16", "8.91M"} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"nosuchcommand"},
		{"logits", "--tokens", "1,x", "-o", "/dev/null"},
		{"run", "--temperature", "-1"},
		{"synth", "--preset", "huge", "/tmp/x"},
	}
	for _, args := range cases {
		if _, _, code := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, errs, code := run(t, "", "run", "-m", "/nonexistent/model"); code != 1 || !strings.Contains(errs, "/nonexistent/model") {
		t.Errorf("missing model: exit %d, %q", code, errs)
	}
}

// TestInfoEmbedded: without -m, info describes the embedded stories260K model.
func TestInfoEmbedded(t *testing.T) {
	out, errs, code := run(t, "", "info")
	if code != 0 {
		t.Fatal(errs)
	}
	for _, want := range []string{"stories260K (embedded)", "260032", "[4, 4, 4, 4, 4]"} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
}
