package kernel

import (
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"

	"github.com/decilm/decilm/tensor"
)

// Path names the kernel that serves a matrix product: the instruction set it runs on
// ("Go", "AVX2", "AVX-VNNI" (ymm VPDPBUSD, VEX), "AVX-512", "AVX-512 VNNI", "AMX") and the kernel's name.
type Path struct {
	ISA    string
	Kernel string
}

// tile names a tile kernel of r weight rows by c activation rows, e.g. "kp512Q6KTile 16×8
// (packed)", from the constants the kernels run with, so that the name follows them.
func tile(name string, r, c int, note string) string {
	return name + " " + strconv.Itoa(r) + "×" + strconv.Itoa(c) + " " + note
}

// String returns "ISA kernel", e.g. "AVX2 dotQ4I_vec8".
func (p Path) String() string { return p.ISA + " " + p.Kernel }

// PathEntry is one line of Paths: the kernel serving a weight type with one activation row
// (Rows = 1: generation) or several (Rows = 2: batched decoding and prefill).
type PathEntry struct {
	DType tensor.DType
	Rows  int
	Path
}

// matPath is one line of the dispatch table: the kernel that serves the weight types dts
// with one activation row (one) and/or several (many) where on() holds (packed: only for
// weights copied by Pool.Pack). MatMul and the functions it calls try the kernels in this
// order; the first that holds serves.
type matPath struct {
	dts       []tensor.DType
	one, many bool
	packed    bool
	Path
	on func() bool
}

var (
	pathQuant = []tensor.DType{tensor.Q8_0, tensor.Q4_0}
	pathFloat = []tensor.DType{tensor.F32, tensor.BF16, tensor.F16}
	pathTypes = append([]tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K},
		pathBlocks...)
	// pathBlocks are the other block types, whose rows are unpacked inside the kernel
	// (kquant.go); pathFused those with a fused AVX2 kernel.
	pathBlocks = []tensor.DType{tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q2_K, tensor.Q3_K, tensor.Q5_K,
		tensor.IQ4_NL, tensor.IQ4_XS, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S,
		tensor.IQ1_S, tensor.IQ1_M, tensor.TQ1_0, tensor.TQ2_0}
	pathFused = []tensor.DType{tensor.Q2_K, tensor.Q3_K, tensor.Q5_K, tensor.IQ4_XS, tensor.IQ2_XS,
		tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_S, tensor.IQ4_NL, tensor.Q5_0, tensor.Q4_1, tensor.Q5_1,
		tensor.IQ1_S, tensor.IQ1_M, tensor.TQ2_0, tensor.TQ1_0, tensor.Q8_K}
	// pathIQGrid are the grid i-quants of iqgrid.go's VNNI order.
	pathIQGrid = []tensor.DType{tensor.IQ3_XXS, tensor.IQ2_XXS, tensor.IQ3_S, tensor.IQ2_S}
	always     = func() bool { return true }
)

// matPaths is the dispatch table of MatMul, in the order MatMul tries the kernels.
var matPaths = []matPath{
	{pathQuant, true, true, true, Path{"AMX", "packed TDPBSSD tiles"}, func() bool { return packedMatMuls != nil }},
	{[]tensor.DType{tensor.Q4_0}, true, false, true, Path{"AVX2", "dotQ4P_vec16 (packed)"}, q4PackedOn},
	{[]tensor.DType{tensor.Q4_0}, false, true, true, Path{"AVX2", "dotQ4I 8×2 (packed)"}, q4PackedOn},
	{[]tensor.DType{tensor.Q8_0}, true, false, true, Path{"AVX2", "dotQ8G_vec16 (packed)"}, q8PackedOn},
	{[]tensor.DType{tensor.Q8_0}, false, true, true, Path{"AVX2", "dotQ8G 8×4 (packed)"}, q8PackedOn},
	{[]tensor.DType{tensor.BF16}, true, false, true, Path{"AVX-512", "dotBF16Z_64x1 (pair panels)"}, bf16zOn},
	{[]tensor.DType{tensor.BF16}, false, true, true, Path{"AVX-512", "dotBF16Z 32×12 (pair panels)"}, bf16zOn},
	{[]tensor.DType{tensor.BF16}, true, false, true, Path{"AVX2", "dotBF16P_vec (panels)"}, bf16PanelsOn},
	{[]tensor.DType{tensor.BF16}, false, true, true, Path{"AVX2", "dotBF16P 16×6 (panels)"}, bf16PanelsOn},
	{[]tensor.DType{tensor.BF16}, true, true, false, Path{"AMX", "TDPBF16PS tiles"}, func() bool { return matMulBF16AMX != nil }},
	{pathTypes, true, true, false, Path{"Go", "plain Go"}, func() bool { return !useAsm }},
	{pathQuant, true, false, false, Path{"AVX-512 VNNI", "qv512MatVec"}, func() bool { return matVecQuantWide != nil }},
	{pathQuant, true, true, false, Path{"AMX", "TDPBSSD tiles"}, func() bool { return matMulQuantAMX != nil }},
	{pathQuant, true, true, false, Path{"AVX-512 VNNI", "q512mm tiles"}, func() bool { return matMulQuantWide != nil }},
	{pathFloat, true, true, false, Path{"AVX-512", "f512 tiles"}, func() bool { return matMulFloatWide != nil }},
	{[]tensor.DType{tensor.Q4_0}, true, false, false, Path{"AVX2", "dotQ4I_vec8"}, always},
	{[]tensor.DType{tensor.Q4_0}, false, true, false, Path{"AVX2", "dotQ4I 8×2"}, always},
	{[]tensor.DType{tensor.Q8_0}, true, false, false, Path{"AVX2", "dotQ8_0 4×1"}, always},
	{[]tensor.DType{tensor.Q8_0}, false, true, false, Path{"AVX2", "dotQ8P 3×3"}, always},
	{[]tensor.DType{tensor.Q4_K}, true, false, true, Path{"AVX2", "dotQ4KP_vec8 (packed)"}, q4KPackedOn},
	{[]tensor.DType{tensor.Q4_K}, false, true, true, Path{"AVX-512 VNNI", tile("kp512Q4KTile", 16, kp512Q4KC, "(packed)")}, func() bool { return kp512On(false) }},
	{[]tensor.DType{tensor.Q4_K}, false, true, true, Path{"AVX-VNNI", tile("vnniQ4KTile", 16, vnniQ4KC, "(packed)")}, vnniQ4KOn},
	{[]tensor.DType{tensor.Q4_K}, false, true, true, Path{"AVX2", "dotQ4KP 8×2 (packed)"}, q4KPackedOn},
	{[]tensor.DType{tensor.Q4_K}, true, false, false, Path{"AVX2", "dotQ4KAVX"}, always},
	{[]tensor.DType{tensor.Q4_K}, false, true, false, Path{"AVX2", "dotQ4K 1×4"}, always},
	{[]tensor.DType{tensor.Q6_K}, true, false, true, Path{"AVX2", "dotQ6KP_vec8 (packed)"}, q6KPackedOn},
	{[]tensor.DType{tensor.Q6_K}, false, true, true, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(packed)")}, func() bool { return kp512On(true) }},
	{[]tensor.DType{tensor.Q6_K}, false, true, true, Path{"AVX-VNNI", tile("vnniQ6KTile", 16, vnniQ6KC, "(packed)")}, vnniQ6KOn},
	{[]tensor.DType{tensor.Q6_K}, false, true, true, Path{"AVX2", "dotQ6KPS 8×4 (packed)"}, q6KPackedOn},
	{[]tensor.DType{tensor.Q6_K}, true, false, false, Path{"AVX2", "dotQ6KAVX"}, always},
	{[]tensor.DType{tensor.Q6_K}, false, true, false, Path{"AVX2", "dotQ6K 1×4"}, always},
	{[]tensor.DType{tensor.Q3_K}, true, false, true, Path{"AVX2", "dotQ3KP_vec8 (packed)"}, q3KPackedOn},
	{[]tensor.DType{tensor.Q3_K}, false, true, true, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(packed)")}, kp512Q3KOn},
	{[]tensor.DType{tensor.Q3_K}, false, true, true, Path{"AVX-VNNI", tile("vnniQ6KTile", 16, vnniQ6KC, "(packed)")}, vnniQ3KOn},
	{[]tensor.DType{tensor.Q3_K}, false, true, true, Path{"AVX2", "dotQ6KPS 8×4 (packed)"}, q3KPackedOn},
	{[]tensor.DType{tensor.Q5_K}, false, true, true, Path{"AVX-512 VNNI", tile("kp512Q4KTile", 16, kp512Q4KC, "(packed)")}, kp512Q5KOn},
	{[]tensor.DType{tensor.Q5_K}, true, false, true, Path{"AVX2", "dotQ5KP_vec8 (packed)"}, q5KPackedOn},
	{[]tensor.DType{tensor.Q5_K}, false, true, true, Path{"AVX-VNNI", tile("vnniQ4KTile", 16, vnniQ4KC, "(packed)")}, vnniQ5KOn},
	{[]tensor.DType{tensor.Q5_K}, false, true, true, Path{"AVX2", "dotQ5KP 8×2 (packed)"}, q5KPackedOn},
	{[]tensor.DType{tensor.IQ4_XS}, true, false, true, Path{"AVX-512 VNNI", "kp512IQ4XSVec8 (packed)"}, kp512IQ4XSVecOn},
	{[]tensor.DType{tensor.IQ4_XS}, true, false, true, Path{"AVX-VNNI", "vnniIQ4XSVec8 (packed)"}, vnniIQ4XSVecOn},
	{[]tensor.DType{tensor.IQ4_XS}, true, false, true, Path{"AVX2", "dotIQ4XSP_vec8 (packed)"}, iq4XSPackedOn},
	{[]tensor.DType{tensor.IQ4_XS}, false, true, true, Path{"AVX-512 VNNI", tile("kp512IQ4XSTile", 16, kp512IQ4XSC, "(packed)")}, kp512IQ4XSOn},
	{[]tensor.DType{tensor.IQ4_XS}, false, true, true, Path{"AVX-VNNI", tile("vnniIQ4XSTile", 16, vnniIQ4XSC, "(packed)")}, vnniIQ4XSOn},
	{[]tensor.DType{tensor.IQ4_XS}, false, true, true, Path{"AVX2", "dotIQ4XSP 8×2 (packed)"}, iq4XSPackedOn},
	{[]tensor.DType{tensor.IQ2_XS}, true, false, false, Path{"AVX-512", "dotIQ2XS32x2AVX512 (iq2xs, VNNI order)"}, iq2XSVNNIOn},
	{[]tensor.DType{tensor.IQ2_XS}, false, true, false, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(iq2xs, pieces decoded by iq2XSUnpackVBMI)")}, func() bool { return iq2XSVNNIOn() && iq2XSUnpackVBMIVec != nil }},
	{[]tensor.DType{tensor.IQ2_XS}, false, true, false, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(iq2xs, decoded pieces)")}, iq2XSVNNIOn},
	{[]tensor.DType{tensor.IQ2_XS}, true, false, false, Path{"AVX2", "dotIQ2XSP_vec8 (iq2xs, VNNI order)"}, iq2XSAVX2On},
	{[]tensor.DType{tensor.IQ2_XS}, false, true, false, Path{"AVX-VNNI", tile("vnniQ6KTile", 16, vnniQ6KC, "(iq2xs, pieces decoded by iq2XSUnpackAVX2, VNNI order)")}, vnniIQ2XSOn},
	{[]tensor.DType{tensor.IQ2_XS}, false, true, false, Path{"AVX2", tile("dotIQ2XSP", 8, iq2XSPC, "(iq2xs, pieces decoded by iq2XSUnpackAVX2, VNNI order)")}, iq2XSAVX2On},
	{pathIQGrid, true, false, false, Path{"AVX-512", "dot<type>32x2AVX512 (iqgrid, VNNI order)"}, func() bool { return iqGridOn(tensor.IQ3_XXS) }},
	{pathIQGrid, false, true, false, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(iqgrid, decoded pieces)")}, func() bool { return iqGridOn(tensor.IQ3_XXS) }},
	{pathIQ1, true, false, false, Path{"AVX-512 VNNI", "dot<type>32x2AVX512 (iq1, VNNI order)"}, func() bool { return iq1On(tensor.IQ1_S) }},
	{pathIQ1, false, true, false, Path{"AVX-512 VNNI", tile("kp512Q6KTile", 16, kp512Q6KC, "(iq1, decoded pieces)")}, func() bool { return iq1On(tensor.IQ1_S) }},
	{[]tensor.DType{tensor.IQ2_XS}, true, false, false, Path{"AVX-512", "dotIQ2XSAVX512 (kquant)"}, func() bool { return iq2XS512On }},
	{[]tensor.DType{tensor.Q2_K}, true, false, false, Path{"AVX-512 VNNI", "q2KDot8AVX512 (q2k, 8 rows a call)"}, func() bool { return q2KVNNIOn() && q2KDot8Vec != nil }},
	{[]tensor.DType{tensor.Q2_K}, false, true, false, Path{"AVX-512 VNNI", tile("q2KTile512x", 16, q2KC, "(q2k, pieces decoded by q2KUnpack512)")}, q2KVNNIOn},
	{[]tensor.DType{tensor.TQ2_0}, true, false, false, Path{"AVX-512 VNNI", "tq20Dot8AVX512 (tq20, 8 rows a call)"}, tq20.on},
	{[]tensor.DType{tensor.TQ2_0}, false, true, false, Path{"AVX-512 VNNI", tile("q2KTile512x", 16, q2KC, "(tq20, pieces decoded by tq20Unpack512)")}, tq20.on},
	{[]tensor.DType{tensor.Q8_K}, true, false, false, Path{"AVX-512 VNNI", "q8KDot8AVX512 (q8k, 8 rows a call)"}, q8K.on},
	{[]tensor.DType{tensor.Q8_K}, false, true, false, Path{"AVX-512 VNNI", tile("q2KTile512x", 16, q2KC, "(q8k, pieces decoded by q8KUnpack512)")}, q8K.on},
	{[]tensor.DType{tensor.TQ1_0}, true, false, false, Path{"AVX-512 VNNI", "tq10Dot8AVX512 (tq10, 8 rows a call)"}, tq10.on},
	{[]tensor.DType{tensor.TQ1_0}, false, true, false, Path{"AVX-512 VNNI", tile("q2KTile512x", 16, q2KC, "(tq10, pieces decoded by tq10Unpack512)")}, tq10.on},
	{[]tensor.DType{tensor.Q2_K}, true, false, false, Path{"AVX-512", "dotQ2KAVX512 (kquant)"}, func() bool { return q2K512On }},
	{pathB32, true, false, false, Path{"AVX-512 VNNI", tile("b32 tiles", 16, 1, "(blocks read in place)")}, func() bool { return b32Tiles[0] != nil }},
	{pathB32, false, true, false, Path{"AVX-512 VNNI", tile("b32 tiles", 16, b32C, "(blocks read in place)")}, func() bool { return b32Tiles[0] != nil }},
	{pathFused, true, false, false, Path{"AVX2", "fused block dot (kquant)"}, always},
	{pathFused, false, true, false, Path{"AVX2", "fused block tiles 1×4 (kquant)"}, always},
	{pathBlocks, true, true, false, Path{"Go", "rows unpacked to int8 (kquant)"}, always},
	{pathFloat, true, false, false, Path{"AVX2", "float 4×1"}, always},
	{pathFloat, false, true, false, Path{"AVX2", "float 3×4"}, always},
}

// MatMulPath returns the kernel MatMul uses on this CPU for weights of type dt (packed:
// copied by Pool.Pack) and m activation rows.
func MatMulPath(dt tensor.DType, packed bool, m int) Path {
	for _, p := range matPaths {
		if (m == 1 && !p.one) || (m != 1 && !p.many) || (p.packed && !packed) || !hasType(p.dts, dt) || !p.on() {
			continue
		}
		return p.Path
	}
	return Path{"Go", "plain Go"}
}

func hasType(dts []tensor.DType, dt tensor.DType) bool {
	for _, d := range dts {
		if d == dt {
			return true
		}
	}
	return false
}

// Paths lists the kernels MatMul uses on this CPU for each weight type, with one
// activation row and with several, for weights as a loaded model holds them: laid out by
// Pool.Pack where Pack lays out that type on this CPU (see packs).
func Paths() []PathEntry {
	var out []PathEntry
	for _, dt := range pathTypes {
		for _, rows := range []int{1, 2} {
			out = append(out, PathEntry{dt, rows, MatMulPath(dt, packs(dt), rows)})
		}
	}
	return out
}

// packs reports whether Pool.Pack lays out matrices of type dt in groups for this CPU's
// kernels (the rule packable applies, for row lengths that are a multiple of 32).
func packs(dt tensor.DType) bool {
	switch dt {
	case tensor.Q8_0:
		return packedMatMuls != nil || q8PackedOn()
	case tensor.Q4_0:
		return packedMatMuls != nil || q4PackedOn()
	case tensor.BF16:
		return bf16PanelsOn()
	case tensor.Q4_K:
		return q4KPackedOn()
	case tensor.Q6_K:
		return q6KPackedOn()
	case tensor.Q5_K:
		return q5KPackedOn()
	case tensor.Q3_K:
		return q3KPackedOn()
	case tensor.IQ4_XS:
		return iq4XSPackedOn()
	}
	return false
}

// Features returns the instruction-set extensions of this CPU that the kernels look for,
// separated by spaces ("AVX2 FMA F16C" on a Zen 3), or "" where there are none.
func Features() string {
	x := &cpu.X86
	var fs []string
	for _, f := range []struct {
		name string
		has  bool
	}{
		{"AVX2", x.HasAVX2}, {"FMA", x.HasFMA}, {"F16C", x.HasF16C}, {"AVX_VNNI", x.HasAVXVNNI},
		{"AVX512F", x.HasAVX512F}, {"AVX512BW", x.HasAVX512BW}, {"AVX512VL", x.HasAVX512VL},
		{"AVX512_VNNI", x.HasAVX512VNNI}, {"AVX512_VBMI", x.HasAVX512VBMI}, {"GFNI", x.HasAVX512GFNI},
		{"AVX512_BF16", x.HasAVX512BF16}, {"AMX_TILE", x.HasAMXTile}, {"AMX_INT8", x.HasAMXInt8}, {"AMX_BF16", x.HasAMXBF16},
	} {
		if f.has {
			fs = append(fs, f.name)
		}
	}
	return strings.Join(fs, " ")
}
