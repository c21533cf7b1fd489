package main

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestPullNoNetwork: `decilm pull` against a hub nothing answers fails at once with a
// message that says so (it used to retry a refused connection for 31 s).
func TestPullNoNetwork(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("HF_ENDPOINT", "http://"+addr)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_HUB_OFFLINE", "")
	start := time.Now()
	_, errs, code := run(t, "", "pull", "Deci/DeciLM-6b-instruct")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	if code == 0 || !strings.Contains(errs, "cannot reach") || strings.Contains(errs, "retrying") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
