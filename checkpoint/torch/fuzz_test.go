package torch

import (
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

// FuzzParse feeds arbitrary bytes to Parse, starting from small torch.save-shaped archives
// (a few hundred bytes: the real files in testdata, 6 KB each, left the fuzzer minimising
// them instead of fuzzing). testdata/fuzz/FuzzParse holds these seeds and what the fuzzer
// found.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds(f) {
		f.Add(s)
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

// parseSeeds are small archives: a float tensor with a stored and with a deflated storage,
// a bfloat16 tensor at a storage offset, and a dict without tensors.
func parseSeeds(t testing.TB) [][]byte {
	return [][]byte{
		makeZip(t, entry{"a/data.pkl", tensorPickle("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{2, 1}), false},
			entry{"a/data/0", make([]byte, 16), false}),
		makeZip(t, entry{"a/data.pkl", tensorPickle("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}), true},
			entry{"a/data/0", []byte("0123456789abcdef"), true}),
		makeZip(t, entry{"a/data.pkl", tensorPickle("BFloat16Storage", "1", 8, 2, []int64{3, 2}, []int64{2, 1}), false},
			entry{"a/data/1", make([]byte, 16), false}),
		makeZip(t, entry{"a/data.pkl", []byte("\x80\x02}q\x00X\x01\x00\x00\x00aK\x01s."), false}),
	}
}

// TestParseSeeds: the fuzz seeds parse (they are valid checkpoints), so the fuzzer starts
// from files that reach the tensor code.
func TestParseSeeds(t *testing.T) {
	for i, s := range parseSeeds(t) {
		f, err := Parse("seed.bin", s)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		want := 1
		if i == 3 {
			want = 0
		}
		if len(f.Tensors) != want {
			t.Fatalf("seed %d: %d tensors", i, len(f.Tensors))
		}
	}
}
