package avoext

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	"github.com/mmcloughlin/avo/operand"
)

// vexDPBUSD is the opcode VPDPBUSDVEX emits: not one Go's assembler knows, so that a
// generator that forgets to call RewriteVEX fails to assemble instead of encoding the
// instruction for AVX-512.
const vexDPBUSD = "VPDPBUSD_VEX"

// VPDPBUSDVEX emits VPDPBUSD s, u, acc on ymm registers in its VEX encoding (AVX-VNNI:
// Intel Alder Lake and later, AMD Zen 5): acc += Σ4 u8(u)·s8(s) in each int32 lane.
// Go's assembler (1.26) knows only the EVEX encoding (AVX512_VNNI + AVX512VL), which an
// AVX-VNNI CPU without AVX-512 cannot run, so the instruction is printed under a name of its
// own and RewriteVEX, run on the generated file, replaces it by its bytes. All three
// operands are registers (VEX has no broadcast; load or VPBROADCASTD the bytes first) and
// must be allocated among Y0–Y15, which RewriteVEX checks.
func VPDPBUSDVEX(s, u, acc operand.Op) {
	build.Instruction(&ir.Instruction{
		Opcode:   vexDPBUSD,
		Operands: []operand.Op{s, u, acc},
		Inputs:   []operand.Op{s, u, acc},
		Outputs:  []operand.Op{acc},
		ISA:      []string{"AVX_VNNI"},
	})
}

var vexLine = regexp.MustCompile(`^(\s*)` + vexDPBUSD + `\s+(.*?)\s*$`)
var yReg = regexp.MustCompile(`^Y([0-9]+)$`)

// EncodeVPDPBUSDVEX returns the VEX encoding (C4 form, 256 bits, 66 0F38 W0 50 /r) of
// VPDPBUSD s, u, acc in Go's operand order (Intel's: VPDPBUSD ymm_acc, ymm_u, ymm_s) for
// registers Y0–Y15 given by number.
func EncodeVPDPBUSDVEX(s, u, acc int) ([]byte, error) {
	for _, r := range []int{s, u, acc} {
		if r < 0 || r > 15 {
			return nil, fmt.Errorf("avoext: Y%d has no VEX encoding (Y0–Y15 only)", r)
		}
	}
	inv := func(b int) byte { return byte(1 - b) }
	b1 := inv(acc>>3)<<7 | 1<<6 | inv(s>>3)<<5 | 0x02 // R̄ X̄ B̄, map 0F38
	b2 := byte(^u&15)<<3 | 1<<2 | 0x01                // W0, v̄v̄v̄v̄ = u, L = 256, pp = 66
	modrm := 0xc0 | byte(acc&7)<<3 | byte(s&7)
	return []byte{0xc4, b1, b2, 0x50, modrm}, nil
}

// RewriteVEX replaces, in the generated assembly file path, each instruction that
// VPDPBUSDVEX emitted by its bytes (BYTE directives under a comment naming it), and fails
// where an operand is not one of Y0–Y15.
func RewriteVEX(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for n, line := range bytes.SplitAfter(src, []byte("\n")) {
		m := vexLine.FindSubmatch(bytes.TrimRight(line, "\n"))
		if m == nil {
			out.Write(line)
			continue
		}
		ops := bytes.Split(m[2], []byte(","))
		if len(ops) != 3 {
			return fmt.Errorf("%s:%d: %s wants 3 operands: %q", path, n+1, vexDPBUSD, m[2])
		}
		var r [3]int
		for i, op := range ops {
			y := yReg.FindSubmatch(bytes.TrimSpace(op))
			if y == nil {
				return fmt.Errorf("%s:%d: %s operand %q is not a ymm register", path, n+1, vexDPBUSD, op)
			}
			r[i], _ = strconv.Atoi(string(y[1]))
		}
		enc, err := EncodeVPDPBUSDVEX(r[0], r[1], r[2])
		if err != nil {
			return fmt.Errorf("%s:%d: %v", path, n+1, err)
		}
		ind := string(m[1])
		fmt.Fprintf(&out, "%s// VPDPBUSD Y%d, Y%d, Y%d (VEX, AVX-VNNI)\n", ind, r[0], r[1], r[2])
		for _, b := range enc {
			fmt.Fprintf(&out, "%sBYTE $0x%02x\n", ind, b)
		}
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// GenerateVEX is build.Generate for a generator that emits VPDPBUSDVEX: it writes the
// assembly (-out, which must name a file) and stubs, then runs RewriteVEX on the assembly.
func GenerateVEX() {
	build.Generate()
	f := flag.Lookup("out")
	if f == nil || f.Value.String() == "" || f.Value.String() == "-" {
		fmt.Fprintln(os.Stderr, "avoext: GenerateVEX needs -out FILE")
		os.Exit(1)
	}
	if err := RewriteVEX(f.Value.String()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
