//go:build !purego

package kernel

//go:generate go run ./internal/asmgenvec512 -out quantvec512_amd64.s -stubs quantvec512_stubs_amd64.go -pkg kernel

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"unsafe"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// qv512Kernel is the type of the AVX-512 matrix-vector kernels of quantvec512_amd64.s:
// r weight rows against one activation row laid out by qv512Prep.
type qv512Kernel func(w *byte, ws int, xl *byte, nu int, tmask uint64, out *float32)

var (
	qv512Q4 = [qv512Rows + 1]qv512Kernel{nil, qv512Q4_0_1, qv512Q4_0_2, qv512Q4_0_3, qv512Q4_0_4, qv512Q4_0_5, qv512Q4_0_6, qv512Q4_0_7, qv512Q4_0_8,
		qv512Q4_0_9, qv512Q4_0_10, qv512Q4_0_11, qv512Q4_0_12, qv512Q4_0_13, qv512Q4_0_14, qv512Q4_0_15, qv512Q4_0_16}
	qv512Q8 = [qv512Rows + 1]qv512Kernel{nil, qv512Q8_0_1, qv512Q8_0_2, qv512Q8_0_3, qv512Q8_0_4, qv512Q8_0_5, qv512Q8_0_6, qv512Q8_0_7, qv512Q8_0_8,
		qv512Q8_0_9, qv512Q8_0_10, qv512Q8_0_11, qv512Q8_0_12, qv512Q8_0_13, qv512Q8_0_14, qv512Q8_0_15, qv512Q8_0_16}
)

// qv512Rows is the most weight rows one kernel call takes.
const qv512Rows = 16

// The kernels need AVX-512 F, BW and VL, VNNI (VPDPBUSD), VBMI (VPERMB, VPERMI2B,
// VPERMT2B) and GFNI (VGF2P8AFFINEQB, the nibble shift), and the AVX2 set of
// fast_amd64.go (useAsm).
func init() {
	if !useAsm || !qv512CPU() {
		return
	}
	matVecQuantWide = qv512MatVec
}

// qv512CPU reports whether the CPU has what the kernels use.
func qv512CPU() bool {
	x := &cpu.X86
	return x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI && x.HasAVX512VBMI && x.HasAVX512GFNI
}

// qv512Scratch is a per-call activation layout, reused through qv512Pool.
type qv512Scratch struct{ buf []uint32 }

var qv512Pool = sync.Pool{New: func() any { return new(qv512Scratch) }}

// qv512MatVec is matVecQuantWide: the matrix-vector product (one activation row, already
// quantized in s) with Q4_0 or Q8_0 weights. It lays the activations out once per call
// (qv512Prep), then walks the rows qv512Rows at a time split over the pool's threads.
func qv512MatVec(p *Pool, out []float32, s *quantScratch, n, k int, data []byte, rs int, dt tensor.DType) bool {
	if (dt != tensor.Q4_0 && dt != tensor.Q8_0) || n <= 0 || k <= 0 || k%32 != 0 {
		return false
	}
	q4 := dt == tensor.Q4_0
	nb := k / 32
	sc := qv512Pool.Get().(*qv512Scratch)
	defer qv512Pool.Put(sc)
	xl := qv512Prep(sc, q4, s.q[:k], s.d[:nb])
	bpu, bb, kern := 2, 34, &qv512Q8 // blocks per unit, bytes per block
	if q4 {
		bpu, bb, kern = 4, 18, &qv512Q4
	}
	nu := nb / bpu
	var tmask uint64
	if rem := nb % bpu; rem > 0 {
		tmask = 1<<(bb*rem) - 1
	}
	p.runGrain(n, qv512Rows, func(lo, hi int) {
		for j := lo; j < hi; j += qv512Rows {
			r := min(qv512Rows, hi-j)
			kern[r](&data[j*rs], rs, &xl[0], nu, tmask, &out[j])
		}
	})
	return true
}

// sum4 returns the sum of the 4 bytes of w taken as int8.
func sum4(w uint32) int32 {
	u := w&0x00ff00ff + w>>8&0x00ff00ff // two sums of 2 unsigned bytes
	u = u&0xffff + u>>16
	return int32(u) - 256*int32(bits.OnesCount32(w&0x80808080))
}

// qv512Prep lays out one quantized activation row (xq, k values, xd, k/32 scales) for
// the kernels, in units of 4 blocks (Q4_0, 256 bytes) or 2 blocks (Q8_0, 192 bytes), the
// last one padded with zeros:
//
//	Q4_0: x[0..15] of each of the 4 blocks (64 bytes), x[16..31] of each (64 bytes),
//	      16 int32 -8·Σx over the 8 values lane l takes (elements 4(l%4)..+3 and
//	      16+4(l%4)..+3 of block l/4), the 4 float32 dx, 48 bytes of zeros;
//	Q8_0: the 64 values, 16 int32 -128·Σx over elements 4l..4l+3, the 2 float32 dx,
//	      56 bytes of zeros.
func qv512Prep(sc *qv512Scratch, q4 bool, xq []int8, xd []float32) []byte {
	nb := len(xd)
	bpu, uw := 2, 48 // blocks and 4-byte words per unit
	if q4 {
		bpu, uw = 4, 64
	}
	units := (nb + bpu - 1) / bpu
	if cap(sc.buf) < units*uw {
		sc.buf = make([]uint32, units*uw)
	}
	buf := sc.buf[:units*uw]
	clear(buf)
	xl := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), 4*len(buf))
	xb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(xq))), len(xq))
	le := binary.LittleEndian
	for blk := 0; blk < nb; blk++ {
		u, b := blk/bpu, blk%bpu
		w := buf[u*uw : (u+1)*uw : (u+1)*uw]
		dst := xl[4*u*uw : 4*(u+1)*uw : 4*(u+1)*uw]
		x := xb[32*blk : 32*blk+32 : 32*blk+32]
		corr := w[uw-32 : uw-16]
		w[uw-16+b] = math.Float32bits(xd[blk])
		if q4 {
			copy(dst[16*b:16*b+16], x[:16])
			copy(dst[64+16*b:64+16*b+16], x[16:])
			for t := 0; t < 4; t++ {
				sum := sum4(le.Uint32(x[4*t:])) + sum4(le.Uint32(x[16+4*t:]))
				corr[4*b+t] = uint32(-8 * sum)
			}
		} else {
			copy(dst[32*b:32*b+32], x)
			for t := 0; t < 8; t++ {
				corr[8*b+t] = uint32(-128 * sum4(le.Uint32(x[4*t:])))
			}
		}
	}
	return xl
}
