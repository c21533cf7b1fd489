package torch

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one file of a test zip archive.
type entry struct {
	name    string
	data    []byte
	deflate bool
}

// makeZip builds a zip archive with the standard library's writer.
func makeZip(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		m := zip.Store
		if e.deflate {
			m = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: m})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorPickle is a state dict {"w": tensor} whose one tensor has the given storage, offset,
// size and stride, written opcode by opcode.
func tensorPickle(storage, key string, numel, offset int64, size, stride []int64) []byte {
	p := &pickler{}
	p.proto(2)
	p.op(opEmptyDict)
	p.str("w")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op(opMark)
	p.op(opMark)
	p.str("storage")
	p.global("torch", storage)
	p.str(key)
	p.str("cpu")
	p.int(numel)
	p.op(opTuple)
	p.op(opBinPersID)
	p.int(offset)
	p.op(opMark)
	for _, s := range size {
		p.int(s)
	}
	p.op(opTuple)
	p.op(opMark)
	for _, s := range stride {
		p.int(s)
	}
	p.op(opTuple)
	p.op(opNewFalse)
	p.op(opNone)
	p.op(opTuple)
	p.op(opReduce)
	p.op(opSetItem)
	p.op(opStop)
	return p.b
}

func TestParseHandmade(t *testing.T) {
	pkl := tensorPickle("HalfStorage", "k", 6, 2, []int64{2, 2}, []int64{2, 1})
	data := []byte("ab0123456789")
	for _, deflate := range []bool{false, true} {
		f, err := Parse("h.bin", makeZip(t, entry{"top/data.pkl", pkl, deflate}, entry{"top/data/k", data, deflate}, entry{"top/version", []byte("3\n"), false}))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := f.Tensor("w")
		if !ok || string(w.Data) != "23456789" || w.Shape[0] != 2 || w.Shape[1] != 2 {
			t.Fatalf("deflate=%v: w = %+v", deflate, w)
		}
	}
}

func TestParseBad(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("testdata", "reference.bin"))
	if err != nil {
		t.Fatal(err)
	}
	withPickle := func(pkl []byte, extra ...entry) []byte {
		return makeZip(t, append([]entry{{"archive/data.pkl", pkl, false}}, extra...)...)
	}
	stor := func(key string, n int) entry { return entry{"archive/data/" + key, make([]byte, n), false} }
	long1 := append([]byte("\x80\x02\x8a\x10"), bytes.Repeat([]byte{0x7f}, 16)...)
	deepMarks := append([]byte("\x80\x02"), bytes.Repeat([]byte("("), 100000)...)
	deepTuples := append([]byte("\x80\x02)"), bytes.Repeat([]byte("\x85"), 100000)...)
	// A dict that contains itself: {}, memo 0, "self", get 0, SETITEM.
	cyclic := []byte("\x80\x02}q\x00X\x04\x00\x00\x00selfh\x00s.")
	bomb := makeZip(t, entry{"archive/data.pkl", tensorPickle("FloatStorage", "0", 1, 0, []int64{1}, []int64{1}), false},
		entry{"archive/data/0", bytes.Repeat([]byte{0}, 1<<20), true})
	// Patch the uncompressed size in the central directory to claim 4 GiB - 1.
	i := bytes.LastIndex(bomb, []byte("PK\x01\x02")) // the central directory header of data/0
	copy(bomb[i+24:], []byte{0xff, 0xff, 0xff, 0xfe})

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a zip archive"},
		{"legacy pickle", []byte("\x80\x02\x8a\x0a"), "legacy torch.save format"},
		{"truncated zip", ref[:len(ref)/2], "zip:"},
		{"truncated end", ref[:len(ref)-1], "zip:"},
		{"no data.pkl", makeZip(t, entry{"archive/version", []byte("3"), false}), "no <dir>/data.pkl"},
		{"storage missing", withPickle(tensorPickle("FloatStorage", "7", 4, 0, []int64{4}, []int64{1})), `zip entry "archive/data/7" is missing (storage of tensor "w")`},
		{"beyond storage", withPickle(tensorPickle("FloatStorage", "0", 4, 2, []int64{3}, []int64{1}), stor("0", 16)), `tensor "w": 3 elements at storage offset 2 exceed storage "0" of 4 elements`},
		{"entry too short", withPickle(tensorPickle("FloatStorage", "0", 4, 0, []int64{4}, []int64{1}), stor("0", 15)), `storage "0" should hold 4 FloatStorage elements of 4 bytes but its zip entry has 15 bytes`},
		{"not contiguous", withPickle(tensorPickle("FloatStorage", "0", 4, 0, []int64{2, 2}, []int64{1, 2}), stor("0", 16)), `tensor "w": size [2 2] with stride [1 2] is not contiguous`},
		{"negative size", withPickle(tensorPickle("FloatStorage", "0", 4, 0, []int64{-1}, []int64{1}), stor("0", 16)), "size[0] is -1"},
		{"huge size", withPickle(tensorPickle("FloatStorage", "0", 4, 0, []int64{1 << 40, 1 << 40}, []int64{1, 1}), stor("0", 16)), "too large"},
		{"huge numel", withPickle(tensorPickle("FloatStorage", "0", 1<<62, 0, []int64{4}, []int64{1}), stor("0", 16)), "should hold"},
		{"deflate bomb", bomb, "claims"},
		{"unknown opcode", withPickle([]byte("\x80\x02\xff")), "unsupported opcode 0xff at byte 2"},
		{"protocol 0", withPickle([]byte("(dp0\n.")), "unsupported opcode 0x64"},
		{"os.system", withPickle([]byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")), "forbidden global os.system"},
		{"eval via STACK_GLOBAL", withPickle([]byte("\x80\x04\x8c\x08builtins\x8c\x04eval\x93.")), "forbidden global builtins.eval"},
		{"STACK_GLOBAL types", withPickle([]byte("\x80\x04K\x01K\x02\x93.")), "needs two str, have int and int"},
		{"SETITEM on list", withPickle([]byte("\x80\x02]K\x01K\x02s.")), "SETITEM at byte 7 on a list"},
		{"REDUCE on str", withPickle([]byte("\x80\x02X\x01\x00\x00\x00x)R.")), "cannot call a str"},
		{"REDUCE storage type", withPickle([]byte("\x80\x02ctorch\nFloatStorage\n)R.")), "torch.FloatStorage is not callable"},
		{"APPEND to dict", withPickle([]byte("\x80\x02}K\x01a.")), "APPEND at byte 5 to a dict"},
		{"BUILD on int", withPickle([]byte("\x80\x02K\x01}b.")), "BUILD at byte 5 on a int"},
		{"tuple key", withPickle([]byte("\x80\x02})K\x01s.")), "dict key of type tuple"},
		{"memo miss", withPickle([]byte("\x80\x02j\xff\xff\xff\xff.")), "memo key 4294967295"},
		{"memo empty", withPickle([]byte("\x80\x02q\x00.")), "stack underflow"},
		{"underflow", withPickle([]byte("\x80\x02s.")), "stack underflow"},
		{"below mark", withPickle([]byte("\x80\x02K\x01(s.")), "stack underflow"},
		{"no mark", withPickle([]byte("\x80\x02t.")), "no MARK"},
		{"no stop", withPickle([]byte("\x80\x02}")), "no STOP"},
		{"truncated arg", withPickle([]byte("\x80\x02X\xff\xff\xff\x7f")), "need 2147483647 bytes"},
		{"big string", withPickle([]byte("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff")), "runs past the end"},
		{"long int", withPickle(long1), "does not fit in 64 bits"},
		{"global no newline", withPickle(append([]byte("\x80\x02c"), bytes.Repeat([]byte("a"), 300)...)), "no newline"},
		{"deep marks", withPickle(deepMarks), "no STOP"},
		{"deep tuples", withPickle(deepTuples), "no STOP"},
		{"not a dict", withPickle([]byte("\x80\x02K\x05.")), "holds a int, want a state dict"},
		{"cyclic dict", withPickle(cyclic), `dict "self." appears twice`},
		{"bad persid", withPickle([]byte("\x80\x02X\x01\x00\x00\x00kQ.")), "persistent id at byte 8 is a str"},
		{"persid global", withPickle([]byte("\x80\x02(X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x01tQ.")), "want ('storage', torch.<Type>Storage"},
		{"rebuild args", withPickle([]byte("\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)R.")), "_rebuild_tensor_v2 with 0 arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("bad.bin", tc.data)
			if err == nil {
				t.Fatalf("no error; %d tensors", len(f.Tensors))
			}
			if !strings.HasPrefix(err.Error(), "torch bad.bin: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
}

// TestDuplicateName checks that a name given twice (here by nested dicts) is an error.
func TestDuplicateName(t *testing.T) {
	// {"a.b": t, "a": {"b": t}} with the same tensor.
	p := &pickler{}
	p.proto(2)
	p.op(opEmptyDict)
	p.str("a.b")
	body := tensorPickle("FloatStorage", "0", 1, 0, []int64{1}, []int64{1})
	// Reuse the tensor construction of tensorPickle: the bytes between its key and SETITEM.
	start := bytes.Index(body, []byte("ctorch._utils"))
	tens := body[start : len(body)-2]
	p.b = append(p.b, tens...)
	p.op(opBinPut)
	p.b = append(p.b, 0)
	p.op(opSetItem)
	p.str("a")
	p.op(opEmptyDict)
	p.str("b")
	p.op(opBinGet)
	p.b = append(p.b, 0)
	p.op(opSetItem)
	p.op(opSetItem)
	p.op(opStop)
	_, err := Parse("dup.bin", makeZip(t, entry{"archive/data.pkl", p.b, false}, entry{"archive/data/0", make([]byte, 4), false}))
	if err == nil || !strings.Contains(err.Error(), `tensor "a.b" appears twice`) {
		t.Fatalf("error %v", err)
	}
}
