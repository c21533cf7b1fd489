package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/checkpoint/safetensors"
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
