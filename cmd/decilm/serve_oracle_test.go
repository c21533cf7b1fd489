//go:build oracle

package main

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/decilm/decilm/internal/testutil"
)

// TestServeShutdownDeadline cuts a long stream when the shutdown deadline passes.
func TestServeShutdownDeadline(t *testing.T) {
	base, stop, rc, out := startServe(t, "-m", testutil.Fixture(t, "tiny-decilm"), "--shutdown-timeout", "300ms")
	resp, err := serveRequest(t, "POST", base+"/v1/chat/completions", "", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":2000,"ignore_eos":true,"stream":true}`)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("chat: %v %v", err, resp)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	br.ReadString('\n')
	start := time.Now()
	stop()
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "shutting down") {
		t.Errorf("cut stream ends %q", tail(string(rest)))
	}
	select {
	case code := <-rc:
		if code != 0 {
			t.Errorf("exit status %d:\n%s", code, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not exit within 15 s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s with a 300ms deadline", d)
	}
}
