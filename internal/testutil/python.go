//go:build oracle

package testutil

import (
	"os/exec"
	"testing"
)

// TorchPython returns the python3 that has PyTorch (Debian's python3-torch, installed for
// /usr/bin/python3 only), failing the test when it cannot import torch: oracle tests that
// compare with PyTorch must not silently pass.
func TorchPython(t testing.TB) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import torch (install python3-torch): %v\n%s", py, err, out)
	}
	return py
}
