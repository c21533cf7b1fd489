package main

import (
	"strings"
	"testing"
)

// TestServeChecksFlagsBeforeListening: a bad flag, including a --kv-budget too small for the
// model, is reported before the server listens (no "listening" line, no port held), with
// the flag named and the usage exit status.
func TestServeChecksFlagsBeforeListening(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--kv-budget", "1KiB"}, "--kv-budget 1KiB is less than one full context"},
		{[]string{"--kv-budget", "lots"}, "--kv-budget"},
		{[]string{"--read-timeout", "0s"}, "--read-timeout must be positive"},
		{[]string{"--shutdown-timeout", "-1s"}, "--shutdown-timeout must not be negative"},
		{[]string{"--parallel", "0"}, "--parallel must be at least 1"},
	} {
		_, stderr, code := run(t, "", append([]string{"serve", "--port", "0"}, c.args...)...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
		if strings.Contains(stderr, "listening") {
			t.Errorf("serve %v: listened before reporting the bad flag:\n%s", c.args, stderr)
		}
	}
}
