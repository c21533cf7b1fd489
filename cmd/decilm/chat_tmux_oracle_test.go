//go:build oracle

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/synth"
)

// buildDecilm compiles the command into a temporary directory.
func buildDecilm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "decilm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestChatTmux drives `decilm chat` in a real terminal (tmux): a first answer stopped with
// Ctrl-C, a second turn, then /bye.
func TestChatTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is needed for this test (Debian package tmux; .ci/run installs it)")
	}
	bin := buildDecilm(t)
	dir := filepath.Join(t.TempDir(), "tiny")
	// The tiny random DeciLM runs long enough (2048 positions, EOS ignored) to be interrupted.
	if err := synth.Presets["tiny"].Write(dir, 1234, testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"), nil); err != nil {
		t.Fatal(err)
	}
	session := "decilm-chat-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The shell records the exit status in a file: tmux's own #{pane_dead_status} is not
	// always filled in (it stays empty when tmux has not reaped the child yet).
	statusFile := filepath.Join(t.TempDir(), "status")
	tmux("new-session", "-d", "-s", session, "-x", "160", "-y", "50",
		bin+" chat -m "+dir+" --ignore-eos --temperature 0 --threads 1; echo $? > "+statusFile+"; sleep 60")
	defer exec.Command("tmux", "kill-session", "-t", session).Run()
	screen := func() string { return tmux("capture-pane", "-p", "-t", session, "-S", "-200") }
	waitFor := func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if s := screen(); ok(s) {
				return s
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("timed out waiting for %s; screen:\n%s", what, screen())
		return ""
	}
	waitFor("the prompt", func(s string) bool { return strings.Contains(s, ">>>") })

	tmux("send-keys", "-t", session, "Hello there", "Enter")
	// Wait until the answer is streaming, then interrupt it.
	waitFor("a streamed answer", func(s string) bool {
		i := strings.Index(s, "Hello there")
		return i >= 0 && len(strings.TrimSpace(s[i+len("Hello there"):])) > 20
	})
	tmux("send-keys", "-t", session, "C-c")
	waitFor("[stopped]", func(s string) bool { return strings.Contains(s, "[stopped]") })

	tmux("send-keys", "-t", session, "/set n 5", "Enter")
	waitFor("/set confirmation", func(s string) bool { return strings.Contains(s, "n = 5") })
	tmux("send-keys", "-t", session, "Second question", "Enter")
	s := waitFor("the second answer", func(s string) bool {
		i := strings.Index(s, "Second question")
		return i >= 0 && strings.Count(s[i:], ">>>") >= 1
	})
	if strings.Count(s, ">>>") < 4 {
		t.Fatalf("expected four prompts (start, after Ctrl-C, after /set, after answer):\n%s", s)
	}
	tmux("send-keys", "-t", session, "/bye", "Enter")
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(statusFile)
		if st := strings.TrimSpace(string(b)); err == nil && st != "" {
			if st != "0" {
				t.Fatalf("after /bye: exit status %s (want 0); screen:\n%s", st, screen())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after /bye: decilm has not exited; screen:\n%s", screen())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
