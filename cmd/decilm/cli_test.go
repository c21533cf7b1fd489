package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
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
// model and from a copy of it on disk (TestRunStoriesLlama2C runs llama2.c's own file under
// the oracle tag).
func TestRunStories(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--temperature", "0", "-n", "200"},
		{"run", "-m", testmodel.Stories(t), "--temp", "0", "--n-predict", "200"},
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

// TestInfo describes the synth package's tiny preset, which is the tiny-decilm fixture byte
// for byte.
func TestInfo(t *testing.T) {
	out, errs, code := run(t, "", "info", "-m", testmodel.Synth(t, "tiny", 1234))
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

// TestRunIDs: the --tokens/--ids contract on the embedded model: BOS alone as the prompt,
// 200 greedy ids that decode to llama2.c's text (TestRunIDsLlamaCpp checks llama.cpp's 32
// greedy tokens of the tiny-decilm fixture under the oracle tag).
func TestRunIDs(t *testing.T) {
	out, errs, code := run(t, "", "run", "--tokens", "1", "-n", "200", "--temperature", "0", "--ids")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var ids []int
	for _, f := range strings.Fields(out) {
		id, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		ids = append(ids, id)
	}
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	text, err := m.Tokenizer.Decode(ids)
	if err != nil || len(ids) != 200 || text != llama2cText {
		t.Fatalf("%d ids decode to %q (%v), want llama2.c's text", len(ids), text, err)
	}
}

// TestLogitsEmbedded: `decilm logits` writes model.Forward's logits of every position
// (TestLogitsCommand compares with llama.cpp's under the oracle tag).
func TestLogitsEmbedded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.f32")
	toks := []int{1, 403, 407, 261, 378}
	_, errs, code := run(t, "", "logits", "--tokens", "1,403,407,261,378", "-o", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var b model.Batch
	for i, tok := range toks {
		b.Add(0, i, tok, true)
	}
	want, err := m.Net.Forward(&b, model.NewCache(m.Net.Config, len(toks)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4*len(want) {
		t.Fatalf("%d bytes, want %d", len(got), 4*len(want))
	}
	for i, w := range want {
		if g := math.Float32frombits(binary.LittleEndian.Uint32(got[4*i:])); g != w {
			t.Fatalf("logit %d: %g, model.Forward %g", i, g, w)
		}
	}
}
