package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/decilm/decilm/kernel"
)

// TestVersion: decilm version prints the Go version and a kernel line per weight type and
// regime, as text and as JSON, and refuses arguments.
func TestVersion(t *testing.T) {
	out, errs, code := run(t, "", "version")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"decilm ", "go1.", "q4_0", kernel.MatMulPath(0, false, 1).Kernel} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, errs, code = run(t, "", "version", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errs)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(v.Kernels) != len(kernel.Paths()) || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("--json: %+v", v)
	}
	if _, errs, code := run(t, "", "version", "extra"); code != 2 || !strings.Contains(errs, "no arguments") {
		t.Errorf("version extra: exit %d, %q", code, errs)
	}
}
