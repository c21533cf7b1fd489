//go:build oracle

package torch

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/tensor"
)

// TestCrossCheckPyTorch runs the real torch.save and torch.load: our reader must read what
// torch writes, and torch.load (with weights_only=True) must read what Write writes (the
// tensors of testdata/reference.bin, plus an int32 one).
func TestCrossCheckPyTorch(t *testing.T) {
	py := testutil.TorchPython(t)
	dir := t.TempDir()
	src, err := Open(filepath.Join("testdata", "reference.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	i32 := &tensor.Tensor{Name: "i32", DType: tensor.I32, Shape: []int{2, 2}, Data: []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0x80, 7, 0, 0, 0}}
	tensors := append(append([]*tensor.Tensor(nil), src.Tensors...), i32)
	var buf bytes.Buffer
	if err := Write(&buf, tensors); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(dir, "ours.bin")
	if err := os.WriteFile(ours, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	if out, err := exec.Command(py, filepath.Join("testdata", "make_reference.py"), dir, ours).CombinedOutput(); err != nil {
		t.Fatalf("make_reference.py: %v\n%s", err, out)
	}
	f, err := Open(filepath.Join(dir, "reference.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ref := readRef(t, filepath.Join(dir, "reference.json"))
	checkAgainst(t, f, ref)
	f4, err := Open(filepath.Join(dir, "protocol4.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f4.Close()
	checkAgainst(t, f4, ref)

	loaded := readRef(t, filepath.Join(dir, "loaded.json"))
	if len(loaded) != len(tensors) {
		t.Fatalf("torch.load found %d tensors, we wrote %d", len(loaded), len(tensors))
	}
	back, err := Parse("ours.bin", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, back, loaded)
	if v := loaded["i32"].Values; len(v) != 4 || v[0] != 1 || v[1] != -1 || v[2] != -2147483648 || v[3] != 7 {
		t.Errorf("torch.load gives i32 = %v", v)
	}
}
