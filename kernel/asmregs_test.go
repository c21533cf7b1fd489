package kernel

import (
	"os"
	"regexp"
	"testing"
)

// TestAVX2AssemblyRegisters: the generated AVX2 assembly names only the sixteen vector
// registers AVX2 has. avo hands out X16–X31/Y16–Y31 (AVX-512 only) when a kernel runs out
// of registers; the Go assembler refuses some instructions with them but encodes many
// (with EVEX), and those would fault on an AVX2-only CPU.
func TestAVX2AssemblyRegisters(t *testing.T) {
	wide := regexp.MustCompile(`\b[XY](1[6-9]|2[0-9]|3[01])\b`)
	for _, f := range []string{"kernel_amd64.s", "kquant_amd64.s", "kp_amd64.s",
		"vnniq4k_amd64.s",
		"vnniiq4_amd64.s",
		"vnniq6_amd64.s",
	} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := wide.Find(src); m != nil {
			t.Errorf("%s names %s, a register AVX2 does not have", f, m)
		}
	}
}
