package kernel

import "encoding/binary"

// Packed IQ4_XS weights for the AVX2 kernels, as packed Q4_K ones (q4kp.go). GGUF stores
// an IQ4_XS row as super-blocks of 256 values (136 bytes: float16 d, 2 bytes scales_h and
// 4 bytes scales_l holding a 6-bit scale ls per block of 32, 128 bytes qs of 4-bit
// indices into ggml's kvalues_iq4nl table, -127..113). Where the AVX2 kernels serve
// IQ4_XS (iq4XSPackedOn), Pack lays the rows out again in groups of 8, at the same size
// (packIQ4XSGroup), so that each int32 lane of a vector is one weight row.
//
// The weights are signed, with no minimum. Unpacking them to unsigned bytes w+128 for the
// packed Q4_K tiles would not do: VPMADDUBSW's pair sums of (w+128)·x reach 2·241·127 and
// saturate, and the offset would come back as a term 128·d·sc·dx·Σx that cancels most of
// the sum. The kernels (dotIQ4XSP_vec8 for one activation row, iq4XSPUnpackAVX and the
// dotIQ4XSP tiles for several) instead multiply |w| by x carrying w's sign (VPSIGNB; no
// table value is 0) and widen every pair sum (at most 2·127·127 = 32258) to int32 at
// once: the exact Σw·x. Each output is then (per row, block after block, b the block of
// 32, j = b mod 8)
//
//	acc = float32(Σ w·x)·(d·(ls_j-32)·dx_b) + acc    (fused; Σ exact, d·(ls_j-32) and the product with dx_b rounded)
//
// so a row's results do not depend on the number of activation rows, and the only error
// against the exact product of the quantized operands is float32 rounding: TestPackIQ4XSLayout
// measures it against float64. They differ in the last bits from those of the fused
// kernels for IQ4_XS as stored (kquant.go), which serve weights Pack did not lay out.
//
// Measured (BenchmarkMatMulIQ4XSPacked, -cpu 1 -count 5, medians, on a Zen 5 whose default
// path for IQ4_XS was then AVX2, at load 10-11 on 2 vCPUs: noisy; on AVX-512 VNNI CPUs
// kp512iq4.go's kernels now serve packed IQ4_XS, 1.6× to 4× these), GFLOP/s as
// stored (fused kernels) → packed, with packed Q4_K in the same run: 5632×2048 m=1
// 9.9 → 24.6 (28.0), m=16 21.4 → 23.0 (39.6), m=128 19.3 → 32.0 (56.1); 2048×5632 m=1
// 11.7 → 20.2 (20.6), m=16 16.3 → 21.0 (26.2), m=128 18.2 → 26.4 (41.5). The tiles spend
// 5 operations per 4 values of 8 rows and activation row (broadcast, VPSIGNB, VPMADDUBSW,
// VPMADDWD, VPADDD) where packed Q4_K's spend 3; unsigned weights w+128 split into two
// nibbles (two VPMADDUBSW and two VPADDW, Σx taken off in integers) would cost the same.
//
// What bounds the tiles on AVX2 is the integer multiplier: two multiplications (VPMADDUBSW,
// VPMADDWD) per 4 values of 8 rows and activation row, where packed Q4_K's tiles spend
// 1.25 and Q6_K's dotQ6KPS 1.25 (q6kp.go); measured per CPU second, the three run their
// multiplications at about the same rate. Seventh session (GODEBUG=cpu.avx512f=off, one thread,
// GFLOP/s per CPU second, medians of 5 alternating runs at load 5-13): the tiles do 102
// (2048×5632) and 104 (5632×2048) at m=128, 93-97 at m=16, packed Q4_0 165-195. Tried and
// dropped, no gain within the noise: the activations' |x| computed once per call so that
// the tiles take w·sign(x) (VPSIGNB) times |x| and spend no VPABSB on the weights, with
// 8×2, 8×3 and 8×4 tiles (96-103 against 102 at m=128, 85-96 against 91-93 at m=16);
// prefetching in iq4XSPUnpackAVX (m=16 +2-5%, but m=128 -4%, which moved with the
// tiles' alignment in the binary, mod 64). No exact scheme with fewer multiplications
// was found: a pair sum of 8-bit products reaches 2·127·127 = 32258, so no two fit in
// int16 and every VPMADDUBSW needs its widening, and values split into two 4-bit parts
// (whose sums could stay in int16) need two VPMADDUBSW. AVX-VNNI's VEX VPDPBUSD (Intel
// Alder Lake and later, Zen 5), with w+128 against x and -128·Σx as kp512iq4.go does,
// takes one multiplication: vnniiq4.go's kernels, which serve where the CPU has it (2.4 to
// 2.8× these tiles); these serve AVX2 CPUs without it.

// iq4XSPSB is the size in bytes of one super-block of a packed group of 8 IQ4_XS rows.
const iq4XSPSB = 8 * 136

// iq4XSPTileFn adds the 8×C dot products of 8 IQ4_XS rows unpacked by iq4XSPUnpack (nb
// blocks of 32: 256 bytes of signed values, then d·(ls-32) as 8 float32) and C rows
// quantized by QuantizeQ8 (xq, xd; strides in bytes) to out[c*os/4+r], block after block.
type iq4XSPTileFn func(w *byte, xq *int8, xqs int, xd *float32, xds int, nb int, out *float32, os int)

// The packed IQ4_XS kernels, set at start-up where the CPU has AVX2 (q5kp_amd64.go).
var (
	iq4XSPVec    func(w *byte, xq *int8, xd *float32, nsb int, out *float32)
	iq4XSPUnpack func(dst, w *byte, nsb int)
	iq4XSPTiles  [4]iq4XSPTileFn // [C]
)

// iq4XSPTileC is how many activation rows the dotIQ4XSP tiles take at a time.
const iq4XSPTileC = 2

// iq4XSPackedOn reports whether Pack lays out IQ4_XS weights for the packed AVX2 kernels
// (where the packed Q4_K and Q6_K kernels serve those types: kPackedOn).
func iq4XSPackedOn() bool { return iq4XSPVec != nil && kPackedOn() }

// iq4XSPackable reports whether Pack lays out an IQ4_XS matrix with rows of k values.
func iq4XSPackable(k int) bool { return k%256 == 0 && iq4XSPackedOn() }

// iq4XSPBytes returns the packed size of an n×k IQ4_XS matrix (k a multiple of 256):
// groups of 8 rows, the last padded with zero rows.
func iq4XSPBytes(n, k int) int { return (n + 7) / 8 * (k / 256) * iq4XSPSB }

// packIQ4XSGroup lays out rows j..j+rows-1 (rows ≤ 8) of an IQ4_XS matrix with rows of
// nsb super-blocks (rs bytes each) into dst (nsb·iq4XSPSB bytes, zero past the rows),
// super-block after super-block:
//
//   - 0: the rows' d (float16, row r at 2r);
//   - 16: scales_l, byte b (b < 4) of row r at 16+8b+r;
//   - 48: scales_h, byte b (b < 2) of row r at 48+8b+r;
//   - 64: the indices: the 32 bytes at 64+128j+32z hold, at 4r, bytes 16j+4z..16j+4z+3
//     of row r's qs (values 4z..4z+3 of block j in the low nibbles, 16+4z..16+4z+3 in
//     the high ones).
//
// A padding row is all zero bytes: d = 0, so its values (kvalues_iq4nl[0]·0) are 0.
func packIQ4XSGroup(dst, data []byte, rs, j, rows, nsb int) {
	le := binary.LittleEndian
	for s := 0; s < nsb; s++ {
		o := dst[s*iq4XSPSB : (s+1)*iq4XSPSB]
		for r := 0; r < 8; r++ {
			var blk *[136]byte
			if r < rows {
				blk = (*[136]byte)(data[(j+r)*rs+136*s:])
			} else {
				blk = new([136]byte)
			}
			le.PutUint16(o[2*r:], le.Uint16(blk[0:]))
			for b := 0; b < 4; b++ {
				o[16+8*b+r] = blk[4+b]
			}
			for b := 0; b < 2; b++ {
				o[48+8*b+r] = blk[2+b]
			}
			for i := 0; i < 32; i++ { // qs, 4 bytes at a time: i = 4j+z
				le.PutUint32(o[64+32*i+4*r:], le.Uint32(blk[8+4*i:]))
			}
		}
	}
}

// matMulIQ4XSPacked is MatMul for IQ4_XS weights laid out by Pack (w: groups of 8 rows,
// packIQ4XSGroup) on the AVX2 kernels (kPackedRows: dotIQ4XSP_vec8 for one activation
// row, iq4XSPUnpackAVX and the dotIQ4XSP tiles for several; the AVX-512 VNNI kernels of
// kp512iq4.go where kp512IQ4XSVecOn and kp512IQ4XSOn, else the AVX-VNNI ones of
// vnniiq4.go where vnniIQ4XSVecOn and vnniIQ4XSOn).
func (p *Pool) matMulIQ4XSPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	switch {
	case m > 1 && kp512IQ4XSOn():
		p.matMulIQ4XSP512(out, s, m, n, k, w, kp512IQ4XSUnpack, kp512IQ4XSC, kp512IQ4XSTiles)
		return
	case m > 1 && vnniIQ4XSOn():
		p.matMulIQ4XSP512(out, s, m, n, k, w, vnniIQ4XSUnpack, vnniIQ4XSC, vnniIQ4XSTiles)
		return
	}
	nb, nsb := k/32, k/256
	xq, xd := s.q, s.d
	vec := func(grp *byte, o *float32) { iq4XSPVec(grp, &xq[0], &xd[0], nsb, o) }
	if v := kp512IQ4XSVec; m == 1 && (kp512IQ4XSVecOn() || vnniIQ4XSVecOn()) {
		if !kp512IQ4XSVecOn() {
			v = vnniIQ4XSVec
		}
		xs := iq4XSOffsets(s, nb)
		vec = func(grp *byte, o *float32) { v(grp, &xq[0], &xd[0], &xs[0], nsb, o) }
	}
	p.kPackedRows(out, m, n, k, w, iq4XSPSB, iq4XSPTileC, vec,
		iq4XSPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			iq4XSPTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, 8*sc, o, os)
		})
}
