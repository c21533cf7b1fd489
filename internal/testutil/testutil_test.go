package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// fatalRecorder is a testing.TB whose Fatal and Fatalf record the message and end the
// calling goroutine, as the real ones do.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Fatal(args ...any) { r.msg = fmt.Sprint(args...); runtime.Goexit() }
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// fixturesFailure calls Fixtures with DECILM_FIXTURES set to dir and returns the failure
// message ("" when it returned).
func fixturesFailure(t *testing.T, dir string) string {
	t.Setenv("DECILM_FIXTURES", dir)
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Fixtures(r)
	}()
	<-done
	return r.msg
}

// TestFixturesOutsideOracle: without the oracle tag, Fixtures fails the test (never skips
// it), saying where such a test belongs; with the tag it returns the directory.
func TestFixturesOutsideOracle(t *testing.T) {
	msg := fixturesFailure(t, t.TempDir())
	if Oracle {
		if msg != "" {
			t.Fatalf("under the oracle tag Fixtures failed: %s", msg)
		}
		return
	}
	if !strings.Contains(msg, "_oracle_test.go") {
		t.Fatalf("Fixtures without the oracle tag: failure %q, want one naming *_oracle_test.go", msg)
	}
}
