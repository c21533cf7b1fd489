package llama2c

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// tinyFile is a valid llama2.c checkpoint of the given header with every float set to its
// index, so that permuted rows can be told apart.
func tinyFile(h Header) []byte {
	var b bytes.Buffer
	vocab := int32(h.Vocab)
	if !h.Shared {
		vocab = -vocab
	}
	binary.Write(&b, binary.LittleEndian, []int32{int32(h.Dim), int32(h.HiddenDim), int32(h.Layers), int32(h.Heads), int32(h.KVHeads), vocab, int32(h.SeqLen)})
	for i := int64(0); i < (h.FileSize()-headerBytes)/4; i++ {
		binary.Write(&b, binary.LittleEndian, float32(i))
	}
	return b.Bytes()
}

var tinyHeader = Header{Dim: 4, HiddenDim: 6, Layers: 1, Heads: 2, KVHeads: 1, Vocab: 3, SeqLen: 2, Shared: true}

// FuzzParse checks that Parse never panics and that what it accepts is consistent: the file
// is exactly the header's size and every tensor is valid and inside the file. The seeds are
// under 400 bytes.
func FuzzParse(f *testing.F) {
	small := tinyFile(tinyHeader)
	unshared := tinyHeader
	unshared.Shared = false
	f.Add(small)
	f.Add(tinyFile(unshared))
	f.Add(small[:headerBytes])
	f.Add(small[:len(small)-4])
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.bin", data)
		if err != nil {
			return
		}
		if file.Header.FileSize() != int64(len(data)) {
			t.Fatalf("accepted %d bytes for a header that needs %d", len(data), file.Header.FileSize())
		}
		for _, tt := range file.Tensors {
			if err := tt.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestFileSize: the size the header implies is what Parse reads, for shared and separate
// classifiers; one byte more or less is an error naming the sizes.
func TestFileSize(t *testing.T) {
	for _, shared := range []bool{true, false} {
		h := tinyHeader
		h.Shared = shared
		b := tinyFile(h)
		f, err := Parse("x.bin", b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Header != h {
			t.Fatalf("header %+v, want %+v", f.Header, h)
		}
		for _, bad := range [][]byte{b[:len(b)-1], append(append([]byte(nil), b...), 0)} {
			if _, err := Parse("x.bin", bad); err == nil || !bytes.Contains([]byte(err.Error()), []byte("needs")) {
				t.Errorf("%d bytes: err = %v", len(bad), err)
			}
		}
	}
}
