package finetune_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/finetune/finetunetest"
)

// FuzzReadData feeds arbitrary lines to every format: rows become examples or errors, never
// panics, and every example has one loss flag per predicted token.
func FuzzReadData(f *testing.F) {
	for _, s := range []string{
		`{"text":"hello"}`,
		`{"system_prompt":"s","question":"q","response":"r"}`,
		`{"input":{"messages":[{"role":"user","content":"q"}]},"preferred_output":[{"role":"assistant","content":"a"}]}`,
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"<s>b</s>"}]}`,
		`{"messages":[{"role":"assistant","content":""}]}`,
		"{\"text\":\"\xff\"}\n\n{",
	} {
		f.Add([]byte(s))
	}
	tok := storiesTokenizer(f)
	tmpls := map[string]string{"orca": "decilm-6b-instruct", "chat": "llama-2", "text": ""}
	f.Fuzz(func(t *testing.T, data []byte) {
		for format, name := range tmpls {
			o := finetune.DataOptions{Format: format, SeqLen: 128, MaxLineBytes: 4096}
			if name != "" {
				o.Template = template(t, name)
			}
			exs, _, err := finetune.ReadData(bytes.NewReader(data), "fuzz.jsonl", tok, o)
			if err != nil {
				continue
			}
			for _, ex := range exs {
				if len(ex.Loss) != len(ex.Tokens)-1 || len(ex.Tokens) > 128 {
					t.Fatalf("%s: %d tokens, %d loss flags", format, len(ex.Tokens), len(ex.Loss))
				}
			}
		}
	})
}

// FuzzParseCheckpoint: a damaged checkpoint is an error naming it, never a panic; one that
// parses resumes nothing it cannot hold.
func FuzzParseCheckpoint(f *testing.F) {
	dir := f.TempDir()
	net, err := finetunetest.New(4, finetune.LoRAConfig{R: 1, Alpha: 2, Targets: []string{"q_proj"}}, 1)
	if err != nil {
		f.Fatal(err)
	}
	o := testOptions(dir)
	o.Epochs = 1
	if _, err := finetune.Run(context.Background(), net, []finetune.Example{{Tokens: []int{1, 2, 3}, Loss: []bool{true, true}}}, nil, o); err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, finetune.CheckpointFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := finetune.ParseCheckpoint("ck", data)
		if err != nil {
			if !strings.Contains(err.Error(), "ck") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		if ck.Step > ck.Total || len(ck.Log) != ck.Step {
			t.Errorf("accepted an inconsistent checkpoint: %+v", ck)
		}
	})
}
