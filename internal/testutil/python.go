//go:build oracle

package testutil

import (
	"os/exec"
	"testing"
)

// TorchPython returns the python3 that has PyTorch and NumPy (Debian's python3-torch,
// installed for /usr/bin/python3 only; the python3 first on PATH may lack it), failing the
// test when it cannot import them: oracle tests that compare with PyTorch must not
// silently pass. Every oracle test that runs PyTorch finds it here.
func TorchPython(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import torch, numpy").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import torch and numpy (install python3-torch): %v\n%s", py, err, out)
	}
	return py
}
