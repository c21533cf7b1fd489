package finetune_test

import (
	"bytes"
	"testing"

	"github.com/decilm/decilm/finetune"
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
