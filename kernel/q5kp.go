package kernel

import "encoding/binary"

// Packed Q5_K weights for the AVX2 kernels, as packed Q4_K ones (q4kp.go). GGUF stores a
// Q5_K row as super-blocks of 256 values (176 bytes: float16 d and dmin, 12 bytes of
// 6-bit scales and mins, 32 bytes qh of fifth bits, 128 bytes qs of nibbles). Where the
// AVX2 kernels serve Q5_K (q5KPackedOn), Pack lays the rows out again in groups of 8, at
// the same size (packQ5KGroup): d, dmin, scales and nibbles exactly as packed Q4_K's, then
// the 8 rows' qh interleaved likewise, 4 bytes of a row per int32 lane, so that one shift
// and one AND bring a sub-block's fifth bits to bit 4 of each value's byte.
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
// Measured (BenchmarkMatMulQ5KPacked, -cpu 1 -count 5, medians, on the default AVX-512
// Zen 5 path, which for Q5_K is AVX2, shared by several processes at load 10-11 on 2
// vCPUs: noisy), GFLOP/s as stored (fused kernels) → packed, with packed Q4_K in the same
// run: 5632×2048 m=1 10.9 → 16.6 (25.3), m=16 19.2 → 26.1 (29.6), m=128 22.1 → 42.3
// (44.5); 2048×5632 m=1 11.5 → 16.3 (23.2), m=16 17.9 → 23.6 (23.9), m=128 21.7 → 39.8
// (43.8). An earlier run gave m=1 14.0 → 19.8 and 14.2 → 15.5, m=128 25.9 → 43.1 and
// 22.8 → 45.9. The one-row kernel spends about 10 vector operations per 4 values of 8
// rows (the fifth bit costs a shift, an AND and an OR) where packed Q4_K's spends 6.

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
//   - 128: the nibbles: the 32 bytes at 128+256g+32z hold, at 4r, bytes 32g+4z..32g+4z+3
//     of row r's qs (values 4z..4z+3 of sub-block 2g in the low nibbles, of sub-block
//     2g+1 in the high ones);
//   - 1152: the fifth bits: the 32 bytes at 1152+32z hold, at 4r, bytes 4z..4z+3 of row
//     r's qh (bit j of byte t: value 4z+t of sub-block j).
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
			for i := 0; i < 32; i++ { // qs, 4 bytes at a time: i = 8g+z
				le.PutUint32(o[128+32*i+4*r:], le.Uint32(blk[48+4*i:]))
			}
			for z := 0; z < 8; z++ { // qh
				le.PutUint32(o[1152+32*z+4*r:], le.Uint32(blk[16+4*z:]))
			}
		}
	}
}

// matMulQ5KPacked is MatMul for Q5_K weights laid out by Pack (w: groups of 8 rows,
// packQ5KGroup) on the AVX2 kernels (kPackedRows: dotQ5KP_vec8 for one activation row,
// q5KPUnpackAVX and the dotQ5KP tiles for several).
func (p *Pool) matMulQ5KPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb, nsb := k/32, k/256
	xq, xd := s.q, s.d
	xm := q4KSums(s, m*nb)
	p.kPackedRows(out, m, n, k, w, q5KPSB, q5KPTileC,
		func(grp *byte, o *float32) { q5KPVec(grp, &xq[0], &xd[0], &xm[0], nsb, o) },
		q5KPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			q5KPTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, &xm[i*nb+s0*8], 8*sc, o, os)
		})
}
