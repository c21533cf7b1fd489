package gguf

import (
	"strings"
	"testing"
)

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
