package torch

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// refTensor is one entry of a reference JSON file written by Python from what torch holds.
type refTensor struct {
	DType  string    `json:"dtype"`
	Shape  []int     `json:"shape"`
	Values []float64 `json:"values"`
}

func readRef(t *testing.T, path string) map[string]refTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]refTensor
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

var refDTypes = map[string]tensor.DType{"float32": tensor.F32, "float16": tensor.F16, "bfloat16": tensor.BF16, "int32": tensor.I32}

// checkAgainst checks that f holds exactly the tensors of ref with exactly its values.
func checkAgainst(t *testing.T, f *File, ref map[string]refTensor) {
	t.Helper()
	n := 0
	for name, r := range ref {
		dt, ok := refDTypes[r.DType]
		if !ok {
			var u *UnsupportedTensor
			for i := range f.Unsupported {
				if f.Unsupported[i].Name == name {
					u = &f.Unsupported[i]
				}
			}
			if u == nil || !tensor.ShapeEqual(u.Shape, r.Shape) {
				t.Errorf("%s (%s %v): not listed as unsupported: %+v", name, r.DType, r.Shape, u)
			}
			continue
		}
		n++
		tt, ok := f.Tensor(name)
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if tt.DType != dt || !tensor.ShapeEqual(tt.Shape, r.Shape) {
			t.Errorf("%s: %s %v, want %s %v", name, tt.DType, tt.Shape, dt, r.Shape)
			continue
		}
		got := make([]float32, tt.Elements())
		if len(got) != len(r.Values) {
			t.Fatalf("%s: %d elements, reference has %d", name, len(got), len(r.Values))
		}
		if dt == tensor.I32 {
			for i := range got {
				v := int32(uint32(tt.Data[4*i]) | uint32(tt.Data[4*i+1])<<8 | uint32(tt.Data[4*i+2])<<16 | uint32(tt.Data[4*i+3])<<24)
				if float64(v) != r.Values[i] {
					t.Fatalf("%s[%d] = %d, torch says %g", name, i, v, r.Values[i])
				}
			}
			continue
		}
		if err := tensor.DecodeRow(got, tt.Data, tt.DType); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if float64(v) != r.Values[i] {
				t.Fatalf("%s[%d] = %g, torch says %g", name, i, v, r.Values[i])
			}
		}
	}
	if len(f.Tensors) != n {
		t.Errorf("%d tensors, reference has %d supported ones", len(f.Tensors), n)
	}
}

// TestReference reads checkpoints written by torch.save (PyTorch 1.13.1, by
// testdata/make_reference.py) with pickle protocols 2 and 4, and compares every value with
// what torch printed.
func TestReference(t *testing.T) {
	ref := readRef(t, filepath.Join("testdata", "reference.json"))
	for _, name := range []string{"reference.bin", "protocol4.bin"} {
		t.Run(name, func(t *testing.T) {
			f, err := Open(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			checkAgainst(t, f, ref)
			// Views of one storage share its bytes: no copies.
			full, _ := f.Tensor("shared.full")
			row1, _ := f.Tensor("shared.row1")
			if &full.Data[4*4] != &row1.Data[0] {
				t.Error("shared.row1 is not a view of shared.full's storage")
			}
			if len(f.Unsupported) != 1 || f.Unsupported[0].Storage != "LongStorage" {
				t.Errorf("unsupported = %+v, want the int64 buffer", f.Unsupported)
			}
		})
	}
}

func TestNonContiguous(t *testing.T) {
	_, err := Open(filepath.Join("testdata", "noncontiguous.bin"))
	if err == nil || !strings.Contains(err.Error(), `tensor "t": size [4 3] with stride [1 4] is not contiguous`) {
		t.Fatalf("error %v", err)
	}
}

func TestWriteRoundTrip(t *testing.T) {
	tensors := []*tensor.Tensor{
		{Name: "a", DType: tensor.F32, Shape: []int{2, 3}, Data: []byte("0123456789abcdefghijklmn")},
		{Name: "b", DType: tensor.BF16, Shape: []int{}, Data: []byte{1, 2}},
		{Name: "c", DType: tensor.F16, Shape: []int{0}, Data: []byte{}},
		{Name: "model.layers.0.mlp.down_proj.weight", DType: tensor.F16, Shape: []int{70000, 1}, Data: make([]byte, 140000)},
	}
	var buf bytes.Buffer
	if err := Write(&buf, tensors); err != nil {
		t.Fatal(err)
	}
	f, err := Parse("rt.bin", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(tensors) {
		t.Fatalf("%d tensors", len(f.Tensors))
	}
	for i, got := range f.Tensors {
		w := tensors[i]
		if got.Name != w.Name || got.DType != w.DType || !tensor.ShapeEqual(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) {
			t.Errorf("tensor %d: %s %s %v, want %s %s %v", i, got.Name, got.DType, got.Shape, w.Name, w.DType, w.Shape)
		}
		if len(got.Data) > 0 {
			off := offsetIn(buf.Bytes(), got.Data)
			if off%zipAlignment != 0 {
				t.Errorf("%s: data at offset %d, not %d-aligned", got.Name, off, zipAlignment)
			}
		}
	}
	for _, bad := range []*tensor.Tensor{
		{Name: "q", DType: tensor.Q8_0, Shape: []int{32}, Data: make([]byte, 34)},
		{Name: "short", DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 4)},
	} {
		if err := Write(&bytes.Buffer{}, []*tensor.Tensor{bad}); err == nil || !strings.Contains(err.Error(), `"`+bad.Name+`"`) {
			t.Errorf("Write(%s) error %v", bad.Name, err)
		}
	}
	if err := Write(&bytes.Buffer{}, []*tensor.Tensor{tensors[0], tensors[0]}); err == nil {
		t.Error("duplicate names written")
	}
}

// offsetIn returns the offset of sub's first byte within b, or -1.
func offsetIn(b, sub []byte) int {
	for i := range b {
		if &b[i] == &sub[0] {
			return i
		}
	}
	return -1
}

func TestOpenMissing(t *testing.T) {
	_, err := Open("testdata/no-such.bin")
	if err == nil || !strings.Contains(err.Error(), "no-such.bin") {
		t.Fatalf("error %v", err)
	}
}
