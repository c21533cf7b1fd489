package kernel

import (
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// TestMatMulPath: the dispatch table names a kernel for every weight type and regime,
// follows the hooks the CPU set, and names the AVX2 kernels once the wider ones are off.
func TestMatMulPath(t *testing.T) {
	entries := Paths()
	if len(entries) != 2*len(pathTypes) {
		t.Fatalf("Paths: %d entries, want %d", len(entries), 2*len(pathTypes))
	}
	for _, e := range entries {
		if e.ISA == "" || e.Kernel == "" {
			t.Errorf("%s rows=%d: empty path %+v", e.DType, e.Rows, e.Path)
		}
	}
	if cpu.X86.HasAVX2 && !strings.Contains(Features(), "AVX2") {
		t.Errorf("Features() = %q, the CPU has AVX2", Features())
	}
	a, b, c, d, e, f, g := matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide, packedMatMuls, useAsm
	defer func() {
		matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide, packedMatMuls, useAsm = a, b, c, d, e, f, g
	}()
	matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide, packedMatMuls = nil, nil, nil, nil, nil, nil
	z := bf16zTiles
	defer func() { bf16zTiles = z }()
	bf16zTiles = [3][maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int){}
	if useAsm {
		if z[1][1] != nil {
			bf16zTiles = z
			for _, m := range []int{1, 128} {
				if got := MatMulPath(tensor.BF16, true, m); got.ISA != "AVX-512" || !strings.Contains(got.Kernel, "dotBF16Z") {
					t.Errorf("with the pair panels: MatMulPath(bf16, packed, m=%d) = %v, want AVX-512 dotBF16Z", m, got)
				}
			}
			bf16zTiles = [3][maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int){}
		}
		for _, tc := range []struct {
			dt     tensor.DType
			packed bool
			m      int
			kernel string
		}{
			{tensor.Q4_0, false, 1, "dotQ4I_vec8"}, {tensor.Q4_0, false, 16, "dotQ4I 8×2"},
			{tensor.Q4_0, true, 1, "dotQ4P_vec16 (packed)"}, {tensor.Q4_0, true, 16, "dotQ4I 8×2 (packed)"},
			{tensor.Q8_0, false, 1, "dotQ8_0 4×1"}, {tensor.Q8_0, false, 128, "dotQ8P 3×3"},
			{tensor.Q8_0, true, 1, "dotQ8G_vec16 (packed)"}, {tensor.Q8_0, true, 128, "dotQ8G 8×4 (packed)"},
			{tensor.BF16, false, 1, "float 4×1"}, {tensor.F16, true, 2, "float 3×4"},
			{tensor.BF16, true, 1, "dotBF16P_vec (panels)"}, {tensor.BF16, true, 128, "dotBF16P 16×6 (panels)"},
		} {
			if got := MatMulPath(tc.dt, tc.packed, tc.m); got != (Path{"AVX2", tc.kernel}) {
				t.Errorf("AVX2 only: MatMulPath(%s, packed %v, m=%d) = %v, want AVX2 %s", tc.dt, tc.packed, tc.m, got, tc.kernel)
			}
		}
	}
	useAsm = false
	for _, dt := range pathTypes {
		if got := MatMulPath(dt, true, 3); got.ISA != "Go" {
			t.Errorf("without assembly: MatMulPath(%s) = %v, want Go", dt, got)
		}
	}
}
