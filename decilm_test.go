package decilm_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/internal/testutil/testmodel"
)

// llama2cText is what llama2.c's test_all.py expects from
// `run stories260K.bin -z tok512.bin -t 0.0 -n 200` (shared/fixtures/README.md).
const llama2cText = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't know what to do. She said, "I want to play with your ball, but I can't find it."
Lily was sad and didn't know what to do. She said, "I'm sorry, Lily. I didn't know what to do."
Lily didn't want to help her mom, so she`

func TestEmbeddedGreedyMatchesLlama2C(t *testing.T) {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var streamed strings.Builder
	res, err := m.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 200, OnText: func(s string) error {
		streamed.WriteString(s)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != llama2cText {
		t.Fatalf("greedy text differs from llama2.c's:\n got: %q\nwant: %q", res.Text, llama2cText)
	}
	if streamed.String() != res.Text {
		t.Fatalf("streamed text %q differs from the result %q", streamed.String(), res.Text)
	}
	if len(res.Tokens) != 200 || res.FinishReason != "length" {
		t.Fatalf("%d tokens, finish %q; want 200, length", len(res.Tokens), res.FinishReason)
	}
}

// TestPromptContinuation: with the prompt "Once upon a time" greedy decoding continues the
// way llama2.c's 200-token text does.
func TestPromptContinuation(t *testing.T) {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const prompt = "Once upon a time"
	res, err := m.Generate(ctx, prompt, decilm.GenerateOptions{MaxTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(llama2cText, prompt)
	if len(res.Tokens) != 64 || !strings.HasPrefix(want, res.Text) {
		t.Fatalf("continuation %q (%d tokens) is not a prefix of %q", res.Text, len(res.Tokens), want)
	}
	// Token for token: the prompt's tokens are the first ones of the greedy path from BOS,
	// so the continuation must be the next 64 of that path.
	full, err := m.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 200})
	if err != nil {
		t.Fatal(err)
	}
	k := res.PromptTokens - 1 // without BOS
	for i, id := range res.Tokens {
		if full.Tokens[k+i] != id {
			t.Fatalf("token %d of the continuation: %d, the greedy path from BOS has %d", i, id, full.Tokens[k+i])
		}
	}
}

func TestCancel(t *testing.T) {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err = m.Generate(ctx, "", decilm.GenerateOptions{MaxTokens: 100, OnToken: func(int) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	}})
	if err != context.Canceled || n != 5 {
		t.Fatalf("err %v after %d tokens; want context.Canceled after 5", err, n)
	}
}

// TestCheckpointFiles: generation_config.json's eos_token_id and a --template Jinja file
// are honoured.
func TestCheckpointFiles(t *testing.T) {
	dir := testmodel.Synth(t, "tiny", 1234)
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id":[2,13],"temperature":0.6}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tpl := filepath.Join(dir, "t.jinja")
	if err := os.WriteFile(tpl, []byte(`{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}`), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := decilm.Load(context.Background(), dir, decilm.Options{Template: tpl})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !reflect.DeepEqual(m.EOS, []int{2, 13}) || m.Defaults.Temperature == nil || *m.Defaults.Temperature != 0.6 {
		t.Errorf("EOS %v, defaults %+v", m.EOS, m.Defaults)
	}
	got, err := m.Template.Render([]chat.Message{{Role: "user", Content: "hi"}}, true)
	if err != nil || got != "<user>hi<assistant>" {
		t.Errorf("template rendered %q, %v", got, err)
	}
}
