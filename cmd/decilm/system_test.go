package main

import (
	"strings"
	"testing"
)

// TestRunSystem: --system is the system message of the chat template (as Nemotron's
// "detailed thinking on" is), and an error where no template applies rather than ignored.
func TestRunSystem(t *testing.T) {
	// The embedded model's template is plain: a system prompt has nowhere to go.
	_, stderr, code := run(t, "", "run", "--system", "detailed thinking on", "-n", "2", "--temperature", "0", "hello")
	if code != 2 || !strings.Contains(stderr, "--system needs a chat template") {
		t.Errorf("plain template: exit %d, stderr %q; want a usage error about --system", code, stderr)
	}
	// With a template, the system message is rendered into the prompt.
	out, stderr, code := run(t, "", "run", "--template", "llama-2", "--system", "detailed thinking on", "-n", "2", "--temperature", "0", "--verbose", "hello")
	if code != 0 {
		t.Fatalf("llama-2 template: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "template llama-2") || out == "" {
		t.Errorf("llama-2 template: stdout %q, stderr %q", out, stderr)
	}
}
