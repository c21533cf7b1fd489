package gguf

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// dataOffsetIn finds where a tensor's view starts in the file, by reading the tensor info
// fields independently of Parse: the info's offset field, relative to the data section.
func dataOffsetIn(t *testing.T, f *File, tt *tensor.Tensor) int {
	t.Helper()
	raw, err := os.ReadFile(f.Name)
	if err != nil {
		t.Fatal(err)
	}
	// The tensor info is: len(name) uint64, name, n_dims uint32, dims, type uint32, offset uint64.
	var key [8]byte
	binary.LittleEndian.PutUint64(key[:], uint64(len(tt.Name)))
	i := strings.Index(string(raw), string(key[:])+tt.Name+"\x02\x00\x00\x00")
	nd := 2
	if i < 0 {
		i = strings.Index(string(raw), string(key[:])+tt.Name+"\x01\x00\x00\x00")
		nd = 1
	}
	if i < 0 {
		t.Fatalf("tensor info of %q not found in the file", tt.Name)
	}
	p := i + 8 + len(tt.Name) + 4 + 8*nd + 4
	rel := int(binary.LittleEndian.Uint64(raw[p:]))
	return int(f.DataOffset) + rel
}

func TestOpenMissing(t *testing.T) {
	_, err := Open("testdata/no-such.gguf")
	if err == nil || !strings.Contains(err.Error(), "no-such.gguf") {
		t.Fatalf("error %v", err)
	}
	var f *File
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
