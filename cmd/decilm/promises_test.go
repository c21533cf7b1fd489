package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
)

// TestPredictCount: -n follows llama.cpp: 0 generates nothing, -1 generates until end of
// sequence or the context is full, a count that many tokens; below -1 is an error naming -n.
func TestPredictCount(t *testing.T) {
	out, errs, code := run(t, "", "run", "-n", "0", "--verbose", "-p", "Once upon a time")
	if code != 0 || out != "\n" || !strings.Contains(errs, "generated: 0 tokens") {
		t.Errorf("-n 0: exit %d, stdout %q, stderr %q; want nothing generated", code, out, errs)
	}
	out, errs, code = run(t, "", "chat", "-n", "0")
	if code != 0 || strings.Contains(out, "Lily") {
		t.Errorf("chat -n 0: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Greedy from BOS, the embedded model writes llama2.c's 200 tokens and goes on until
	// its end-of-sequence token or the 512-token context.
	out, errs, code = run(t, "", "run", "-n", "-1", "--temperature", "0", "--verbose")
	if code != 0 || !strings.HasPrefix(out, llama2cText) || len(out) <= len(llama2cText)+1 {
		t.Errorf("-n -1: exit %d, stdout %q, stderr %q; want more than llama2.c's 200 tokens", code, out, errs)
	}
	out, errs, code = run(t, "", "run", "-n", "3", "--temperature", "0", "--verbose")
	if code != 0 || out != "Once upon a\n" || !strings.Contains(errs, "generated: 3 tokens") {
		t.Errorf("-n 3: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

// TestShortFlags: llama.cpp's short flags -p, -f, -s, -t and -c work, and -m and --model
// are the same flag.
func TestShortFlags(t *testing.T) {
	prompt := filepath.Join(t.TempDir(), "prompt.txt")
	if err := os.WriteFile(prompt, []byte("Once upon a time"), 0o644); err != nil {
		t.Fatal(err)
	}
	want, errs, code := run(t, "", "run", "--temperature", "0.7", "--seed", "5", "--threads", "1", "-n", "8", "Once upon a time")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, args := range [][]string{
		{"run", "--temp", "0.7", "-s", "5", "-t", "1", "-n", "8", "-p", "Once upon a time"},
		{"run", "--temp", "0.7", "-s", "5", "-t", "1", "--n-predict", "8", "-f", prompt},
		{"run", "--temp", "0.7", "-s", "5", "-t", "1", "-n", "8", "--prompt", "Once upon a time", "-c", "512"},
	} {
		if out, errs, code := run(t, "", args...); code != 0 || out != want {
			t.Errorf("%v: exit %d, %q (%s); want %q", args, code, out, errs, want)
		}
	}
	// -c bounds prompt plus output: the prompt is 5 tokens (BOS and 4 pieces).
	out, errs, code := run(t, "", "run", "--temp", "0", "-c", "7", "-p", "Once upon a time", "--verbose")
	if code != 0 || !strings.Contains(errs, "prompt: 5 tokens") || !strings.Contains(errs, "generated: 2 tokens") {
		t.Errorf("-c 7: exit %d, %q, %s", code, out, errs)
	}
}

// TestFlagErrors: each bad flag value is a usage error (exit 2) whose message names the
// flag, in the user's terms rather than Go's, without a repeated prefix.
func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--top-p", "2"}, "--top-p must be in [0, 1]"},
		{[]string{"run", "--min-p", "-0.5"}, "--min-p must be in [0, 1]"},
		{[]string{"run", "--temperature", "-1"}, "--temperature must be"},
		{[]string{"run", "--top-k", "-1"}, "--top-k must be"},
		{[]string{"run", "--repeat-penalty", "-1"}, "--repeat-penalty must be"},
		{[]string{"run", "--repeat-last-n", "-2"}, "--repeat-last-n must be"},
		{[]string{"chat", "--top-p", "1.5"}, "--top-p must be in [0, 1]"},
		{[]string{"run", "-n", "-3"}, "-n must be"},
		{[]string{"run", "-c", "-1"}, "--ctx-size must be"},
		{[]string{"run", "-c", "100000", "-p", "x"}, "--ctx-size 100000 exceeds the model's context length 512"},
		{[]string{"run", "-c", "2", "-p", "Once upon a time"}, "more than --ctx-size 2"},
		{[]string{"chat", "-c", "100000"}, "--ctx-size 100000 exceeds the model's context length 512"},
		{[]string{"run", "-p", "x", "y"}, "give the prompt one way"},
		{[]string{"run", "-f", "/nonexistent/prompt.txt"}, "-f: open /nonexistent/prompt.txt"},
		{[]string{"run", "--tokenizer", "tok.model", "-p", "x"}, "--tokenizer needs -m"},
		{[]string{"run", "--threads", "-4"}, "--threads must be between 1 and"},
		{[]string{"run", "--threads", "100000"}, "--threads must be between 1 and"},
		{[]string{"bench", "-t", "100000"}, "--threads must be between 1 and"},
		{[]string{"serve", "--port", "70000"}, "--port must be in 0..65535"},
		{[]string{"serve", "--threads", "-4"}, "--threads must be between 1 and"},
		{[]string{"serve", "--tokenizer", "x"}, "--tokenizer needs -m"},
		{[]string{"serve", "--parallel", "0"}, "--parallel must be at least 1"},
		{[]string{"serve", "--port", "0", "--kv-budget", "1B"}, "--kv-budget 1B is less than one full context of stories260K: 512 tokens"},
		{[]string{"bench", "-b", "0,x"}, `-b "0,x": want comma-separated positive`},
		{[]string{"bench", "-r", "0"}, "-r must be >= 1"},
	}
	for _, tt := range tests {
		_, errs, code := run(t, "", tt.args...)
		if code != 2 || !strings.Contains(errs, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", tt.args, code, errs, tt.want)
		}
		for _, bad := range []string{"Options.", "sample:", "done", "decilm " + tt.args[0] + ": decilm"} {
			if strings.Contains(errs, bad) {
				t.Errorf("%v: stderr %q contains %q", tt.args, errs, bad)
			}
		}
		if strings.Count(errs, "decilm "+tt.args[0]+":") > 1 && tt.args[0] != "serve" {
			t.Errorf("%v: more than one message: %q", tt.args, errs)
		}
	}
}

// TestChatSetErrors: chat's /set names the setting, not a Go field.
func TestChatSetErrors(t *testing.T) {
	out, errs, code := run(t, "/set top-p 2\n/set n -5\n/set n 0\n/show\n/bye\n", "chat")
	for _, want := range []string{"/set top-p must be in [0, 1]", "/set n: want a count >= 0 or -1", "n = 0", " n 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("chat output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 || strings.Contains(out, "Options.") {
		t.Errorf("exit %d, stderr %q, stdout %q", code, errs, out)
	}
}

// TestTokenizerErrorPrefix: a bad --tokenizer is reported once, naming the file.
func TestTokenizerErrorPrefix(t *testing.T) {
	_, errs, code := run(t, "", "run", "-m", testmodel.Stories(t), "--tokenizer", "/nonexistent/tok.model", "-n", "1")
	if code != 1 || !strings.Contains(errs, "/nonexistent/tok.model") || strings.Count(errs, "tokenizer:") != 1 {
		t.Errorf("exit %d, stderr %q; want one tokenizer: prefix and the path", code, errs)
	}
}

// TestChatContextSize: chat -c bounds each turn's prompt plus answer; a question that does not
// fit is reported and dropped, and the conversation goes on.
func TestChatContextSize(t *testing.T) {
	out, errs, code := run(t, "Once upon a time\nOnce upon a time there was a little girl named Lily and a big dog\n/bye\n", "chat", "-c", "8", "--temp", "0")
	if code != 0 || !strings.Contains(out, "more than --ctx-size 8") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
