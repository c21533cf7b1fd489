package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/tensor"
)

func st(t *testing.T, names ...string) []byte {
	t.Helper()
	var ts []*tensor.Tensor
	for _, n := range names {
		ts = append(ts, &tensor.Tensor{Name: n, DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 8)})
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, ts, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOpenErrors: damaged directories give errors naming the file and the problem.
func TestOpenErrors(t *testing.T) {
	cfg := []byte(`{}`)
	cases := []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"no weights", map[string][]byte{"config.json": cfg}, "no model.safetensors"},
		{"no config", map[string][]byte{"model.safetensors": st(t, "a")}, "config.json"},
		{"missing shard", map[string][]byte{"config.json": cfg, "model.safetensors.index.json": []byte(`{"weight_map":{"a":"model-00001-of-00002.safetensors"}}`)}, "shard model-00001-of-00002.safetensors named in the index is missing"},
		{"escaping shard name", map[string][]byte{"config.json": cfg, "model.safetensors.index.json": []byte(`{"weight_map":{"a":"../x.safetensors"}}`)}, "invalid shard name"},
		{"empty index", map[string][]byte{"config.json": cfg, "model.safetensors.index.json": []byte(`{"weight_map":{}}`)}, "weight_map is missing or empty"},
		{"bad index", map[string][]byte{"config.json": cfg, "model.safetensors.index.json": []byte(`{`)}, "model.safetensors.index.json"},
		{"duplicated tensor", map[string][]byte{"config.json": cfg,
			"model.safetensors.index.json": []byte(`{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`),
			"s1.safetensors":               st(t, "a"), "s2.safetensors": st(t, "a", "b")}, `tensor "a" appears in more than one file`},
		{"tensor absent from its shard", map[string][]byte{"config.json": cfg,
			"model.safetensors.index.json": []byte(`{"weight_map":{"a":"s1.safetensors","c":"s1.safetensors"}}`),
			"s1.safetensors":               st(t, "a")}, `tensor "c" should be in s1.safetensors`},
		{"truncated safetensors", map[string][]byte{"config.json": cfg, "model.safetensors": st(t, "a")[:20]}, "model.safetensors"},
		{"truncated bin", map[string][]byte{"config.json": cfg, "pytorch_model.bin": []byte("PK\x03\x04trunc")}, "pytorch_model.bin"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range c.files {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ck, err := Open(dir)
			if err == nil {
				ck.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// TestOpenEmbedded opens the embedded stories260K checkpoint as a directory and as a file
// (the shared fixtures' llama2.c and GGUF files are opened by TestOpenFormats under the
// oracle tag).
func TestOpenEmbedded(t *testing.T) {
	dir := testmodel.Stories(t)
	for _, p := range []string{dir, filepath.Join(dir, "model.safetensors")} {
		ck, err := Open(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if ck.Format != Safetensors || len(ck.Tensors) == 0 || len(ck.Names) != len(ck.Tensors) {
			t.Errorf("%s: format %s, %d tensors", p, ck.Format, len(ck.Tensors))
		}
		if err := ck.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestTruncatedEmbedded: every prefix of a safetensors and of a GGUF file is an error, not
// a panic.
func TestTruncatedEmbedded(t *testing.T) {
	st, err := os.ReadFile(filepath.Join(testmodel.Stories(t), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var g bytes.Buffer
	w := &tensor.Tensor{Name: "token_embd.weight", DType: tensor.F32, Shape: []int{8, 4}, Data: make([]byte, 8*4*4)}
	if err := gguf.Write(&g, []gguf.KV{{Key: "general.architecture", Value: "llama"}}, []*tensor.Tensor{w}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for ext, b := range map[string][]byte{".safetensors": st, ".gguf": g.Bytes()} {
		for _, n := range []int{0, 3, 27, 28, 100, len(b) / 2, len(b) - 1} {
			p := filepath.Join(dir, "cut"+ext)
			if err := os.WriteFile(p, b[:n], 0o644); err != nil {
				t.Fatal(err)
			}
			ck, err := Open(p)
			if err == nil {
				ck.Close()
				t.Fatalf("%s cut to %d bytes: no error", ext, n)
			}
		}
	}
}
