package avoext

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEncodeVPDPBUSDVEX checks the encoder against LLVM's assembler: each want is what
// `llvm-mc -show-encoding --mattr=+avxvnni` printed for "{vex} vpdpbusd ymmACC, ymmU, ymmS".
func TestEncodeVPDPBUSDVEX(t *testing.T) {
	for _, c := range []struct {
		s, u, acc int
		want      []byte
	}{
		{2, 1, 0, []byte{0xc4, 0xe2, 0x75, 0x50, 0xc2}},
		{12, 3, 9, []byte{0xc4, 0x42, 0x65, 0x50, 0xcc}},
		{15, 15, 15, []byte{0xc4, 0x42, 0x05, 0x50, 0xff}},
		{7, 10, 4, []byte{0xc4, 0xe2, 0x2d, 0x50, 0xe7}},
	} {
		got, err := EncodeVPDPBUSDVEX(c.s, c.u, c.acc)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("VPDPBUSD Y%d, Y%d, Y%d = % x, %v; want % x", c.s, c.u, c.acc, got, err, c.want)
		}
	}
	if _, err := EncodeVPDPBUSDVEX(16, 0, 0); err == nil {
		t.Error("Y16 encoded; VEX has no such register")
	}
}

func TestRewriteVEX(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.s")
	src := "TEXT ·f(SB), $0\n\tVPADDD Y1, Y2, Y3\n\tVPDPBUSD_VEX Y2, Y1, Y0\n\tRET\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RewriteVEX(path); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "TEXT ·f(SB), $0\n\tVPADDD Y1, Y2, Y3\n\t// VPDPBUSD Y2, Y1, Y0 (VEX, AVX-VNNI)\n" +
		"\tBYTE $0xc4\n\tBYTE $0xe2\n\tBYTE $0x75\n\tBYTE $0x50\n\tBYTE $0xc2\n\tRET\n"
	if string(got) != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	for _, bad := range []string{"\tVPDPBUSD_VEX Y17, Y1, Y0\n", "\tVPDPBUSD_VEX (AX), Y1, Y0\n", "\tVPDPBUSD_VEX Y1, Y0\n"} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := RewriteVEX(path); err == nil || !strings.Contains(err.Error(), "a.s:1") {
			t.Errorf("%q: err = %v, want one naming a.s:1", bad, err)
		}
	}
}
