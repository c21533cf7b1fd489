package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestBenchCommand runs decilm bench on the embedded model: the markdown table, the card
// mode and the usage errors.
func TestBenchCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr}
	if st := runMain(context.Background(), e, []string{"bench", "-p", "8", "-n", "3", "-b", "2", "-r", "2"}); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "| model ") || !strings.Contains(lines[2], "pp8") ||
		!strings.Contains(lines[3], "tg3") || !strings.Contains(lines[4], "tg3 x2 seq") {
		t.Errorf("table:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "rep 2/2") {
		t.Errorf("no progress on stderr: %q", stderr.String())
	}
	stdout.Reset()
	if st := runMain(context.Background(), e, []string{"bench", "--card", "-b", "3", "-p", "6", "-n", "4", "-r", "1", "-q"}); st != 0 {
		t.Fatalf("card exit %d: %s", st, stderr.String())
	}
	if !strings.Contains(stdout.String(), "card b3 p6 g4") {
		t.Errorf("card table:\n%s", stdout.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "-b", "1,x"}, "-b"},
		{[]string{"bench", "-r", "0"}, "-r"},
		{[]string{"bench", "--card", "-b", "1,2"}, "--card"},
	} {
		stderr.Reset()
		if st := runMain(context.Background(), e, tc.args); st != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, st, stderr.String(), tc.want)
		}
	}
}
