package main

import (
	"fmt"

	"github.com/decilm/decilm/kernel/internal/avoext"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

const (
	// vk4Block is the size of one block of 32 of a group unpacked by q4KPUnpackAVX or
	// q5KPUnpackAVX (kernel's q4KPBlock): 256 bytes of values, d·sc and dmin·m (float32).
	vk4Block = 320
	// vk4XRow is the bytes of one activation row's block in kp512PrepX's Q4_K layout
	// (kernel's kp512Q4KRow): 32 int8, dx, dx·Σx.
	vk4XRow = 40
	// vk4MaxC is the most activation rows a tile takes: 4C+4 of the 16 ymm registers.
	vk4MaxC = 3
)

// genQ4K generates the AVX-VNNI kernels for packed Q4_K and Q5_K weights: the tiles
// vnniQ4KTile1..vnniQ4KTile3.
func genQ4K() {
	for c := 1; c <= vk4MaxC; c++ {
		vk4Tile(c)
	}
}

// vk4Y returns ymm register i (Y0–Y15 only).
func vk4Y(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// vk4Tile: func(a, b *byte, x *byte, nb int, out *float32, os int) adds the products of 16
// packed Q4_K (or Q5_K) weight rows, 8 unpacked at a and 8 at b (q4KPBlock format), and C
// activation rows laid out by kp512PrepX (x) over nb blocks of 32 to out[c*os/4 + r] (os
// in bytes): the kp512Q4KTile arithmetic (kernel's kp512Q4KTileGo) on two ymm per
// activation row instead of one zmm. Per block and activation row, the 8 rows of a and the
// 8 of b each take 8 VPDPBUSD from zero (exact int32), then
//
//	acc = float32(Σ q·x)·(d·sc·dx) + acc, then acc = -(dmin·m)·(dx·Σx) + acc.
//
// Registers: 2C int32 sums, 2C float accumulators, the two weight vectors and two for the
// broadcast activations (4C+4 ≤ 16).
func vk4Tile(C int) {
	name := fmt.Sprintf("vnniQ4KTile%d", C)
	TEXT(name, NOSPLIT, "func(a, b *byte, x *byte, nb int, out *float32, os int)")
	Doc(fmt.Sprintf("%s adds the products of 16 Q4_K rows unpacked by q4KPUnpackAVX (8 at a, 8 at b) and %d activation rows laid out by kp512PrepX over nb blocks of 32 to out[c*os/4+r], with the arithmetic of dotQ4KP_vec8 (AVX-VNNI).", name, C))
	a, b, x, nb, out, os := RSI, RDI, RBX, RCX, RDX, RAX
	Load(Param("a"), a)
	Load(Param("b"), b)
	Load(Param("x"), x)
	Load(Param("nb"), nb)
	Load(Param("out"), out)
	Load(Param("os"), os)
	sumA := func(c int) VecPhysical { return vk4Y(c) }
	sumB := func(c int) VecPhysical { return vk4Y(C + c) }
	facA := func(c int) VecPhysical { return vk4Y(2*C + c) }
	facB := func(c int) VecPhysical { return vk4Y(3*C + c) }
	wa, wb := vk4Y(4*C), vk4Y(4*C+1)
	bx := func(c int) VecPhysical { return vk4Y(4*C + 2 + c%2) }
	moveAcc := func(store bool) {
		p := R8
		MOVQ(out, p)
		for c := 0; c < C; c++ {
			if store {
				VMOVUPS(facA(c), Mem{Base: p})
				VMOVUPS(facB(c), Mem{Base: p, Disp: 32})
			} else {
				VMOVUPS(Mem{Base: p}, facA(c))
				VMOVUPS(Mem{Base: p, Disp: 32}, facB(c))
			}
			if c+1 < C {
				ADDQ(os, p)
			}
		}
	}
	moveAcc(false)
	lp := name + "_loop"
	TESTQ(nb, nb)
	JZ(LabelRef(lp + "_end"))
	Label(lp)
	for c := 0; c < C; c++ {
		VPXOR(sumA(c), sumA(c), sumA(c))
		VPXOR(sumB(c), sumB(c), sumB(c))
	}
	for t := 0; t < 8; t++ {
		VMOVDQU(Mem{Base: a, Disp: 32 * t}, wa)
		VMOVDQU(Mem{Base: b, Disp: 32 * t}, wb)
		for c := 0; c < C; c++ {
			VPBROADCASTD(Mem{Base: x, Disp: vk4XRow*c + 4*t}, bx(c))
			avoext.VPDPBUSDVEX(bx(c), wa, sumA(c))
			avoext.VPDPBUSDVEX(bx(c), wb, sumB(c))
		}
	}
	for c := 0; c < C; c++ {
		VCVTDQ2PS(sumA(c), sumA(c))
		VCVTDQ2PS(sumB(c), sumB(c))
		VBROADCASTSS(Mem{Base: x, Disp: vk4XRow*c + 32}, bx(0)) // dx
		VMULPS(Mem{Base: a, Disp: 256}, bx(0), wa)              // d·sc·dx
		VMULPS(Mem{Base: b, Disp: 256}, bx(0), wb)
		VFMADD231PS(wa, sumA(c), facA(c))
		VFMADD231PS(wb, sumB(c), facB(c))
		VBROADCASTSS(Mem{Base: x, Disp: vk4XRow*c + 36}, bx(1)) // dx·Σx
		VFNMADD231PS(Mem{Base: a, Disp: 288}, bx(1), facA(c))   // -(dmin·m)·(dx·Σx)
		VFNMADD231PS(Mem{Base: b, Disp: 288}, bx(1), facB(c))
	}
	ADDQ(U32(vk4Block), a)
	ADDQ(U32(vk4Block), b)
	ADDQ(U32(vk4XRow*C), x)
	DECQ(nb)
	JNZ(LabelRef(lp))
	Label(lp + "_end")
	moveAcc(true)
	VZEROUPPER()
	RET()
}
