package kernel

import "encoding/binary"

// Packed Q5_K weights for the AVX2 kernels, as packed Q4_K ones (q4kp.go). GGUF stores a
// Q5_K row as super-blocks of 256 values (176 bytes: float16 d and dmin, 12 bytes of
// 6-bit scales and mins, 32 bytes qh of fifth bits, 128 bytes qs of nibbles). Where the
// AVX2 kernels serve Q5_K (q5KPackedOn), Pack lays the rows out again in groups of 8, at
// the same size (packQ5KGroup): d, dmin and scales exactly as packed Q4_K's, then the
// values, 4 of a row per int32 lane as packed Q4_K's nibbles: a byte per value of each
// pair of sub-blocks holds the even one's 5 bits and the odd one's low 3, and 256 more
// bytes the odd ones' top 2 bits. An even sub-block's values then cost one AND, an odd
// one's two shifts, two ANDs and an OR (the layout of GGUF, nibbles and a plane of fifth
// bits, measured 16-23% slower for one activation row: a shift, an AND and an OR more
// for an even sub-block, see below).
//
// Every packed kernel (dotQ5KP_vec8 for one activation row, q5KPUnpackAVX and the dotQ5KP
// tiles for several) computes each output as packed Q4_K's do (per row, block after block,
// b the block of 32, j = b mod 8 its sub-block, q = 0..31)
//
//	acc = float32(Σ q·x)·(d·sc_j·dx_b) + acc       (fused; Σ exact, d·sc_j and the product with dx_b rounded)
//	acc = -(dmin·m_j)·(dx_b·Σx_b) + acc             (fused; dmin·m_j rounded)
//
// so a row's results do not depend on the number of activation rows. They differ in the
// last bits from those of the fused kernels for Q5_K as stored (kquant.go), which serve
// weights Pack did not lay out. q5KPUnpackAVX writes the blocks of the packed Q4_K tiles
// (q4KPBlock: the values as bytes, d·sc, dmin·m), but with values up to 31 the dotQ4KP
// tiles' int16 sums over a whole block (up to 16·31·127 = 62992) could wrap, so the
// dotQ5KP tiles are those tiles with the int16 sums split into two halves of 16 values
// (each below 31496), widened to int32 and added: the same integer Σq·x, one VPMADDWD and
// one VPADDD more per block and activation row. (vpmaddubsw itself stays below
// 2·31·127 = 7874.) Tiles that sum in int32 directly (VPDPBUSD) can take these blocks
// as they are.
//
// Measured (BenchmarkMatMulQ5KPacked, one thread, on the default AVX-512 Zen 5 path,
// which for Q5_K is AVX2, shared by several processes at load 10-19 on 2 vCPUs: noisy),
// GFLOP/s, medians of five rounds that each time every variant once, as stored (fused
// kernels) → packed, with packed Q4_K in the same rounds: 5632×2048 m=1 12.6 → 21.1
// (28.0), m=16 19.5 → 32.9 (19.3), m=128 12.9 → 27.5 (30.4); 2048×5632 m=1 10.8 → 19.7
// (24.7), m=16 19.4 → 19.7 (18.9), m=128 18.2 → 37.2 (32.2). An earlier run at load 10
// (-count 5, medians, GGUF's nibble-and-fifth-bit layout, the same tiles): 5632×2048 m=1
// 10.9 → 16.6 (25.3), m=16 19.2 → 26.1 (29.6), m=128 22.1 → 42.3 (44.5); 2048×5632 m=1
// 11.5 → 16.3 (23.2), m=16 17.9 → 23.6 (23.9), m=128 21.7 → 39.8 (43.8). That layout
// against this one, interleaved, m=1: 18.4 / 22.0 (5632×2048) and 18.9 / 24.5 (2048×5632).

// q5KPSB is the size in bytes of one super-block of a packed group of 8 Q5_K rows.
const q5KPSB = 8 * 176

// The packed Q5_K kernels, set at start-up where the CPU has AVX2 (q5kp_amd64.go). The
// tiles take the blocks of q5KPUnpack (q4KPBlock bytes per block of 32) with the
// arguments of the packed Q4_K tiles.
var (
	q5KPVec    func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)
	q5KPUnpack func(dst, w *byte, nsb int)
	q5KPTiles  [4]q4KPTileFn // [C]
)

// q5KPTileC is how many activation rows the dotQ5KP tiles take at a time.
const q5KPTileC = 2

// q5KPackedOn reports whether Pack lays out Q5_K weights for the packed AVX2 kernels
// (where the packed Q4_K and Q6_K kernels serve those types: kPackedOn).
func q5KPackedOn() bool { return q5KPVec != nil && kPackedOn() }

// q5KPackable reports whether Pack lays out a Q5_K matrix with rows of k values.
func q5KPackable(k int) bool { return k%256 == 0 && q5KPackedOn() }

// q5KPBytes returns the packed size of an n×k Q5_K matrix (k a multiple of 256): groups
// of 8 rows, the last padded with zero rows.
func q5KPBytes(n, k int) int { return (n + 7) / 8 * (k / 256) * q5KPSB }

// packQ5KGroup lays out rows j..j+rows-1 (rows ≤ 8) of a Q5_K matrix with rows of nsb
// super-blocks (rs bytes each) into dst (nsb·q5KPSB bytes, zero past the rows), super-block
// after super-block:
//
//   - 0: the rows' d, 16: their dmin (float16 each, row r at 2r);
//   - 32: the scale bytes, byte b (b < 12) of row r at 32+8b+r;
//   - 128: the values of sub-blocks 2g and 2g+1 (q = 0..31): the 32 bytes at
//     128+256g+32z hold, at 4r+t, value 4z+t of sub-block 2g in bits 0-4 and bits 0-2 of
//     value 4z+t of sub-block 2g+1 in bits 5-7;
//   - 1152: the 32 bytes at 1152+32z hold, at 4r+t, bits 3-4 of value 4z+t of sub-block
//     2g+1 in bits 2g and 2g+1, for g = 0..3.
func packQ5KGroup(dst, data []byte, rs, j, rows, nsb int) {
	le := binary.LittleEndian
	for s := 0; s < nsb; s++ {
		o := dst[s*q5KPSB : (s+1)*q5KPSB]
		for r := 0; r < 8; r++ {
			var blk *[176]byte
			if r < rows {
				blk = (*[176]byte)(data[(j+r)*rs+176*s:])
			} else {
				blk = new([176]byte) // a padding row: zeros
			}
			le.PutUint16(o[2*r:], le.Uint16(blk[0:]))
			le.PutUint16(o[16+2*r:], le.Uint16(blk[2:]))
			for b := 0; b < 12; b++ {
				o[32+8*b+r] = blk[4+b]
			}
			// Four values at a time, a byte each in a uint32.
			const ones, low4, low3, low2 = 0x01010101, 0x0f0f0f0f, 0x07070707, 0x03030303
			for z := 0; z < 8; z++ {
				h := le.Uint32(blk[16+4*z:])
				var top uint32
				for g := 0; g < 4; g++ {
					q := le.Uint32(blk[48+32*g+4*z:])
					a := q&low4 | (h>>(2*g)&ones)<<4      // sub-block 2g
					b := q>>4&low4 | (h>>(2*g+1)&ones)<<4 // sub-block 2g+1
					le.PutUint32(o[128+256*g+32*z+4*r:], a|(b&low3)<<5)
					top |= (b >> 3 & low2) << (2 * g)
				}
				le.PutUint32(o[1152+32*z+4*r:], top)
			}
		}
	}
}

// matMulQ5KPacked is MatMul for Q5_K weights laid out by Pack (w: groups of 8 rows,
// packQ5KGroup) on the AVX2 kernels (kPackedRows: dotQ5KP_vec8 for one activation row,
// q5KPUnpackAVX and the dotQ5KP tiles for several; the Q4_K tiles of kp512.go or
// vnniq4k.go on q5KPUnpackAVX's blocks where kp512Q5KOn or vnniQ5KOn).
func (p *Pool) matMulQ5KPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb, nsb := k/32, k/256
	xq, xd := s.q, s.d
	xm := q4KSums(s, m*nb)
	if m > 1 && kp512Q5KOn() {
		p.matMulQ4KP512(out, s, xm, m, n, k, w, q5KPSB, q5KPUnpack, kp512Q4KC, kp512Q4KTiles)
		return
	}
	if m > 1 && vnniQ5KOn() {
		p.matMulQ4KP512(out, s, xm, m, n, k, w, q5KPSB, q5KPUnpack, vnniQ4KC, vnniQ4KTiles)
		return
	}
	p.kPackedRows(out, m, n, k, w, q5KPSB, q5KPTileC,
		func(grp *byte, o *float32) { q5KPVec(grp, &xq[0], &xd[0], &xm[0], nsb, o) },
		q5KPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			q5KPTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, &xm[i*nb+s0*8], 8*sc, o, os)
		})
}
