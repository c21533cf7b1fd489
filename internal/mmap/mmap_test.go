package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRelease: releasing the pages of a mapped file keeps its bytes readable and
// unchanged; Release on memory that is no mapping (or a closed one) leaves it alone.
func TestRelease(t *testing.T) {
	want := make([]byte, 3<<20+123)
	for i := range want {
		want[i] = byte(i*7 + i>>12)
	}
	path := filepath.Join(t.TempDir(), "w.bin")
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	for _, b := range f.Data { // touch every page
		sum += int(b)
	}
	Release(f.Data[100:])
	if !bytes.Equal(f.Data, want) {
		t.Fatal("a released mapping reads back different bytes")
	}
	heap := bytes.Clone(want)
	Release(heap) // not a mapping: must not be dropped (it would read back as zeros)
	if !bytes.Equal(heap, want) {
		t.Fatal("Release changed memory that is not a mapping")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	AdviseHuge(heap)
	if !bytes.Equal(heap, want) {
		t.Fatal("AdviseHuge changed memory")
	}
	_ = sum
}
