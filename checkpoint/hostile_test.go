package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/defaultmodel"
	"github.com/decilm/decilm/tensor"
)

// hostileAlloc bounds what opening any hostile file may allocate on the heap (mapped file
// bytes are not counted).
const hostileAlloc = 8 << 20

// hostileCase is a corrupt or malicious checkpoint: files written into a fresh folder, the
// path Open is given (relative to it; "" for the folder), and what the error must say.
type hostileCase struct {
	name  string
	files map[string][]byte
	// sparse files: name → size, created with Truncate (no bytes written).
	sparse map[string]int64
	open   string
	want   string
	// alloc, when set, replaces hostileAlloc for a case whose limits allow more.
	alloc uint64
}

// TestHostileCheckpoints opens every case through Open, as `decilm run -m` does, and checks
// for a clear error naming the file, no panic, bounded heap allocation and no hang.
func TestHostileCheckpoints(t *testing.T) {
	cases := hostileCases(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for n, size := range tc.sparse {
				f, err := os.Create(filepath.Join(dir, n))
				if err != nil {
					t.Fatal(err)
				}
				f.Truncate(size)
				f.Close()
			}
			path := filepath.Join(dir, tc.open)
			type result struct {
				err   error
				alloc uint64
				panic any
			}
			done := make(chan result, 1)
			go func() {
				var r result
				defer func() {
					r.panic = recover()
					done <- r
				}()
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				c, err := Open(path)
				runtime.ReadMemStats(&after)
				if err == nil {
					c.Close()
				}
				r.err, r.alloc = err, after.TotalAlloc-before.TotalAlloc
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Open did not return within 20 s")
			}
			switch {
			case r.panic != nil:
				t.Fatalf("panic: %v", r.panic)
			case r.err == nil:
				t.Fatalf("no error, want one containing %q", tc.want)
			case !strings.Contains(r.err.Error(), tc.want):
				t.Fatalf("error %q does not contain %q", r.err, tc.want)
			case !strings.Contains(r.err.Error(), dir):
				t.Fatalf("error %q does not name the file", r.err)
			case r.alloc > max(tc.alloc, hostileAlloc):
				t.Fatalf("allocated %d bytes (limit %d)", r.alloc, max(tc.alloc, hostileAlloc))
			}
			t.Logf("%v (%d bytes allocated)", r.err, r.alloc)
		})
	}
	t.Logf("%d hostile checkpoints, each refused with a clear error", len(cases))
}

// stFile is a safetensors file with the given JSON header and data bytes.
func stFile(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, data)...)
}

// ggufBuilder writes GGUF fields by hand.
type ggufBuilder struct{ bytes.Buffer }

func (g *ggufBuilder) u32(v uint32) *ggufBuilder {
	binary.Write(g, binary.LittleEndian, v)
	return g
}
func (g *ggufBuilder) u64(v uint64) *ggufBuilder {
	binary.Write(g, binary.LittleEndian, v)
	return g
}
func (g *ggufBuilder) str(s string) *ggufBuilder {
	g.u64(uint64(len(s)))
	g.WriteString(s)
	return g
}

// ggufHead starts a version 3 GGUF file with the given counts.
func ggufHead(tensors, kvs uint64) *ggufBuilder {
	g := &ggufBuilder{}
	g.WriteString("GGUF")
	return g.u32(3).u64(tensors).u64(kvs)
}

// tensorInfo appends a tensor descriptor (dims innermost first).
func (g *ggufBuilder) tensorInfo(name string, typ uint32, offset uint64, dims ...uint64) *ggufBuilder {
	g.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		g.u64(d)
	}
	return g.u32(typ).u64(offset)
}

// pickleBuilder writes the pickle opcodes of a torch.save state dict by hand.
type pickleBuilder struct{ bytes.Buffer }

func (p *pickleBuilder) str(s string) {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
}
func (p *pickleBuilder) int(v int64) {
	if v >= math.MinInt32 && v <= math.MaxInt32 {
		p.WriteByte('J')
		binary.Write(p, binary.LittleEndian, int32(v))
		return
	}
	p.WriteByte(0x8a)
	p.WriteByte(8)
	binary.Write(p, binary.LittleEndian, v)
}
func (p *pickleBuilder) global(mod, name string) { p.WriteString("c" + mod + "\n" + name + "\n") }

// statePickle is {"w": _rebuild_tensor_v2(storage(typ, "0", numel), 0, shape, contiguous
// strides, False, OrderedDict())}.
func statePickle(typ string, numel int64, shape ...int64) []byte {
	p := &pickleBuilder{}
	p.Write([]byte{0x80, 2, '}'})
	p.str("w")
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.WriteString("((")
	p.str("storage")
	p.global("torch", typ)
	p.str("0")
	p.str("cpu")
	p.int(numel)
	p.WriteString("tQ")
	p.int(0)
	p.WriteByte('(')
	for _, s := range shape {
		p.int(s)
	}
	p.WriteString("t(")
	stride := int64(1)
	strides := make([]int64, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= shape[i]
	}
	for _, s := range strides {
		p.int(s)
	}
	p.WriteString("t\x89")
	p.global("collections", "OrderedDict")
	p.WriteString(")RtRs.")
	return p.Bytes()
}

// zipEntry is one entry of a test archive.
type zipEntry struct {
	name    string
	data    []byte
	deflate bool
}

func torchZip(t *testing.T, entries ...zipEntry) []byte {
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

// llama2cHeader is the seven int32 fields of a llama2.c checkpoint.
func llama2cHeader(v ...int32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

// shards splits the embedded stories260K model into two safetensors shards with an index;
// wrong names the tensor whose index entry points at the other shard ("" for none).
func shards(t *testing.T, wrong string) map[string][]byte {
	t.Helper()
	b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/config.json")
	f, err := safetensors.Parse("model.safetensors", b)
	if err != nil {
		t.Fatal(err)
	}
	var parts [2][]*tensor.Tensor
	wm := map[string]string{}
	for i, tt := range f.Tensors {
		parts[i%2] = append(parts[i%2], tt)
		wm[tt.Name] = fmt.Sprintf("model-%05d-of-00002.safetensors", i%2+1)
		if tt.Name == wrong {
			wm[tt.Name] = fmt.Sprintf("model-%05d-of-00002.safetensors", (i+1)%2+1)
		}
	}
	out := map[string][]byte{"config.json": cfg}
	for i, p := range parts {
		var buf bytes.Buffer
		if err := safetensors.Write(&buf, p, nil); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("model-%05d-of-00002.safetensors", i+1)] = buf.Bytes()
	}
	var idx strings.Builder
	idx.WriteString(`{"metadata":{},"weight_map":{`)
	first := true
	for n, s := range wm {
		if !first {
			idx.WriteString(",")
		}
		first = false
		fmt.Fprintf(&idx, "%q:%q", n, s)
	}
	idx.WriteString("}}")
	out["model.safetensors.index.json"] = []byte(idx.String())
	return out
}

func hostileCases(t *testing.T) []hostileCase {
	one := func(name string, b []byte) map[string][]byte { return map[string][]byte{name: b} }
	st := func(header string, data int) map[string][]byte { return one("x.safetensors", stFile(header, data)) }
	w := func(dtype, shape, offsets string) string {
		return `{"w":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}}`
	}
	real, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	hugeLen := binary.LittleEndian.AppendUint64(nil, math.MaxUint64)
	manyDims := `{"w":{"dtype":"F32","shape":[` + strings.Repeat("1,", 999) + `1],"data_offsets":[0,4]}}`

	// torch zips
	pkl := statePickle("FloatStorage", 4, 2, 2)
	store := func(data []byte) []zipEntry {
		return []zipEntry{{"archive/data.pkl", pkl, false}, {"archive/data/0", data, false}}
	}
	zeros64M := make([]byte, 64<<20)
	bomb := torchZip(t, zipEntry{"archive/data.pkl", pkl, false}, zipEntry{"archive/data/0", zeros64M, true})
	pklBomb := torchZip(t, zipEntry{"archive/data.pkl", append(append([]byte{}, pkl[:len(pkl)-1]...), zeros64M...), true})
	forbidden := []byte("\x80\x02cos\nsystem\nX\x02\x00\x00\x00idtR.")
	goodZip := torchZip(t, store(make([]byte, 16))...)
	// The end-of-central-directory record claims 65535 entries in a 200-byte file.
	lyingZip := append([]byte(nil), goodZip...)
	eocd := bytes.LastIndex(lyingZip, []byte("PK\x05\x06"))
	binary.LittleEndian.PutUint16(lyingZip[eocd+8:], 0xffff)
	binary.LittleEndian.PutUint16(lyingZip[eocd+10:], 0xffff)

	// GGUF
	valid := func() *ggufBuilder { return ggufHead(1, 0).tensorInfo("w", 0, 0, 4) }
	padTo := func(g *ggufBuilder, n int) []byte { return append(g.Bytes(), make([]byte, n-g.Len())...) }

	cases := []hostileCase{
		// safetensors
		{name: "st/empty", files: one("x.safetensors", nil), open: "x.safetensors", want: "too short"},
		{name: "st/header length past the end", files: one("x.safetensors", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...)), open: "x.safetensors", want: "runs past the end"},
		{name: "st/header length 2^64-1", files: one("x.safetensors", append(hugeLen, "{}"...)), open: "x.safetensors", want: "exceeds"},
		{name: "st/header not JSON", files: st("[1,2", 0), open: "x.safetensors", want: "not a JSON object"},
		{name: "st/offsets past the end", files: st(w("F32", "[4]", "[0,16]"), 8), open: "x.safetensors", want: "out of range"},
		{name: "st/offsets reversed", files: st(w("F32", "[0]", "[8,0]"), 8), open: "x.safetensors", want: "out of range"},
		{name: "st/overlapping tensors", files: st(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), open: "x.safetensors", want: "overlap"},
		{name: "st/negative shape", files: st(w("F32", "[-1,4]", "[0,16]"), 16), open: "x.safetensors", want: "bad shape"},
		{name: "st/huge shape", files: st(w("F32", "[4294967296,4294967296]", "[0,16]"), 16), open: "x.safetensors", want: "bad shape"},
		{name: "st/shape beyond int64", files: st(w("F32", "[99999999999999999999]", "[0,16]"), 16), open: "x.safetensors", want: "bad header entry"},
		{name: "st/1000 dimensions", files: st(manyDims, 4), open: "x.safetensors", want: "more than 8 dimensions"},
		{name: "st/2M dimensions in a 4 MB header", files: st(`{"w":{"dtype":"F32","shape":[`+strings.Repeat("1,", 2<<20)+`1],"data_offsets":[0,4]}}`, 4), open: "x.safetensors", want: "more than 8 dimensions", alloc: 24 << 20},
		{name: "st/1000 data offsets", files: st(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[`+strings.Repeat("0,", 999)+`4]}}`, 4), open: "x.safetensors", want: "more than 2 data offsets"},
		{name: "st/bad dtype", files: st(w("F64", "[2]", "[0,16]"), 16), open: "x.safetensors", want: `unsupported dtype "F64"`},
		{name: "st/size disagrees with shape", files: st(w("BF16", "[4]", "[0,16]"), 16), open: "x.safetensors", want: "needs 8 bytes"},
		{name: "st/duplicate key", files: st(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), open: "x.safetensors", want: "twice"},
		{name: "st/unknown field", files: st(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, 4), open: "x.safetensors", want: "unknown field"},
		{name: "st/truncated real model", files: one("x.safetensors", real[:len(real)/2]), open: "x.safetensors", want: "out of range"},

		// GGUF
		{name: "gguf/magic only", files: one("x.gguf", []byte("GGUF")), open: "x.gguf", want: "version"},
		{name: "gguf/version 1", files: one("x.gguf", append([]byte("GGUF"), 1, 0, 0, 0)), open: "x.gguf", want: "version 1"},
		{name: "gguf/big-endian", files: one("x.gguf", append([]byte("GGUF"), 0, 0, 0, 3)), open: "x.gguf", want: "big-endian"},
		{name: "gguf/tensor count 2^63", files: one("x.gguf", ggufHead(1<<63, 0).Bytes()), open: "x.gguf", want: "tensor count"},
		{name: "gguf/kv count 2^64-1", files: one("x.gguf", ggufHead(0, math.MaxUint64).Bytes()), open: "x.gguf", want: "key/value count"},
		{name: "gguf/counts the file could hold", files: one("x.gguf", padTo(ggufHead(16<<20/24, 0), 16<<20)), open: "x.gguf", want: "appears twice"},
		{name: "gguf/key length 2^63", files: one("x.gguf", ggufHead(0, 1).u64(1<<63).Bytes()), open: "x.gguf", want: "length"},
		{name: "gguf/array length 2^62", files: one("x.gguf", ggufHead(0, 1).str("a").u32(9).u32(4).u64(1<<62).Bytes()), open: "x.gguf", want: "array length"},
		{name: "gguf/string array too long", files: one("x.gguf", ggufHead(0, 1).str("a").u32(9).u32(8).u64(1<<40).Bytes()), open: "x.gguf", want: "array length"},
		{name: "gguf/arrays nested 9 deep", files: one("x.gguf", func() []byte {
			g := ggufHead(0, 1).str("a").u32(9)
			for i := 0; i < 9; i++ {
				g.u32(9).u64(1)
			}
			return g.u32(4).u64(0).Bytes()
		}()), open: "x.gguf", want: "nested"},
		{name: "gguf/unknown value type", files: one("x.gguf", ggufHead(0, 1).str("a").u32(99).Bytes()), open: "x.gguf", want: "unknown metadata value type"},
		{name: "gguf/alignment not a power of two", files: one("x.gguf", ggufHead(0, 1).str("general.alignment").u32(4).u32(48).Bytes()), open: "x.gguf", want: "power of two"},
		{name: "gguf/5 dimensions", files: one("x.gguf", ggufHead(1, 0).tensorInfo("w", 0, 0, 1, 1, 1, 1, 1).Bytes()), open: "x.gguf", want: "dimensions"},
		{name: "gguf/dimension 2^63", files: one("x.gguf", ggufHead(1, 0).tensorInfo("w", 0, 0, 1<<63).Bytes()), open: "x.gguf", want: "too large"},
		{name: "gguf/unknown ggml type", files: one("x.gguf", ggufHead(1, 0).tensorInfo("w", 99, 0, 4).Bytes()), open: "x.gguf", want: "unknown ggml type"},
		{name: "gguf/data past the end", files: one("x.gguf", valid().Bytes()), open: "x.gguf", want: "past the end"},
		{name: "gguf/offset 2^63", files: one("x.gguf", padTo(ggufHead(1, 0).tensorInfo("w", 0, 1<<63, 4), 128)), open: "x.gguf", want: "past the end"},
		{name: "gguf/misaligned offset", files: one("x.gguf", padTo(ggufHead(1, 0).tensorInfo("w", 0, 3, 4), 128)), open: "x.gguf", want: "alignment"},
		{name: "gguf/overlapping tensors", files: one("x.gguf", padTo(ggufHead(2, 0).tensorInfo("a", 0, 0, 16).tensorInfo("b", 0, 32, 16), 256)), open: "x.gguf", want: "overlap"},
		{name: "gguf/row not a block multiple", files: one("x.gguf", padTo(ggufHead(1, 0).tensorInfo("w", 8, 0, 33), 256)), open: "x.gguf", want: "block size"},
		{name: "gguf/duplicate tensor", files: one("x.gguf", padTo(ggufHead(2, 0).tensorInfo("w", 0, 0, 4).tensorInfo("w", 0, 32, 4), 256)), open: "x.gguf", want: "appears twice"},

		// PyTorch zip
		{name: "torch/bare pickle", files: one("x.bin", []byte("\x80\x02}q\x00.")), open: "x.bin", want: "bare pickle"},
		{name: "torch/truncated zip", files: one("x.bin", goodZip[:len(goodZip)/2]), open: "x.bin", want: "reading the zip archive"},
		{name: "torch/central directory claims 65535 entries", files: one("x.bin", lyingZip), open: "x.bin", want: "reading the zip archive"},
		{name: "torch/no data.pkl", files: one("x.bin", torchZip(t, zipEntry{"archive/data/0", make([]byte, 16), false})), open: "x.bin", want: "no <dir>/data.pkl"},
		{name: "torch/forbidden global", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", forbidden, false})), open: "x.bin", want: "forbidden global os.system"},
		{name: "torch/unknown opcode", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", []byte("\x80\x02\xff"), false})), open: "x.bin", want: "unsupported opcode"},
		{name: "torch/memo never stored", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", []byte("\x80\x02j\xff\xff\xff\x7f."), false})), open: "x.bin", want: "never stored"},
		{name: "torch/string length 2^31", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", []byte("\x80\x02X\xff\xff\xff\x7f"), false})), open: "x.bin", want: "truncated"},
		{name: "torch/no STOP", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", []byte("\x80\x02}"), false})), open: "x.bin", want: "no STOP"},
		{name: "torch/2 MB pickle of 2M values", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", append([]byte("\x80\x04"), bytes.Repeat([]byte("N\x94"), 1<<20)...), false})), open: "x.bin", want: "more than 262144 values", alloc: 32 << 20},
		{name: "torch/storage missing", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", pkl, false})), open: "x.bin", want: "missing"},
		{name: "torch/storage shorter than declared", files: one("x.bin", torchZip(t, store(make([]byte, 8))...)), open: "x.bin", want: "should hold"},
		{name: "torch/tensor larger than its storage", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", statePickle("FloatStorage", 4, 3, 2), false}, zipEntry{"archive/data/0", make([]byte, 16), false})), open: "x.bin", want: "exceed storage"},
		{name: "torch/numel 2^62", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", statePickle("FloatStorage", 1<<62, 2, 2), false}, zipEntry{"archive/data/0", make([]byte, 16), false})), open: "x.bin", want: "should hold"},
		{name: "torch/negative size", files: one("x.bin", torchZip(t, zipEntry{"archive/data.pkl", statePickle("FloatStorage", 4, -2, 2), false}, zipEntry{"archive/data/0", make([]byte, 16), false})), open: "x.bin", want: "size[0]"},
		{name: "torch/storage inflates to 64 MiB (zip bomb)", files: one("x.bin", bomb), open: "x.bin", want: "more than the 16"},
		{name: "torch/data.pkl inflates to 64 MiB (zip bomb)", files: one("x.bin", pklBomb), open: "x.bin", want: "inflates to"},

		// llama2.c
		{name: "llama2c/header only", files: one("x.bin", llama2cHeader(64, 172, 5, 8, 4, 512, 512)), open: "x.bin", want: "truncated"},
		{name: "llama2c/short header", files: one("x.bin", []byte{1, 2, 3}), open: "x.bin", want: "too short"},
		{name: "llama2c/negative dim", files: one("x.bin", llama2cHeader(-64, 172, 5, 8, 4, 512, 512)), open: "x.bin", want: "implausible"},
		{name: "llama2c/largest plausible header, tiny file", files: one("x.bin", append(llama2cHeader(1<<20, 4<<20, 4096, 1<<19, 1<<19, 16<<20, 16<<20), make([]byte, 1024)...)), open: "x.bin", want: "truncated"},
		{name: "llama2c/odd head dim", files: one("x.bin", llama2cHeader(66, 172, 5, 6, 6, 512, 512)), open: "x.bin", want: "not a multiple"},

		// Hugging Face folders
		{name: "dir/no weights", files: one("config.json", []byte("{}")), want: "no model.safetensors"},
		{name: "dir/index not JSON", files: map[string][]byte{"model.safetensors.index.json": []byte("{"), "config.json": []byte("{}")}, want: "index.json"},
		{name: "dir/index without weight_map", files: map[string][]byte{"model.safetensors.index.json": []byte(`{"metadata":{}}`)}, want: "weight_map is missing"},
		{name: "dir/index escapes the folder", files: map[string][]byte{"model.safetensors.index.json": []byte(`{"weight_map":{"w":"../../etc/passwd"}}`)}, want: "invalid shard name"},
		{name: "dir/index names a missing shard", files: map[string][]byte{"model.safetensors.index.json": []byte(`{"weight_map":{"w":"model-00001-of-00002.safetensors"}}`), "config.json": []byte("{}")}, want: "missing"},
		{name: "dir/index names the wrong shard", files: shards(t, "model.norm.weight"), want: `tensor "model.norm.weight" is in model-0000`},
		{name: "dir/index of 1 GiB", sparse: map[string]int64{"model.safetensors.index.json": 1 << 30}, want: "such a file may have"},
		{name: "dir/config.json of 1 GiB", files: one("model.safetensors", real), sparse: map[string]int64{"config.json": 1 << 30}, want: "such a file may have"},
	}
	return cases
}
