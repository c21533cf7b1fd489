package main

import (
	"strings"
	"testing"
)

// TestRunDraft: run with a drafter prints what plain greedy decoding prints, and the
// drafted/accepted line with --verbose; bad draft flags are usage errors naming the flag.
func TestRunDraft(t *testing.T) {
	base := []string{"run", "--temperature", "0", "-n", "120"}
	want, errs, code := run(t, "", base...)
	if code != 0 {
		t.Fatalf("plain run: exit %d: %s", code, errs)
	}
	for _, extra := range [][]string{
		{"--draft", "ngram"},
		{"--draft-model", "self:q4_0", "--draft-max", "4"},
		{"-md", "self:q8_0", "--draft", "ngram", "--verbose"},
	} {
		args := append(append([]string(nil), base...), extra...)
		out, errs, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if out != want {
			t.Fatalf("%v printed %q, plain decoding %q", args, out, want)
		}
		if strings.Contains(strings.Join(extra, " "), "verbose") && !strings.Contains(errs, "drafted") {
			t.Fatalf("%v: no drafted/accepted line in %q", args, errs)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--draft", "medusa", "hi"}, "--draft"},
		{[]string{"run", "--draft", "ngram", "--draft-max", "0", "hi"}, "--draft-max"},
		{[]string{"run", "--draft-model", "self:q3_x", "hi"}, "self:q3_x"},
		{[]string{"run", "--draft-model", "/nonexistent/draft", "hi"}, "--draft-model"},
	} {
		_, errs, code := run(t, "", c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %s", c.args, code, errs, c.want)
		}
	}
}

// TestBenchDraft: bench with a drafter adds the plain and the speculative text-generation
// records, the latter with its acceptance rate.
func TestBenchDraft(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-p", "0", "-n", "20", "-r", "1", "-q", "--draft", "ngram"},
		{"bench", "-p", "16", "-n", "20", "-r", "1", "-q", "--draft-model", "self:q4_0", "--json"},
	} {
		out, errs, code := run(t, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errs)
		}
		if !strings.Contains(out, "tg20 text") || !strings.Contains(out, "% acc)") {
			t.Fatalf("%v printed %s", args, out)
		}
		if strings.Contains(strings.Join(args, " "), "json") && !strings.Contains(out, `"accept_rate"`) {
			t.Fatalf("%v: no accept_rate in %s", args, out)
		}
	}
}
