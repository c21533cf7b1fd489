package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/finetune/finetunetest"
	"github.com/decilm/decilm/model"
)

// withBigram puts finetunetest's bigram model (over the embedded model's 512 tokens) in
// place of the train package's net for the test.
func withBigram(t *testing.T) {
	t.Helper()
	old := trainable
	trainable = func(m *model.Model, cfg finetune.LoRAConfig, seed uint64) (finetune.Trainable, error) {
		return finetunetest.New(m.Config.Vocab, cfg, seed)
	}
	t.Cleanup(func() { trainable = old })
}

const orcaRows = `{"system_prompt":"You are helpful.","question":"Where does Lily play?","response":"Lily plays in the park."}
{"system_prompt":"","question":"What color is the ball?","response":"The ball is red."}
{"system_prompt":"Be brief.","question":"Who is sad?","response":"Lily is sad."}
{"system_prompt":"","question":"What did mom say?","response":"Let's go to the park."}
{"system_prompt":"","question":"Is the ball high?","response":"Yes, it was too high."}
`

func writeData(t *testing.T) (train, eval string) {
	t.Helper()
	dir := t.TempDir()
	train, eval = filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
	if err := os.WriteFile(train, []byte(orcaRows), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eval, []byte(strings.SplitAfterN(orcaRows, "\n", 3)[2]), 0o644); err != nil {
		t.Fatal(err)
	}
	return train, eval
}

func TestFinetuneCommand(t *testing.T) {
	withBigram(t)
	train, eval := writeData(t)
	out := filepath.Join(t.TempDir(), "adapter")
	args := []string{"finetune", "--data", train, "--eval-data", eval, "--out", out, "--template", "decilm-6b-instruct",
		"--lora-r", "4", "--lora-alpha", "8", "--target", "q_proj,v_proj", "--epochs", "2", "--batch", "2", "--lr", "0.05", "--save-every", "2", "--seq-len", "256"}
	stdout, stderr, code := run(t, "", args...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"5 rows, 5 examples", "held-out loss after epoch 0", "held-out loss after epoch 2", "step 6/6", "tok/s", "checkpoint:"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(stdout, "trained 6 steps") || !strings.Contains(stdout, "adapter_model.safetensors") {
		t.Errorf("stdout: %s", stdout)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "loss.csv", "loss.png", "checkpoint.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	cj, _ := os.ReadFile(filepath.Join(out, "adapter_config.json"))
	if !bytes.Contains(cj, []byte(`"base_model_name_or_path": "stories260K"`)) || !bytes.Contains(cj, []byte(`"target_modules": [
    "q_proj",
    "v_proj"
  ]`)) {
		t.Errorf("adapter_config.json:\n%s", cj)
	}
	want, _ := os.ReadFile(filepath.Join(out, "adapter_model.safetensors"))

	// Ctrl-C before the first step saves a checkpoint; --resume with no other flag
	// continues it to the same adapter, bit for bit.
	out2 := filepath.Join(t.TempDir(), "again")
	intr := make(chan os.Signal, 1)
	intr <- os.Interrupt
	var o, eb bytes.Buffer
	a2 := append([]string{}, args...)
	for i := range a2 {
		if a2[i] == out {
			a2[i] = out2
		}
	}
	code = runMain(context.Background(), &env{stdin: strings.NewReader(""), stdout: &o, stderr: &eb, interrupt: intr}, a2)
	if code != 1 || !strings.Contains(eb.String(), "interrupted at step 0 of 6") || !strings.Contains(eb.String(), "decilm finetune --resume "+out2) {
		t.Fatalf("interrupted run: exit %d\n%s", code, eb.String())
	}
	stdout, stderr, code = run(t, "", "finetune", "--resume", out2)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s", code, stderr)
	}
	got, _ := os.ReadFile(filepath.Join(out2, "adapter_model.safetensors"))
	if !bytes.Equal(got, want) {
		t.Error("the resumed run's adapter differs from the uninterrupted run's")
	}
	c1, _ := os.ReadFile(filepath.Join(out, "loss.csv"))
	c2, _ := os.ReadFile(filepath.Join(out2, "loss.csv"))
	if !bytes.Equal(c1, c2) {
		t.Errorf("loss.csv differs:\n%s\n%s", c1, c2)
	}
	// A flag that changes the trajectory is refused on resume.
	_, stderr, code = run(t, "", "finetune", "--resume", out2, "--lr", "0.01")
	if code == 0 || !strings.Contains(stderr, "--lr") {
		t.Errorf("resume with another --lr: exit %d, %s", code, stderr)
	}
}

func TestFinetuneErrors(t *testing.T) {
	train, _ := writeData(t)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"text\":\"a\"}\n{oops\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no data", []string{"--out", t.TempDir()}, 2, "--data is required"},
		{"no out", []string{"--data", train}, 2, "--out is required"},
		{"format", []string{"--data", train, "--out", t.TempDir(), "--format", "csv"}, 2, "--format"},
		{"target", []string{"--data", train, "--out", t.TempDir(), "--target", "q_proj,lm_head"}, 2, `--target "lm_head"`},
		{"epochs", []string{"--data", train, "--out", t.TempDir(), "--epochs", "0"}, 2, "--epochs"},
		{"out not empty", []string{"--data", train, "--out", full}, 2, "--out"},
		{"seq-len", []string{"--data", train, "--out", t.TempDir(), "--seq-len", "100000"}, 2, "context length"},
		{"bad json", []string{"--data", bad, "--format", "text", "--out", t.TempDir()}, 1, bad + ":2: bad JSON"},
		{"no resume", []string{"--resume", t.TempDir()}, 1, "checkpoint.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, "", append([]string{"finetune"}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q; want it to contain %q", code, tc.code, stderr, tc.want)
			}
		})
	}
}
