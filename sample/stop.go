package sample

import "strings"

// StopMatcher finds stop strings in streamed text. Feed it each decoded
// chunk with [StopMatcher.Push]; it returns the text that is safe to show
// now and holds back any tail that could still turn into a stop string. When
// a stop string completes, the text before it is returned, the stop string
// and everything after it are discarded, and Push reports the stop. At the
// end of generation without a stop, [StopMatcher.Flush] returns the held
// tail. Generation stops at the stop string that completes first, that is
// the occurrence that ends earliest in the text (of several ending at the
// same byte, the longest); the concatenation of everything returned is the
// input up to the start of that occurrence, whatever the chunk boundaries.
//
// The zero value (and a matcher with no non-empty stop strings) passes text
// straight through. A StopMatcher is not safe for concurrent use.
type StopMatcher struct {
	stops   []string
	pending string // held-back text that may begin a stop string
	matched string
	stopped bool
}

// NewStopMatcher returns a matcher for the given stop strings; empty
// strings are ignored.
func NewStopMatcher(stops ...string) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	return m
}

// Push adds a chunk of generated text. It returns the text that can be
// emitted now and whether a stop string has completed; once it has, every
// later Push returns ("", true).
func (m *StopMatcher) Push(chunk string) (emit string, stopped bool) {
	if m.stopped {
		return "", true
	}
	if len(m.stops) == 0 {
		return chunk, false
	}
	text := m.pending + chunk
	// The stop that completes first wins; of those ending at the same byte,
	// the longest. No stop can end inside pending (it would have been
	// found by an earlier Push) and every stop that started in earlier text
	// is still in pending, so this does not depend on chunk boundaries.
	at, which := -1, ""
	for _, s := range m.stops {
		i := strings.Index(text, s)
		if i < 0 {
			continue
		}
		end, bestEnd := i+len(s), at+len(which)
		if at < 0 || end < bestEnd || (end == bestEnd && i < at) {
			at, which = i, s
		}
	}
	if at >= 0 {
		m.stopped, m.matched, m.pending = true, which, ""
		return text[:at], true
	}
	// Hold back the longest tail of text that is a proper prefix of a stop.
	hold := 0
	for _, s := range m.stops {
		for n := min(len(s)-1, len(text)); n > hold; n-- {
			if strings.HasSuffix(text, s[:n]) {
				hold = n
				break
			}
		}
	}
	m.pending = text[len(text)-hold:]
	return text[:len(text)-hold], false
}

// Flush returns the held-back text at the end of generation (when no stop
// string completed) and clears it. After a stop it returns "".
func (m *StopMatcher) Flush() string {
	p := m.pending
	m.pending = ""
	return p
}

// Stopped reports whether a stop string has completed.
func (m *StopMatcher) Stopped() bool { return m.stopped }

// Matched returns the stop string that completed, or "" if none did.
func (m *StopMatcher) Matched() string { return m.matched }

// Reset clears the matcher's state for a new generation, keeping its stop
// strings.
func (m *StopMatcher) Reset() {
	m.pending, m.matched, m.stopped = "", "", false
}
