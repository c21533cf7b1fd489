package torch

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzPickle feeds arbitrary pickles, inside a zip with storages "0" to "3" of 64 bytes
// each, to Parse: it must never panic, and every tensor it accepts must be valid.
func FuzzPickle(f *testing.F) {
	f.Add(tensorPickle("FloatStorage", "0", 16, 4, []int64{3, 4}, []int64{4, 1}))
	f.Add(tensorPickle("BFloat16Storage", "3", 32, 0, []int64{2, 1, 16}, []int64{16, 7, 1}))
	f.Add([]byte("\x80\x02}q\x00X\x04\x00\x00\x00selfh\x00s."))
	f.Add([]byte("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x01a\x94(K\x01\x8a\x02\xff\x7fG?\xf0\x00\x00\x00\x00\x00\x00\x88\x89Nt\x94]e."))
	storages := []entry{
		{"a/data/0", make([]byte, 64), false}, {"a/data/1", make([]byte, 64), false},
		{"a/data/2", make([]byte, 64), false}, {"a/data/3", make([]byte, 64), true},
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		u, err := unpickle(pkl)
		if err != nil && u != nil {
			t.Fatal("a value and an error")
		}
		file, err := Parse("fuzz.bin", makeZip(t, append([]entry{{"a/data.pkl", pkl, false}}, storages...)...))
		if err != nil {
			return
		}
		for _, tt := range file.Tensors {
			if err := tt.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzParse feeds arbitrary bytes, starting from real torch.save files, to Parse.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"reference.bin", "protocol4.bin", "noncontiguous.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.bin", data)
		if err != nil {
			return
		}
		for _, tt := range file.Tensors {
			if err := tt.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}
