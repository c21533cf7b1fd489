package gguf

import (
	"bytes"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// FuzzParse checks that Parse never panics, that what it accepts is consistent (every
// tensor valid and inside the input), and that writing a parsed file and parsing it again
// is stable.
func FuzzParse(f *testing.F) {
	f.Add(validFile())
	var buf bytes.Buffer
	err := Write(&buf, []KV{
		{"general.architecture", "llama"}, {"n", uint32(2)}, {"eps", float32(1e-5)},
		{"tokens", []string{"<unk>", "<s>"}}, {"types", []int32{2, 3}}, {"nested", []any{[]uint8{1}}},
	}, []*tensor.Tensor{
		{Name: "w", DType: tensor.Q4_0, Shape: []int{1, 32}, Data: make([]byte, 18)},
		{Name: "n", DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 8)},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.gguf", data)
		if err != nil {
			return
		}
		for _, tt := range file.Tensors {
			if err := tt.Validate(); err != nil {
				t.Fatal(err)
			}
		}
		var b1, b2 bytes.Buffer
		if err := Write(&b1, file.KV, file.Tensors); err != nil {
			t.Fatalf("rewriting a parsed file: %v", err)
		}
		file2, err := Parse("fuzz2.gguf", b1.Bytes())
		if err != nil {
			t.Fatalf("parsing a rewritten file: %v", err)
		}
		if err := Write(&b2, file2.KV, file2.Tensors); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
			t.Fatal("write/parse/write is not stable")
		}
	})
}
