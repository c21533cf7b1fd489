package kernel

import (
	"encoding/binary"
	"math"

	"github.com/decilm/decilm/tensor"
)

// Packed Q3_K weights. GGUF stores a Q3_K row as super-blocks of 256 values (110 bytes:
// hmask, 32 bytes of high bits; qs, 64 bytes of 2-bit low parts; 12 bytes of 6-bit scales,
// one per 16 values; float16 d); a value is q = low + 4·high - 4 (-4..3) times
// d·(sc - 32). Where the packed AVX2 kernels serve Q3_K (q3KPackedOn), Pack lays the
// rows out again in groups of 8, at the same size (packQ3KGroup): the values re-encoded
// as 3-bit fields u = q + 4, two or three to a byte, the scales and d as stored, the 8
// rows' bytes side by side so that each int32 lane of a vector is one weight row.
//
// One activation row takes dotQ3KP_vec8. Several take the tiles of packed Q6_K unchanged:
// q3KPUnpackAVX writes each group's piece in their q6KPBlock format (u = q + 32 as
// unsigned bytes, the scales sc - 32 as int16, d as float32), and the AVX2 dotQ6KPS tiles
// (q6kp.go; the dotQ6KP tiles before the seventh session) or, where the CPU has AVX-512
// VNNI, kp512Q6KTile multiply it. Every one of them computes
// each output as (per row, block after block, b the block of 32)
//
//	acc = float32(Σ (sc-32)·q·x)·(d·dx_b) + acc      (the sum exact, d·dx_b rounded, fused)
//
// so a row's results do not depend on the number of activation rows. They differ in the
// last bits from those of the fused kernels for Q3_K as stored (dotQ3KAVX and its tiles,
// kquant.go, which scale each 16 in float), which serve weights Pack did not lay out
// (packing off, -tags purego).
//
// Measured (BenchmarkMatMulQ3KPacked, -cpu 1 -count 5, one thread, on a Zen 5 shared by
// several processes at load 6-10 on 2 vCPUs: very noisy, single rounds ran from a tenth
// to twice the median), GFLOP/s, medians of five, as stored (the fused kernels) →
// packed, packed Q6_K of the same run in parentheses. Default (AVX-512: dotQ3KP_vec8 for
// m = 1, kp512Q6KTile for several): 5632×2048 m=1 20.7 → 43.8 (13.5), m=16 32.7 → 149
// (164), m=128 53.1 → 186 (135); 2048×5632 m=1 22.5 → 33.2 (33.5), m=16 33.2 → 128
// (127), m=128 48.9 → 190 (202). GODEBUG=cpu.avx512f=off (the AVX2 dotQ6KP tiles for
// several): 5632×2048 m=1 32.0 → 64.5 (39.9), m=16 26.5 → 59.0 (54.5), m=128 60.5 →
// 81.0 (110); 2048×5632 m=1 19.6 → 41.5 (28.5), m=16 39.2 → 42.7 (39.8), m=128 29.3 →
// 53.7 (46.0). The values as GGUF's planes of 2-bit parts and high bits transposed (five
// vector operations for nearly every block, where these 3-bit fields take one to five)
// against this layout, dotQ3KP_vec8 interleaved, medians of five at load 10: 5632×2048
// 25.8 / 33.8, 2048×5632 26.5 / 30.3.
//
// End to end after merging main's 16×8 Q6_K tiles (decilm bench -p 128 -n 32 -b 16 -r 1
// --threads 2, 1b, load 5-6: rough), Q3_K_M packed, Q4_0, Q3_K_M again: pp128 168, 115,
// 141; tg32 31.6, 25.1, 29.0; 16 sequences 97.6, 89.9, 82.4 t/s; user CPU seconds less
// those of loading: pp128 three times 3.01 against Q4_0's 3.16, tg32 and 16 sequences
// 6.43 against 5.93. Before that merge (16×6 tiles; load 4-9: very rough), main's fused
// kernels → packed, Q4_0 right after: pp128 23.8 → 64.5
// (80.0), tg32 16.1 → 27.1 (22.3), 16 sequences 33.2 → 78.7 (84.0) t/s; an earlier
// round 22.0 → 81.9 (49.4), 16.3 → 20.8 (27.9), 23.0 → 92.1 (62.4). Steadier, the
// process's user CPU seconds less those of a run that only loads the model: pp128 three
// times (-p 128 -n 0 -r 3) 3.43 against Q4_0's 3.57; tg32 and 16 sequences (-p 0 -n 32
// -b 16) 7.32 against 6.28. Packing costs about 0.3 s of user CPU at load, 0.62-0.65 s
// against main's 0.31-0.32 (packQ3KGroup, eight values to a uint64: about 1.2 GB/s on one
// thread, BenchmarkPackQ3KGroup, four at a time 0.4; and the first reads of the file).

// q3KPSB is the size in bytes of one super-block of a packed group of 8 Q3_K rows.
const q3KPSB = 8 * 110

// The packed Q3_K kernels, set at start-up where the CPU has AVX2 (q3kp_amd64.go): the
// one-row kernel (xc as q6KSums makes it) and the unpacker into the q6KPBlock format.
var (
	q3KPVec    func(w *byte, xq *int8, xd *float32, xc *int32, nsb int, out *float32)
	q3KPUnpack func(dst, w *byte, nsb int)
)

// q3KPackedOn reports whether Pack lays out Q3_K weights for the packed kernels: where
// the packed Q6_K kernels serve Q6_K (their tiles serve Q3_K too).
func q3KPackedOn() bool { return q3KPVec != nil && q6KPackedOn() }

// q3KPackable reports whether Pack lays out a Q3_K matrix with rows of k values.
func q3KPackable(k int) bool { return k%256 == 0 && q3KPackedOn() }

// kp512Q3KOn reports whether the AVX-512 VNNI Q6_K tiles serve packed Q3_K weights with
// several activation rows.
func kp512Q3KOn() bool { return kp512Q6KTiles != nil && q3KPackedOn() }

// q3KPBytes returns the packed size of an n×k Q3_K matrix (k a multiple of 256): groups
// of 8 rows, the last padded with zero rows.
func q3KPBytes(n, k int) int { return (n + 7) / 8 * (k / 256) * q3KPSB }

// packQ3KGroup lays out rows j..j+rows-1 (rows ≤ 8) of a Q3_K matrix with rows of nsb
// super-blocks (rs bytes each) into dst (nsb·q3KPSB bytes, zero past the rows), super-block
// after super-block. With u = q + 4 = low + 4·high (0..7, 3 bits) for value l (l < 32) of
// block b, and at = 32(l/4)+4r+l%4 (row r's int32 lane, the value's byte in it):
//
//   - 0: for p < 2, the byte at 256p+at holds u of block p in bits 0-2, of block 2+p in
//     bits 3-5, and the low 2 bits of block 4+p's in bits 6-7;
//   - 512: the byte at 512+at holds u of block 6 in bits 0-2, of block 7 in bits 3-5, and
//     the high bits of blocks 4 and 5 in bits 6 and 7;
//   - 768: scale bytes 0..7, byte s of row r at 768+16(s/2)+2r+s%2;
//   - 832: scale bytes 8..11, byte 8+i of row r at 832+16(i/2)+2r+i%2;
//   - 864: the rows' d (float16, row r at 864+2r).
//
// So the values of blocks 0, 1, 6 take one AND, those of 2, 3, 7 a shift and an AND, and
// those of 4 and 5 two shifts, two ANDs and an OR (GGUF's planes of 2-bit and high bits,
// transposed, cost two shifts, two ANDs and an OR for nearly every block). Block b's
// scales (2b and 2b+1) are bytes 2r, 2r+1 of the 16 at 768+16(b%4) (low nibbles for b < 4,
// high ones else) and of the 16 at 832+16(b%2) (bits 2(b/2), 2(b/2)+1: the scales' bits
// 4-5).
func packQ3KGroup(dst, data []byte, rs, j, rows, nsb int) {
	le := binary.LittleEndian
	var zero [110]byte
	const ones, low2 = 0x0101010101010101, 0x0303030303030303
	put := func(o []byte, at int, v uint64) { // values 4z..4z+7: vectors z and z+1
		le.PutUint32(o[at:], uint32(v))
		le.PutUint32(o[at+32:], uint32(v>>32))
	}
	for s := 0; s < nsb; s++ {
		o := dst[s*q3KPSB : (s+1)*q3KPSB]
		for r := 0; r < 8; r++ {
			var blk *[110]byte
			if r < rows {
				blk = (*[110]byte)(data[(j+r)*rs+110*s:])
			} else {
				blk = &zero // a padding row
			}
			// Eight values at a time, a byte each in a uint64.
			for z := 0; z < 8; z += 2 {
				h := le.Uint64(blk[4*z:])
				q0, q1 := le.Uint64(blk[32+4*z:]), le.Uint64(blk[64+4*z:])
				var u [8]uint64
				for t := 0; t < 4; t++ {
					u[t] = q0>>(2*t)&low2 | (h>>t&ones)<<2
					u[4+t] = q1>>(2*t)&low2 | (h>>(4+t)&ones)<<2
				}
				for p := 0; p < 2; p++ {
					put(o, 256*p+32*z+4*r, u[p]|u[2+p]<<3|(u[4+p]&low2)<<6)
				}
				put(o, 512+32*z+4*r, u[6]|u[7]<<3|(u[4]>>2&ones)<<6|(u[5]>>2&ones)<<7)
			}
			for i := 0; i < 4; i++ { // scale bytes 0..7
				le.PutUint16(o[768+16*i+2*r:], le.Uint16(blk[96+2*i:]))
			}
			for i := 0; i < 2; i++ { // scale bytes 8..11
				le.PutUint16(o[832+16*i+2*r:], le.Uint16(blk[104+2*i:]))
			}
			le.PutUint16(o[864+2*r:], le.Uint16(blk[108:]))
		}
	}
}

// q3KPValue returns value l (l < 32) of block b of row r of the packed Q3_K super-block
// sb (packQ3KGroup's layout): -4..3.
func q3KPValue(sb []byte, r, b, l int) int32 {
	at := 32*(l/4) + 4*r + l%4
	var u byte
	switch {
	case b < 4:
		u = sb[256*(b%2)+at] >> (3 * (b / 2)) & 7
	case b < 6:
		u = sb[256*(b%2)+at]>>6 | (sb[512+at]>>(2+b)&1)<<2
	default:
		u = sb[512+at] >> (3 * (b - 6)) & 7
	}
	return int32(u) - 4
}

// q3KPScale returns scale h (h < 2: of values 0..15 or 16..31) of block b of row r of the
// packed Q3_K super-block sb, less 32: -32..31.
func q3KPScale(sb []byte, r, b, h int) int32 {
	lo := sb[768+16*(b%4)+2*r+h]
	if b >= 4 {
		lo >>= 4
	}
	hi := sb[832+16*(b%2)+2*r+h] >> (2 * (b / 2)) & 3
	return int32(lo&15|hi<<4) - 32
}

// q3KPUnpackGo is the plain version of q3KPUnpackAVX: nsb super-blocks of a packed Q3_K
// group (packQ3KGroup) into dst in the q6KPBlock format (u = q + 32, the scales less 32,
// d as float32; row r at lane r).
func q3KPUnpackGo(dst, w []byte, nsb int) {
	le := binary.LittleEndian
	for s := 0; s < nsb; s++ {
		sb := w[s*q3KPSB:]
		for r := 0; r < 8; r++ {
			d := tensor.F16ToF32(le.Uint16(sb[864+2*r:]))
			for b := 0; b < 8; b++ {
				o := dst[(8*s+b)*q6KPBlock:]
				for l := 0; l < 32; l++ {
					o[32*(l/4)+4*r+l%4] = byte(q3KPValue(sb, r, b, l) + 32)
				}
				slo, shi := uint16(q3KPScale(sb, r, b, 0)), uint16(q3KPScale(sb, r, b, 1))
				le.PutUint16(o[256+4*r:], slo)
				le.PutUint16(o[258+4*r:], slo)
				le.PutUint16(o[288+4*r:], shi)
				le.PutUint16(o[290+4*r:], shi)
				le.PutUint16(o[320+4*r:], slo)
				le.PutUint16(o[322+4*r:], shi)
				le.PutUint32(o[352+4*r:], math.Float32bits(d))
			}
		}
	}
}

// matMulQ3KPacked is MatMul for Q3_K weights laid out by Pack (w: groups of 8 rows,
// packQ3KGroup): dotQ3KP_vec8 for one activation row; for several, q3KPUnpackAVX and the
// packed Q6_K tiles (kp512Q6KTile where kp512Q3KOn, vnniQ6KTile where vnniQ3KOn, else the
// AVX2 dotQ6KPS tiles).
func (p *Pool) matMulQ3KPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb, nsb := k/32, k/256
	if m > 1 && kp512Q3KOn() {
		p.matMulQ6KTiles(out, s, m, n, k, w, q3KPSB, q3KPUnpack, kp512Q6KTiles, kp512Q6KC)
		return
	}
	if m > 1 && vnniQ3KOn() {
		p.matMulQ6KTiles(out, s, m, n, k, w, q3KPSB, q3KPUnpack, vnniQ6KTiles, vnniQ6KC)
		return
	}
	xq, xd := s.q, s.d
	if m == 1 {
		xc := q6KSums(s, nb)
		p.kPackedRows(out, m, n, k, w, q3KPSB, q6KPSTileC,
			func(grp *byte, o *float32) { q3KPVec(grp, &xq[0], &xd[0], &xc[0], nsb, o) }, nil, nil)
		return
	}
	xc := q6KHalfSums(s, m*nb)
	p.kPackedRows(out, m, n, k, w, q3KPSB, q6KPSTileC, nil,
		q3KPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			q6KPSTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, &xc[2*(i*nb+s0*8)], 8*sc, o, os)
		})
}
