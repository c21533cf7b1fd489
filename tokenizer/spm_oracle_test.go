//go:build oracle

package tokenizer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// spmEncode runs SentencePiece's own spm_encode over lines (no newlines inside) and returns
// one id list per line. The test fails, never skips, when spm_encode is missing: CI installs
// Debian's sentencepiece package.
func spmEncode(t *testing.T, model string, lines []string) [][]int {
	t.Helper()
	bin, err := exec.LookPath("spm_encode")
	if err != nil {
		t.Fatalf("spm_encode not found (install it: apt-get install sentencepiece): %v", err)
	}
	in := filepath.Join(t.TempDir(), "input.txt")
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "--model="+model, "--output_format=id", "--input="+in)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("spm_encode: %v\n%s", err, stderr.String())
	}
	outLines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(outLines) != len(lines) {
		t.Fatalf("spm_encode printed %d lines for %d inputs", len(outLines), len(lines))
	}
	ids := make([][]int, len(lines))
	for i, l := range outLines {
		ids[i] = []int{}
		for _, f := range strings.Fields(l) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("spm_encode line %d: %v", i, err)
			}
			ids[i] = append(ids[i], id)
		}
	}
	return ids
}

func compareWithSPM(t *testing.T, tok *Tokenizer, model string, lines []string) {
	t.Helper()
	want := spmEncode(t, model, lines)
	bad := 0
	for i, line := range lines {
		got := tok.Encode(line, EncodeOptions{})
		if !slices.Equal(got, want[i]) {
			bad++
			if bad <= 10 {
				t.Errorf("line %d %q:\n got %v\nwant %v", i, clip(line), got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d lines differ from spm_encode", bad, len(lines))
	}
}

func TestSPMEncodeTinyStories(t *testing.T) {
	corpus := readFile(t, "corpus", "tinystories_val.txt")
	lines := strings.Split(strings.TrimSuffix(string(corpus), "\n"), "\n")
	compareWithSPM(t, llama(t), testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), lines)
}

func TestSPMEncodeAdversarial(t *testing.T) {
	compareWithSPM(t, llama(t), testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), adversarialLines(3000, 42))
}

// TestSPMEncodeTok512 checks the llama2.c loader: tok512.bin converted to a SentencePiece
// model by writeModelProto must encode as spm_encode does with that model.
func TestSPMEncodeTok512(t *testing.T) {
	tok, err := LoadLlama2C(readFile(t, "stories260K", "tok512.bin"), 512)
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "tok512.model")
	if err := os.WriteFile(model, writeModelProto(tok), 0o644); err != nil {
		t.Fatal(err)
	}
	corpus := readFile(t, "corpus", "tinystories_val.txt")
	lines := strings.Split(strings.TrimSuffix(string(corpus), "\n"), "\n")
	lines = append(lines[:2000], adversarialLines(500, 7)...)
	compareWithSPM(t, tok, model, lines)
}

// TestSPMUserDefinedAndUnused checks two SentencePiece features Llama-2 does not use, against
// spm_encode on a Llama-2 model changed to use them: user-defined pieces (matched whole, never
// merged) and unused pieces (merged through, then split back into the pieces they came from).
func TestSPMUserDefinedAndUnused(t *testing.T) {
	base := llama(t)
	pieces, scores, types := base.Pieces()
	pieces = append(pieces, "<tool>", "zqzq", "ΩΩ")
	scores = append(scores, 0, 0, 0)
	types = append(types, int32(UserDefined), int32(UserDefined), int32(UserDefined))
	for _, p := range []string{"▁the", "ing", "▁Hello", "er"} {
		id, ok := base.PieceID(p)
		if !ok {
			t.Fatalf("no piece %q", p)
		}
		types[id] = int32(Unused)
	}
	tok, err := FromVocab(Vocab{Tokens: pieces, Scores: scores, Types: types, UNK: 0, BOS: 1, EOS: 2, PAD: -1})
	if err != nil {
		t.Fatal(err)
	}
	if tok.segmentable {
		t.Error("a vocabulary with unused pieces must not be split into words")
	}
	model := filepath.Join(t.TempDir(), "modified.model")
	if err := os.WriteFile(model, writeModelProto(tok), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := []string{
		"Hello the thing<tool>zqzq", "<tool><tool>", "zqzqzqzq abc", "the singer", "a<tool>b", "Hellothe",
		"running ringing the other there", "ΩΩΩ zqzqz ΩΩthe", " ΩΩ", "<tool> ",
	}
	lines = append(lines, adversarialLines(200, 13)...)
	corpus := readFile(t, "corpus", "tinystories_val.txt")
	lines = append(lines, strings.Split(string(corpus[:20000]), "\n")...)
	compareWithSPM(t, tok, model, lines)
}
