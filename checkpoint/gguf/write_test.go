package gguf

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

func TestWriteRoundTrip(t *testing.T) {
	kv := []KV{
		{"u8", uint8(200)}, {"i8", int8(-100)}, {"u16", uint16(60000)}, {"i16", int16(-30000)},
		{"u32", uint32(4000000000)}, {"i32", int32(-2000000000)},
		{"u64", uint64(1 << 63)}, {"i64", int64(-1 << 62)},
		{"f32", float32(1.5)}, {"f64", math.Pi}, {"t", true}, {"f", false},
		{"s", "héllo ▁world"}, {"empty", ""},
		{"a.u8", []uint8{1, 2, 255}}, {"a.i8", []int8{-1, 2}}, {"a.u16", []uint16{1, 65535}},
		{"a.i16", []int16{-32768}}, {"a.u32", []uint32{1, 2, 3}}, {"a.i32", []int32{-1, 5}},
		{"a.u64", []uint64{1 << 63}}, {"a.i64", []int64{-9}}, {"a.f32", []float32{0.25, -1e-5}},
		{"a.f64", []float64{1e300}}, {"a.bool", []bool{true, false, true}},
		{"a.str", []string{"<s>", "", "▁the"}}, {"a.empty", []string{}},
		{"a.nested", []any{[]int32{1, 2}, []string{"x"}, []any{[]float32{3}}}},
		{AlignmentKey, uint32(64)},
	}
	f16 := make([]byte, 2*3*4)
	for i := range 12 {
		h := tensor.F32ToF16(float32(i) - 5.5)
		f16[2*i], f16[2*i+1] = byte(h), byte(h>>8)
	}
	tensors := []*tensor.Tensor{
		{Name: "scalar", DType: tensor.F32, Shape: []int{}, Data: []byte{0, 0, 128, 63}},
		{Name: "m", DType: tensor.F16, Shape: []int{3, 4}, Data: f16},
		{Name: "q", DType: tensor.Q8_0, Shape: []int{2, 32}, Data: make([]byte, 68)},
		{Name: "bf", DType: tensor.BF16, Shape: []int{1, 1, 2, 3}, Data: make([]byte, 12)},
		{Name: "empty", DType: tensor.F32, Shape: []int{0, 4}, Data: []byte{}},
		{Name: "idx", DType: tensor.I32, Shape: []int{5}, Data: make([]byte, 20)},
	}
	var buf bytes.Buffer
	if err := Write(&buf, kv, tensors); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("rt.gguf", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 64 || f.DataOffset%64 != 0 {
		t.Errorf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	if !reflect.DeepEqual(f.KV, kv) {
		t.Errorf("KV round trip:\n got %#v\nwant %#v", f.KV, kv)
	}
	if len(f.Tensors) != len(tensors) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(tensors))
	}
	for i, got := range f.Tensors {
		w := tensors[i]
		if got.Name != w.Name || got.DType != w.DType || !tensor.ShapeEqual(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) {
			t.Errorf("tensor %d: got %s %s %v, want %s %s %v", i, got.Name, got.DType, got.Shape, w.Name, w.DType, w.Shape)
		}
		if len(got.Data) > 0 {
			off := uintptrDiff(buf.Bytes(), got.Data)
			if off%64 != 0 {
				t.Errorf("tensor %s at file offset %d, not 64-aligned", got.Name, off)
			}
		}
	}
}

// uintptrDiff returns the offset of sub's first byte within b.
func uintptrDiff(b, sub []byte) int {
	for i := range b {
		if &b[i] == &sub[0] {
			return i
		}
	}
	return -1
}

func TestWriteErrors(t *testing.T) {
	ok := &tensor.Tensor{Name: "w", DType: tensor.F32, Shape: []int{1}, Data: make([]byte, 4)}
	tests := []struct {
		name    string
		kv      []KV
		tensors []*tensor.Tensor
		want    string
	}{
		{"int", []KV{{"n", 3}}, nil, `key "n": value of Go type int has no GGUF type`},
		{"dup key", []KV{{"n", uint8(3)}, {"n", uint8(4)}}, nil, `"n" appears twice`},
		{"alignment", []KV{{AlignmentKey, uint32(24)}}, nil, "power of two"},
		{"nested scalar", []KV{{"a", []any{int32(1)}}}, nil, "element 0 of an array of arrays is int32"},
		{"dup tensor", nil, []*tensor.Tensor{ok, ok}, `tensor "w" appears twice`},
		{"bad size", nil, []*tensor.Tensor{{Name: "x", DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 4)}}, `"x": f32 shape [2] needs 8 bytes`},
		{"5 dims", nil, []*tensor.Tensor{{Name: "x", DType: tensor.F32, Shape: []int{1, 1, 1, 1, 1}, Data: make([]byte, 4)}}, "5 dimensions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, tc.kv, tc.tensors)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
