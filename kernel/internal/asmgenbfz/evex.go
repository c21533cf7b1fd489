package main

// EVEX encoding (Intel SDM vol. 2, 2.7) of the register-to-register forms of the 512-bit
// instructions Go's assembler lacks.

// Opcode maps (EVEX.mm) and implied prefixes (EVEX.pp).
const (
	map0F38 = 2
	pp66    = 1
	ppF3    = 2
)

// evexRRR returns the bytes of a 512-bit EVEX instruction dst, src1, src2 (Intel order:
// dst in ModRM.reg, src1 in EVEX.vvvv, src2 in ModRM.rm; registers 0..31), no masking,
// no broadcast.
func evexRRR(mm, pp, w, opcode byte, dst, src1, src2 int) []byte {
	bit := func(v, i int) byte { return byte(v>>i) & 1 }
	inv := func(b byte) byte { return b ^ 1 }
	p0 := inv(bit(dst, 3))<<7 | inv(bit(src2, 4))<<6 | inv(bit(src2, 3))<<5 | inv(bit(dst, 4))<<4 | mm
	p1 := w<<7 | (^byte(src1)&15)<<3 | 1<<2 | pp
	p2 := byte(2)<<5 | inv(bit(src1, 4))<<3 // L'L = 10: 512 bits; z, b, aaa = 0
	modrm := 0xc0 | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0x62, p0, p1, p2, opcode, modrm}
}

// vdpbf16ps returns VDPBF16PS zmm(dst), zmm(src1), zmm(src2) (AVX512_BF16,
// EVEX.512.F3.0F38.W0 52 /r): in each float32 lane i, dst += src1.bf16[2i+1]·src2.bf16[2i+1]
// and then += src1.bf16[2i]·src2.bf16[2i], products exact, sums rounded to nearest even,
// denormal inputs and results flushed to zero.
func vdpbf16ps(dst, src1, src2 int) []byte { return evexRRR(map0F38, ppF3, 0, 0x52, dst, src1, src2) }

// vfmadd231ps returns VFMADD231PS zmm(dst), zmm(src1), zmm(src2) (EVEX.512.66.0F38.W0
// B8 /r), for testing the encoder against a second opcode.
func vfmadd231ps(dst, src1, src2 int) []byte {
	return evexRRR(map0F38, pp66, 0, 0xb8, dst, src1, src2)
}
