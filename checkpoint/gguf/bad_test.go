package gguf

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// raw builds GGUF bytes by hand, field by field, independently of Write.
type raw struct{ b []byte }

func (r *raw) u8(v uint8) *raw   { r.b = append(r.b, v); return r }
func (r *raw) u32(v uint32) *raw { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }
func (r *raw) header(version uint32, nTensors, nKV uint64) *raw {
	r.b = append(r.b, "GGUF"...)
	return r.u32(version).u64(nTensors).u64(nKV)
}

// info appends a tensor info; dims are innermost first, as stored.
func (r *raw) info(name string, typ uint32, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(typ).u64(offset)
}

// pad pads to a multiple of 32 and appends n bytes of tensor data.
func (r *raw) data(n int) *raw {
	for len(r.b)%32 != 0 {
		r.b = append(r.b, 0)
	}
	r.b = append(r.b, make([]byte, n)...)
	return r
}

// validFile is a small well-formed file: two KVs, an F32 [2,4] tensor and an F16 [8] one.
func validFile() []byte {
	r := (&raw{}).header(3, 2, 2)
	r.str("general.architecture").u32(uint32(TypeString)).str("llama")
	r.str("list").u32(uint32(TypeArray)).u32(uint32(TypeInt32)).u64(2).u32(7).u32(0xffffffff)
	r.info("a", 0, 0, 4, 2)
	r.info("b", 1, 32, 8)
	return r.data(48).b
}

func TestParseHandmade(t *testing.T) {
	v2 := validFile()
	v2[4] = 2 // version 2 has the same layout as version 3 (v3 added big-endian files)
	f2, err := Parse("v2.gguf", v2)
	if err != nil || f2.Version != 2 || len(f2.Tensors) != 2 {
		t.Fatalf("version 2: %v", err)
	}
	f, err := Parse("ok.gguf", validFile())
	if err != nil {
		t.Fatal(err)
	}
	a, ok := f.Tensor("a")
	if !ok || a.Shape[0] != 2 || a.Shape[1] != 4 || len(a.Data) != 32 {
		t.Fatalf("tensor a = %+v", a)
	}
	if l, err := f.Int32s("list"); err != nil || len(l) != 2 || l[0] != 7 || l[1] != -1 {
		t.Fatalf("list = %v, %v", l, err)
	}
	if f.DataOffset != 192 { // 24 header + 45 + 36 KV + 41 + 33 infos = 179, padded
		t.Fatalf("data offset %d, want 192", f.DataOffset)
	}
}

func TestParseBad(t *testing.T) {
	kv1 := func(key string, typ ValueType) *raw {
		return (&raw{}).header(3, 0, 1).str(key).u32(uint32(typ))
	}
	one := func(typ uint32, off uint64, dataLen int, dims ...uint64) []byte {
		return (&raw{}).header(3, 1, 0).info("w", typ, off, dims...).data(dataLen).b
	}
	nested := (&raw{}).header(3, 0, 1).str("deep").u32(uint32(TypeArray))
	for i := 0; i < 10; i++ {
		nested.u32(uint32(TypeArray)).u64(1)
	}
	nested.u32(uint32(TypeUint8)).u64(0)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a GGUF file"},
		{"magic", []byte("GGML\x03\x00\x00\x00"), "not a GGUF file"},
		{"v1", (&raw{}).header(1, 0, 0).b, "version 1"},
		{"v4", (&raw{}).header(4, 0, 0).b, "version 4"},
		{"big-endian", (&raw{}).header(3<<24, 0, 0).b, "big-endian"},
		{"no counts", []byte("GGUF\x03\x00\x00\x00\x01"), "tensor count"},
		{"tensor count", (&raw{}).header(3, 1<<62, 0).b, "tensor count"},
		{"kv count", (&raw{}).header(3, 0, 1<<40).b, "key/value count"},
		{"key length", (&raw{}).header(3, 0, 1).u64(1 << 63).u32(0).u8(0).b, "length"},
		{"string value length", kv1("k", TypeString).u64(1 << 40).u8(0).b, "length"},
		{"array length", kv1("k", TypeArray).u32(uint32(TypeUint32)).u64(1 << 61).b, "array length"},
		{"string array length", kv1("k", TypeArray).u32(uint32(TypeString)).u64(1 << 20).u64(0).b, "array length"},
		{"value type", kv1("k", 13).u64(0).b, "unknown metadata value type 13"},
		{"element type", kv1("k", TypeArray).u32(99).u64(0).b, "unknown element type 99"},
		{"truncated value", kv1("k", TypeUint64).u32(0).b, "need 8 bytes"},
		{"nesting", nested.b, "nested"},
		{"duplicate key", (&raw{}).header(3, 0, 2).str("k").u32(uint32(TypeBool)).u8(1).str("k").u32(uint32(TypeBool)).u8(0).b, `"k" at byte 38 appears twice`},
		{"alignment type", kv1(AlignmentKey, TypeUint64).u64(32).b, "has type uint64, want uint32"},
		{"alignment zero", kv1(AlignmentKey, TypeUint32).u32(0).b, "power of two"},
		{"alignment 48", kv1(AlignmentKey, TypeUint32).u32(48).b, "power of two"},
		{"dims", one(0, 0, 4, 1, 1, 1, 1, 1), "5 dimensions"},
		{"dim overflow", one(0, 0, 4, 1<<40, 1<<40), "too large"},
		{"ggml type", one(99, 0, 4, 1), "unknown ggml type 99"},
		{"unaligned offset", one(0, 4, 8, 1), "not a multiple of the alignment"},
		{"past end", one(0, 0, 12, 4), "run past the end"},
		{"offset past end", one(0, 1<<63, 4, 1), "run past the end"},
		{"block size", one(8, 0, 34, 10), "not a multiple of the Q8_0 block size 32"},
		{"duplicate tensor", (&raw{}).header(3, 2, 0).info("w", 0, 0, 1).info("w", 0, 32, 1).data(64).b, `"w" at byte`},
		{"overlap", (&raw{}).header(3, 2, 0).info("w", 0, 0, 16).info("v", 0, 32, 1).data(64).b, `"w" and "v" overlap`},
		{"overlap around empty", (&raw{}).header(3, 3, 0).info("w", 0, 0, 16).info("e", 0, 32, 0).info("v", 0, 32, 1).data(64).b, `"w" and "v" overlap`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Parse("bad.gguf", tc.data)
			if err == nil {
				t.Fatalf("no error; got %d KVs, %d tensors", len(f.KV), len(f.Tensors))
			}
			if !strings.HasPrefix(err.Error(), "gguf bad.gguf: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
}

// TestEmptyTensorAtEnd parses a file whose only tensor is empty and which ends before the
// aligned start of the (empty) data section.
func TestEmptyTensorAtEnd(t *testing.T) {
	b := (&raw{}).header(3, 1, 0).info("e", 0, 0, 0, 4).b
	f, err := Parse("e.gguf", b)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := f.Tensor("e"); !ok || len(e.Data) != 0 || e.Shape[0] != 4 || e.Shape[1] != 0 {
		t.Fatalf("e = %+v", e)
	}
}

func TestParseTruncated(t *testing.T) {
	b := validFile()
	for n := 0; n < len(b)-47; n++ { // the last 47 bytes are padding and data of b
		if _, err := Parse("t.gguf", b[:n]); err == nil {
			t.Errorf("prefix of %d bytes parsed without error", n)
		}
	}
}

func TestUnsupportedType(t *testing.T) {
	// Q8_1 (9) is an activation type llama-quantize never writes to a file.
	b := (&raw{}).header(3, 2, 0).info("q8", 9, 0, 256, 2).info("f", 0, 576, 1).data(580).b
	f, err := Parse("u.gguf", b)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 1 || len(f.Unsupported) != 1 {
		t.Fatalf("%d tensors, %d unsupported", len(f.Tensors), len(f.Unsupported))
	}
	u := f.Unsupported[0]
	if u.Name != "q8" || u.Type != 9 || len(u.Data) != 2*8*36 || u.Shape[0] != 2 || u.Shape[1] != 256 {
		t.Fatalf("unsupported = %+v", u)
	}
	if _, ok := f.Tensor("q8"); ok {
		t.Error("Tensor found an unsupported tensor")
	}
	_, err = f.LookupTensor("q8")
	if err == nil || !strings.Contains(err.Error(), `"q8" has ggml type Q8_1 (9)`) {
		t.Errorf("LookupTensor error %v", err)
	}
}

func TestAccessorErrors(t *testing.T) {
	b := (&raw{}).header(3, 0, 5).
		str("u32").u32(uint32(TypeUint32)).u32(7).
		str("neg").u32(uint32(TypeInt32)).u32(0xfffffffe).
		str("big").u32(uint32(TypeUint64)).u64(1 << 63).
		str("s").u32(uint32(TypeString)).str("x").
		str("u8s").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(2).u32(5).u32(1 << 31).b
	f, err := Parse("acc.gguf", b)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.Uint("u32"); err != nil || v != 7 {
		t.Errorf("Uint(u32) = %d, %v", v, err)
	}
	if v, err := f.Int("neg"); err != nil || v != -2 {
		t.Errorf("Int(neg) = %d, %v", v, err)
	}
	if v, err := f.Uint("big"); err != nil || v != 1<<63 {
		t.Errorf("Uint(big) = %d, %v", v, err)
	}
	if v, err := f.Float("u32"); err != nil || v != 7 {
		t.Errorf("Float(u32) = %g, %v", v, err)
	}
	errs := []struct {
		name string
		err  error
		want string
	}{
		{"Uint negative", second(f.Uint("neg")), `"neg" is -2`},
		{"Int too big", second(f.Int("big")), "too large"},
		{"String of uint32", second(f.String("u32")), `key "u32" has type uint32, want string`},
		{"Bool of string", second(f.Bool("s")), `"s" has type string, want bool`},
		{"Strings of string", second(f.Strings("s")), "want array of string"},
		{"Float32s of array", second(f.Float32s("u8s")), "has type array of uint32, want array of float32"},
		{"Int32s overflow", second(f.Int32s("u8s")), "element 1 does not fit"},
		{"Uint missing", second(f.Uint("nope")), `"nope": not found`},
	}
	for _, e := range errs {
		if e.err == nil || !strings.Contains(e.err.Error(), e.want) || !strings.Contains(e.err.Error(), "acc.gguf") {
			t.Errorf("%s: error %v, want %q", e.name, e.err, e.want)
		}
	}
	if _, err := f.String("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key error %v does not wrap ErrNotFound", err)
	}
}

func second[T any](_ T, err error) error { return err }
