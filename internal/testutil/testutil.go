// Package testutil finds the shared reference fixtures for tests. The fixtures live beside
// the repository, in ../shared/fixtures (see its README); DECILM_FIXTURES overrides that.
//
// Tests that read them, or run a reference tool (spm_encode, node, tmux, chromium, PyTorch),
// live in files named *_oracle_test.go whose first line is "//go:build oracle": plain
// "go test ./..." must pass on a bare clone, and "go test -tags oracle ./..." runs them all,
// failing (never skipping) when a fixture or a tool is missing.
package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root (the directory holding go.mod), searching upwards
// from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testutil: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Fixtures returns the path of the shared fixtures directory, failing the test when it is
// missing: the tests check against these independent references and must not pass without
// them. It also fails in a build without the oracle tag, so that such a test cannot slip
// into the plain "go test ./..." that must pass on a bare clone.
func Fixtures(t testing.TB) string {
	t.Helper()
	if !Oracle {
		t.Fatal("testutil: the shared fixtures are for oracle tests: move this test to a *_oracle_test.go file starting with //go:build oracle")
	}
	if d := os.Getenv("DECILM_FIXTURES"); d != "" {
		return d
	}
	d := filepath.Join(filepath.Dir(RepoRoot(t)), "shared", "fixtures")
	if _, err := os.Stat(filepath.Join(d, "README.md")); err != nil {
		t.Fatalf("testutil: shared fixtures not found at %s (set DECILM_FIXTURES): %v", d, err)
	}
	return d
}

// Fixture returns the path of one file under the fixtures directory.
func Fixture(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Fixtures(t)}, elem...)...)
}
