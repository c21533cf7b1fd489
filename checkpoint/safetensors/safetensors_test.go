package safetensors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

func file(header string, data int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(make([]byte, data))
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	ts := []*tensor.Tensor{
		{Name: "a", DType: tensor.F32, Shape: []int{2, 3}, Data: make([]byte, 24)},
		{Name: "b<&>", DType: tensor.BF16, Shape: []int{4}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		{Name: "scalar", DType: tensor.F16, Shape: []int{}, Data: []byte{9, 10}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if hl := binary.LittleEndian.Uint64(buf.Bytes()); hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"b<&>"`)) {
		t.Error("tensor names must not be HTML-escaped")
	}
	f, err := Parse("rt", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || len(f.Tensors) != 3 {
		t.Fatalf("metadata %v, %d tensors", f.Metadata, len(f.Tensors))
	}
	for i, got := range f.Tensors {
		w := ts[i]
		if got.Name != w.Name || got.DType != w.DType || !tensor.ShapeEqual(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) {
			t.Errorf("tensor %d: got %+v, want %+v", i, got, w)
		}
	}
}

// TestBadInput: each damaged file gives an error that names the problem; none panics.
func TestBadInput(t *testing.T) {
	ok := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "past the end"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds"},
		{"not json", file("nonsense", 0), "not a JSON object"},
		{"truncated data", file(ok, 4), "out of range"},
		{"negative offset", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, 8), "out of range"},
		{"offsets reversed", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}`, 8), "out of range"},
		{"shape/bytes mismatch", file(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 12 bytes"},
		{"unknown dtype", file(`{"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, 8), "unsupported dtype"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "overlap"},
		{"duplicate name", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "twice"},
		{"bad offsets count", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}`, 4), "2 entries"},
		{"negative shape", file(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "bad shape"},
		{"overflowing shape", file(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "bad shape"},
		{"unknown field", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), "bad header entry"},
		{"metadata not strings", file(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.safetensors", c.data)
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Fatalf("error %q should name the file and contain %q", err, c.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8))
	f.Add(file(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]}}`, 4))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := Parse("fuzz", data)
		if err != nil {
			return
		}
		for _, tt := range sf.Tensors {
			if err := tt.Validate(); err != nil {
				t.Fatalf("accepted an invalid tensor: %v", err)
			}
		}
	})
}
