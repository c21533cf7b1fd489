package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
)

// TestQuantizeCommand quantizes the embedded stories260K model, reads the file back and
// benchmarks it, and checks the usage errors.
func TestQuantizeCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.gguf")
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr}
	if st := runMain(context.Background(), e, []string{"quantize", "--type", "q8_0", "-o", out, "-q"}); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	f, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	ft, _ := f.Uint("general.file_type")
	f.Close()
	if arch != "deci" || ft != 7 {
		t.Errorf("architecture %q, file type %d; want deci, 7 (MOSTLY_Q8_0)", arch, ft)
	}
	stdout.Reset()
	if st := runMain(context.Background(), e, []string{"bench", "-m", out, "-p", "8", "-n", "2", "-r", "1", "-q", "--json"}); st != 0 {
		t.Fatalf("bench exit %d: %s", st, stderr.String())
	}
	var recs []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &recs); err != nil || len(recs) != 2 {
		t.Fatalf("bench JSON: %v\n%s", err, stdout.String())
	}
	if mt, _ := recs[0]["model_type"].(string); !strings.HasSuffix(mt, "Q8_0") {
		t.Errorf("model_type %q", mt)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"quantize", "--type", "q8_0"}, "-o"},
		{[]string{"quantize", "--type", "q3_k_xl", "-o", out}, "--type"},
		{[]string{"quantize", "--arch", "gpt2", "-o", out}, "--arch"},
	} {
		stderr.Reset()
		if st := runMain(context.Background(), e, tc.args); st != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, st, stderr.String(), tc.want)
		}
	}
}

// TestQuantizeNeedsImatrix checks that the 2-bit lattice file types without --imatrix stop
// with an error naming the flag, as llama-quantize refuses them too.
func TestQuantizeNeedsImatrix(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.gguf")
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr}
	for _, typ := range []string{"iq2_xs", "iq2_xxs"} {
		stderr.Reset()
		if st := runMain(context.Background(), e, []string{"quantize", "--type", typ, "-o", out, "-q"}); st == 0 || !strings.Contains(stderr.String(), "--imatrix") {
			t.Errorf("%s without --imatrix: exit %d, stderr %q; want an error naming --imatrix", typ, st, stderr.String())
		}
	}
}
