package kernel

import "encoding/binary"

// Packed Q6_K weights for the AVX2 kernels, as packed Q4_K ones (q4kp.go). GGUF stores a
// Q6_K row as super-blocks of 256 values (210 bytes: 128 of low nibbles ql, 64 of high
// bit pairs qh, 16 int8 scales, one per 16 values, and float16 d). Where the AVX2 kernels
// serve Q6_K (q6KPackedOn), Pack lays the rows out again in groups of 8, at the same size
// (packQ6KGroup), so that each int32 lane of a vector is one weight row.
//
// Every packed kernel (dotQ6KP_vec8 for one activation row, q6KPUnpackAVX and the dotQ6KPS
// tiles for several, which Q3_K's rows unpacked into the same blocks take too; the dotQ6KP
// tiles before them) computes each output as (per row, block after block, b the block of
// 32, u the 6-bit values, sc the scale of each value's 16)
//
//	acc = float32(Σ sc·(u-32)·x)·(d·dx_b) + acc      (the sum exact, d·dx_b rounded, fused)
//
// so a row's results do not depend on the number of activation rows. They differ in the
// last bits from those of the kernels for Q6_K as stored (dotQ6KAVX and the 1×4 tiles,
// which scale each 16 in float), which serve weights Pack did not lay out.
//
// Measured (BenchmarkMatMulKPacked, one thread, GODEBUG=cpu.avx512f=off on a Zen 5 shared
// by several processes, medians of five: noisy), GFLOP/s as stored → packed: 5632×2048
// m=1 16.1 → 26.5, m=16 22.0 → 35.1, m=128 12.3 → 59.9; 2048×5632 m=1 13.2 → 22.4,
// m=16 22.1 → 33.2, m=128 20.9 → 41.5.

// q6KPSB is the size in bytes of one super-block of a packed group of 8 Q6_K rows.
const q6KPSB = 8 * 210

// q6KPBlock is the size in bytes of one block of 32 of a group unpacked by q6KPUnpack:
// 256 bytes of values, the two scales as int16 (each twice in a lane, then both in one),
// and d as 8 float32.
const q6KPBlock = 384

// The packed Q6_K kernels, set at start-up where the CPU has AVX2 (q4kp_amd64.go).
var (
	q6KPVec    func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)
	q6KPUnpack func(dst, w *byte, nsb int)
)

// q6KPTileFn adds the 8×C dot products of 8 Q6_K rows unpacked by q6KPUnpack (nb blocks
// of 32) and C rows quantized by QuantizeQ8 (xq, xd; xc: per block the sums of values
// 0..15 and 16..31 as two int16, with the stride of xd; strides in bytes) to
// out[c*os/4+r], block after block.
type q6KPTileFn func(w *byte, xq *int8, xqs int, xd *float32, xds int, xc *int32, nb int, out *float32, os int)

// q6KPackedOn reports whether Pack lays out Q6_K weights for the packed AVX2 kernels.
func q6KPackedOn() bool { return q6KPVec != nil && kPackedOn() }

// q6KPackable reports whether Pack lays out a Q6_K matrix with rows of k values.
func q6KPackable(k int) bool { return k%256 == 0 && q6KPackedOn() }

// q6KPBytes returns the packed size of an n×k Q6_K matrix (k a multiple of 256): groups
// of 8 rows, the last padded with zero rows.
func q6KPBytes(n, k int) int { return (n + 7) / 8 * (k / 256) * q6KPSB }

// packQ6KGroup lays out rows j..j+rows-1 (rows ≤ 8) of a Q6_K matrix with rows of nsb
// super-blocks (rs bytes each) into dst (nsb·q6KPSB bytes, zero past the rows), super-block
// after super-block:
//
//   - 0: the rows' d (float16, row r at 2r);
//   - 16: the scales, scale s (s < 16) of row r at 16+16(s/2)+2r+s%2 (the two scales of
//     block s/2 side by side);
//   - 144: ql, byte i (i < 128) of row r at 144+32(i/4)+4r+i%4;
//   - 1168: qh, byte i (i < 64) of row r at 1168+32(i/4)+4r+i%4.
func packQ6KGroup(dst, data []byte, rs, j, rows, nsb int) {
	le := binary.LittleEndian
	for s := 0; s < nsb; s++ {
		o := dst[s*q6KPSB : (s+1)*q6KPSB]
		for r := 0; r < 8; r++ {
			var blk *[210]byte
			if r < rows {
				blk = (*[210]byte)(data[(j+r)*rs+210*s:])
			} else {
				blk = new([210]byte) // a padding row: zeros
			}
			le.PutUint16(o[2*r:], le.Uint16(blk[208:]))
			for b := 0; b < 8; b++ { // the two scales of block b
				le.PutUint16(o[16+16*b+2*r:], le.Uint16(blk[192+2*b:]))
			}
			for i := 0; i < 32; i++ { // ql, 4 bytes at a time
				le.PutUint32(o[144+32*i+4*r:], le.Uint32(blk[4*i:]))
			}
			for i := 0; i < 16; i++ { // qh
				le.PutUint32(o[1168+32*i+4*r:], le.Uint32(blk[128+4*i:]))
			}
		}
	}
}

// q6KSums fills s.c with, for each block of 32 of the rows quantized in s (nb blocks in
// all), the sums of its values 0..15 and 16..31 as two int16 (the low and high halves)
// and returns it.
func q6KSums(s *quantScratch, nb int) []int32 {
	if cap(s.c) < nb {
		s.c = make([]int32, nb)
	}
	xc := s.c[:nb]
	for b := range xc {
		var lo, hi int32
		for l, q := range s.q[32*b : 32*b+32] {
			if l < 16 {
				lo += int32(q)
			} else {
				hi += int32(q)
			}
		}
		xc[b] = int32(uint32(uint16(lo)) | uint32(uint16(hi))<<16)
	}
	return xc
}

// matMulQ6KPacked is MatMul for Q6_K weights laid out by Pack (w: groups of 8 rows,
// packQ6KGroup) on the AVX2 kernels (kPackedRows: dotQ6KP_vec8 for one activation row,
// q6KPUnpackAVX and the dotQ6KPS tiles for several; the AVX-512 VNNI tiles of kp512.go
// for several where kp512On, the AVX-VNNI ones of vnniq6.go where vnniQ6KOn).
func (p *Pool) matMulQ6KPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb, nsb := k/32, k/256
	if m > 1 && kp512On(true) {
		p.matMulQ6KTiles(out, s, m, n, k, w, q6KPSB, kp512Q6KUnpack, kp512Q6KTiles, kp512Q6KC)
		return
	}
	if m > 1 && vnniQ6KOn() {
		p.matMulQ6KTiles(out, s, m, n, k, w, q6KPSB, q6KPUnpack, vnniQ6KTiles, vnniQ6KC)
		return
	}
	xq, xd := s.q, s.d
	if m == 1 {
		xc := q6KSums(s, nb)
		p.kPackedRows(out, m, n, k, w, q6KPSB, q6KPSTileC,
			func(grp *byte, o *float32) { q6KPVec(grp, &xq[0], &xd[0], &xc[0], nsb, o) }, nil, nil)
		return
	}
	xc := q6KHalfSums(s, m*nb)
	p.kPackedRows(out, m, n, k, w, q6KPSB, q6KPSTileC, nil,
		q6KPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			q6KPSTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, &xc[2*(i*nb+s0*8)], 8*sc, o, os)
		})
}

// The dotQ6KPS tiles (internal/asmgenkp/q6kps.go), set with the other packed Q6_K kernels
// where the CPU has AVX2 (q4kp_amd64.go). They serve packed Q6_K with several activation
// rows, and packed Q3_K's (q3kp.go), in place of the dotQ6KP tiles they replaced (removed),
// with the same results bit for bit: each half of a block's Σ sc·(u-32)·x is summed in int16 less 32·Σx there
// (q6KHalfSums) and widened by one multiplication by its scale, 10 multiplications a block
// and activation row where the dotQ6KP tiles spend 13 (the AVX2 integer multiplier is
// what bounds those tiles).
//
// Measured (GFLOP/s per CPU second of the process, so that the time slicing of the
// loaded machine does not count; GODEBUG=cpu.avx512f=off, one thread, a Zen 5 at load
// 8-9 on 2 vCPUs, medians of 5 alternating runs), dotQ6KP 8×3 → dotQ6KPS 8×4 (with
// q6KPUnpackAVX's new prefetch), packed Q4_0 (dotQ4I 8×2) in the same runs: 5632×2048
// m=16 119 → 156 (158-166), m=128 158 → 172 (158-167); 2048×5632 m=16 117 → 144
// (130-155), m=128 146 → 164 (165-174). 8×4 rather than 8×3: 16 rows are four tiles
// and no 8×1 (m=16 132 → 143 at 2048×5632, the same within the noise at m=128).
var q6KPSTiles [5]q6KPTileFn // [C]

// q6KPSTileC is how many activation rows the dotQ6KPS tiles take at a time.
const q6KPSTileC = 4

// q6KHalfSums fills s.c with, for each block of 32 of the rows quantized in s (nb blocks
// in all), two int32: for each half h (values 16h..16h+15), 32·(x[4z]+x[4z+1]) summed
// over z = 4h..4h+3 in the low int16 and 32·(x[4z+2]+x[4z+3]) in the high one (each at
// most 32·8·127 = 32512), and returns them: what the dotQ6KPS tiles take off the int16
// sums of VPMADDUBSW, whose words hold the products of those positions.
func q6KHalfSums(s *quantScratch, nb int) []int32 {
	if cap(s.c) < 2*nb {
		s.c = make([]int32, 2*nb)
	}
	xc := s.c[:2*nb]
	for b := 0; b < nb; b++ {
		q := s.q[32*b : 32*b+32]
		for h := 0; h < 2; h++ {
			var lo, hi int32
			for z := 4 * h; z < 4*h+4; z++ {
				lo += int32(q[4*z]) + int32(q[4*z+1])
				hi += int32(q[4*z+2]) + int32(q[4*z+3])
			}
			xc[2*b+h] = int32(uint32(uint16(32*lo)) | uint32(uint16(32*hi))<<16)
		}
	}
	return xc
}
