//go:build oracle

package checkpoint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

func TestOpenFormats(t *testing.T) {
	cases := []struct {
		path   string
		format Format
	}{
		{testutil.Fixture(t, "tiny-decilm"), Safetensors},
		{testutil.Fixture(t, "tiny-decilm", "model.safetensors"), Safetensors},
		{testutil.Fixture(t, "stories260K", "stories260K.bin"), Llama2C},
		{testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf"), GGUF},
	}
	for _, c := range cases {
		ck, err := Open(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.path, err)
		}
		if ck.Format != c.format || len(ck.Tensors) == 0 || len(ck.Names) != len(ck.Tensors) {
			t.Errorf("%s: format %s, %d tensors", c.path, ck.Format, len(ck.Tensors))
		}
		if err := ck.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestTruncatedFiles: every prefix of the real single-file checkpoints is an error, not a
// panic (llama2.c, GGUF and safetensors readers).
func TestTruncatedFiles(t *testing.T) {
	for _, src := range []string{
		testutil.Fixture(t, "stories260K", "stories260K.bin"),
		testutil.Fixture(t, "gguf", "llama-2-tiny-random.gguf"),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, n := range []int{0, 3, 27, 28, 100, len(b) / 2, len(b) - 1} {
			p := filepath.Join(dir, "cut"+filepath.Ext(src))
			if err := os.WriteFile(p, b[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			ck, err := Open(p)
			if err == nil {
				ck.Close()
				t.Fatalf("%s cut to %d bytes: no error", filepath.Base(src), n)
			}
		}
	}
}
