// Command asmgenvnni generates the AVX-VNNI kernels of package kernel: ymm kernels that
// multiply by VPDPBUSD in its VEX encoding, for CPUs with AVX2 and AVX-VNNI but no
// AVX-512 VNNI (Intel Alder Lake and later client cores; AMD Zen 5 with AVX-512 off), with
// avo (github.com/mmcloughlin/avo) and avoext.VPDPBUSDVEX. Each flag generates one file;
// run it through go generate in the kernel directory:
//
//	go generate ./kernel/
//
// The kernels take the VNNI order of the AVX-512 VNNI ones (per block of 32 an exact int32
// sum, then the block's float steps), so that a row's results are the same bits on AVX2,
// AVX-VNNI and AVX-512 VNNI CPUs wherever the AVX2 kernels already keep that order.
// Vector registers Y0–Y15 only (TestAVX2AssemblyRegisters).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
)

var (
	iq4xs = flag.Bool("iq4xs", false, "generate the packed IQ4_XS kernels (iq4xs.go)")
	q6k   = flag.Bool("q6k", false, "generate the kernels of Q6_K's block format (q6k.go)")
	q4k   = flag.Bool("q4k", false, "generate the packed Q4_K and Q5_K kernels (q4k.go)")
)

func main() {
	flag.Parse()
	ConstraintExpr("!purego")
	switch {
	case *iq4xs:
		genIQ4XS()
	case *q6k:
		genQ6K()
	case *q4k:
		genQ4K()
	default:
		fmt.Fprintln(os.Stderr, "asmgenvnni: name one of -iq4xs, -q6k, -q4k")
		os.Exit(2)
	}
	avoext.GenerateVEX()
}
