package sample

import (
	"strings"
	"testing"
)

// referenceStop is an independent, non-streaming statement of the rule:
// scan end positions left to right; at the first end where some stop string
// ends, cut at the start of the longest one ending there.
func referenceStop(text string, stops []string) (kept string, matched string) {
	for end := 1; end <= len(text); end++ {
		best := ""
		for _, s := range stops {
			if s != "" && strings.HasSuffix(text[:end], s) && len(s) > len(best) {
				best = s
			}
		}
		if best != "" {
			return text[:end-len(best)], best
		}
	}
	return text, ""
}

// feed pushes chunks and returns everything emitted (plus Flush when no
// stop occurred) and the matched stop string.
func feed(m *StopMatcher, chunks []string) (string, string) {
	var out strings.Builder
	for _, c := range chunks {
		e, stop := m.Push(c)
		out.WriteString(e)
		if stop {
			break
		}
	}
	out.WriteString(m.Flush())
	return out.String(), m.Matched()
}

func TestStopMatcher(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		chunks  []string
		emitted []string // what each Push returns
		stopAt  int      // index of the Push that reports the stop, -1 = none
		flush   string
		matched string
	}{
		{"no stops passes through", nil, []string{"a", "b"}, []string{"a", "b"}, -1, "", ""},
		{"empty stop ignored", []string{""}, []string{"ab"}, []string{"ab"}, -1, "", ""},
		{"stop inside one chunk", []string{"###"}, []string{"hello ### world"}, []string{"hello "}, 0, "", "###"},
		{"stop across chunks", []string{"</s>"}, []string{"hi<", "/", "s>tail"},
			[]string{"hi", "", ""}, 2, "", "</s>"},
		{"false start released", []string{"</s>"}, []string{"a</", "b"},
			[]string{"a", "</b"}, -1, "", ""},
		{"held tail flushed at end", []string{"### User"}, []string{"ok ##"},
			[]string{"ok "}, -1, "##", ""},
		{"two stops, first to complete wins", []string{"abcd", "bc"}, []string{"ab", "cd"},
			[]string{"", "a"}, 1, "", "bc"},
		{"same end, longest wins", []string{"c", "abc"}, []string{"xab", "c"},
			[]string{"x", ""}, 1, "", "abc"},
		{"stop at very start", []string{"User:"}, []string{"User:", "more"},
			[]string{""}, 0, "", "User:"},
		{"overlapping prefix", []string{"aab"}, []string{"aa", "a", "b"},
			[]string{"", "a", ""}, 2, "", "aab"},
		{"multibyte stop", []string{"é!"}, []string{"caf\xc3", "\xa9", "!x"},
			[]string{"caf", "", ""}, 2, "", "é!"},
		{"after stop nothing", []string{"x"}, []string{"x", "y"}, []string{"", ""}, 0, "", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewStopMatcher(tt.stops...)
			for i, c := range tt.chunks {
				if i >= len(tt.emitted) {
					break
				}
				e, stop := m.Push(c)
				if e != tt.emitted[i] {
					t.Fatalf("Push(%q) #%d emitted %q, want %q", c, i, e, tt.emitted[i])
				}
				if want := tt.stopAt >= 0 && i >= tt.stopAt; stop != want {
					t.Fatalf("Push(%q) #%d stop = %v, want %v", c, i, stop, want)
				}
			}
			if f := m.Flush(); f != tt.flush {
				t.Fatalf("Flush = %q, want %q", f, tt.flush)
			}
			if m.Matched() != tt.matched || m.Stopped() != (tt.matched != "") {
				t.Fatalf("Matched = %q, Stopped = %v, want %q", m.Matched(), m.Stopped(), tt.matched)
			}
			// Whatever the chunking, the total agrees with the reference.
			wantText, wantStop := referenceStop(strings.Join(tt.chunks, ""), tt.stops)
			m.Reset()
			if got, stop := feed(m, tt.chunks); got != wantText || stop != wantStop {
				t.Fatalf("after Reset: %q/%q, reference %q/%q", got, stop, wantText, wantStop)
			}
		})
	}
}

// FuzzStopMatcher checks that the streamed result equals the one-shot
// reference for every way of cutting the text into chunks.
func FuzzStopMatcher(f *testing.F) {
	f.Add("hello ### world", "###", "\n### User:", uint64(3))
	f.Add("abcabcd", "abcd", "bc", uint64(0xfffff))
	f.Add("aaab", "aab", "", uint64(1))
	f.Add("x</s>y", "</s>", "<", uint64(12345))
	f.Fuzz(func(t *testing.T, text, s1, s2 string, cuts uint64) {
		stops := []string{s1, s2}
		wantText, wantStop := referenceStop(text, stops)
		var chunks []string
		rest := text
		for c := cuts; len(rest) > 0; c /= 3 {
			n := min(len(rest), int(c%5)+1)
			if c == 0 {
				n = len(rest)
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		got, stop := feed(NewStopMatcher(stops...), chunks)
		if got != wantText || stop != wantStop {
			t.Fatalf("text %q stops %q chunks %q: got %q/%q, want %q/%q", text, stops, chunks, got, stop, wantText, wantStop)
		}
	})
}

func TestStopMatcherZeroValue(t *testing.T) {
	var m StopMatcher
	if e, stop := m.Push("</s>"); e != "</s>" || stop {
		t.Fatalf("zero StopMatcher: Push = %q, %v; want pass-through", e, stop)
	}
	if f := m.Flush(); f != "" {
		t.Fatalf("zero StopMatcher: Flush = %q", f)
	}
}
