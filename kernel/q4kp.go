package kernel

import (
	"encoding/binary"
	"sync"
)

// Packed Q4_K weights for the AVX2 kernels. GGUF stores a Q4_K row as super-blocks of
// 256 values (144 bytes: float16 d and dmin, 12 bytes of 6-bit scales and mins, 128 bytes
// of nibbles), rows one after the other; the one-row kernels then spend more time
// unpacking scales and summing lanes than multiplying. Where the AVX2 kernels serve Q4_K
// (q4KPackedOn), Pack lays the rows out again in groups of 8, at the same size
// (packQ4KGroup): super-block after super-block, the 8 rows' d, dmin and scale bytes side
// by side, then their nibbles interleaved so that each int32 lane of a vector is one
// weight row, as the packed Q4_0 groups are. A block of 32 values of 8 rows then costs
// one int32-to-float conversion, one multiply and two FMAs per activation row.
//
// Every packed kernel (dotQ4KP_vec8 for one activation row, q4KPUnpackAVX and the
// dotQ4KP tiles for several) computes each output as (per row, block after block, b the
// block of 32 and j = b mod 8 its sub-block)
//
//	acc = float32(Σ q·x)·(d·sc_j·dx_b) + acc       (fused; d·sc_j and the product with dx_b rounded)
//	acc = -(dmin·m_j)·(dx_b·Σx_b) + acc             (fused; dmin·m_j rounded)
//
// so a row's results do not depend on the number of activation rows. They differ in the
// last bits from those of the kernels for Q4_K as stored (dotQ4KAVX and the 1×4 tiles,
// which sum per lane of 4 values), which serve weights Pack did not lay out.
//
// Measured (BenchmarkMatMulKPacked, one thread, GODEBUG=cpu.avx512f=off on a Zen 5 shared
// by several processes, load 16-20 on 2 vCPUs, medians of five: noisy), GFLOP/s as stored
// → packed: 5632×2048 m=1 14.3 → 41.5, m=16 35.2 → 70.6, m=128 28.4 → 86.1; 2048×5632
// m=1 24.9 → 37.8, m=16 33.2 → 43.5, m=128 28.5 → 45.6; packed Q4_0 in the same run
// 48.3, 44.1, 53.2 and 46.9, 54.5, 52.6. Timed interleaved instead (each variant once
// per round, one thread, medians), packed Q4_K / packed Q4_0 GFLOP/s: 5632×2048 m=1
// 79.1 / 53.8, m=16 52.1 / 52.8, m=128 60.0 / 45.8; 2048×5632 m=1 75.7 / 57.8, m=16
// 52.8 / 66.8, m=128 73.5 / 63.9. A one-row kernel over two groups at once (16 rows
// sharing each broadcast of x) ran 9% slower than dotQ4KP_vec8 timed that way, and was
// not kept.

// q4KPSB is the size in bytes of one super-block of a packed group of 8 Q4_K rows.
const q4KPSB = 8 * 144

// q4KPBlock is the size in bytes of one block of 32 of a group unpacked by q4KPUnpack:
// 256 bytes of values, then d·sc and dmin·m as 8 float32 each.
const q4KPBlock = 320

// The packed Q4_K kernels, set at start-up where the CPU has AVX2 (q4kp_amd64.go).
var (
	q4KPVec    func(w *byte, xq *int8, xd *float32, xm *float32, nsb int, out *float32)
	q4KPUnpack func(dst, w *byte, nsb int)
	q4KPTiles  [4]q4KPTileFn // [C]
)

// q4KPTileFn adds the 8×C dot products of 8 Q4_K rows unpacked by q4KPUnpack (nb blocks
// of 32) and C rows quantized by QuantizeQ8 (xq, xd; xm: dx·Σx per block with the stride
// of xd; strides in bytes) to out[c*os/4+r], block after block.
type q4KPTileFn func(w *byte, xq *int8, xqs int, xd *float32, xds int, xm *float32, nb int, out *float32, os int)

// q4KPTileC is how many activation rows the dotQ4KP tiles take at a time: 8×3 measured
// the same as 8×2 within the noise for Q4_K.
const q4KPTileC = 2

// q4KPackedOn reports whether Pack lays out Q4_K weights for the packed AVX2 kernels:
// where the CPU has AVX2 and no wider path (AMX, AVX-512 VNNI) serves quantized weights.
func q4KPackedOn() bool { return q4KPVec != nil && kPackedOn() }

// kPackedOn reports whether the packed k-quant kernels serve those types: on every CPU
// with AVX2 (the AVX-512 and AMX CPUs included: their wider paths serve Q8_0 and Q4_0,
// not these; with several activation rows the AVX-512 VNNI CPUs unpack the packed groups
// for the kp512 tiles).
func kPackedOn() bool {
	return useAsm
}

// q4KPBytes returns the packed size of an n×k Q4_K matrix (k a multiple of 256): groups
// of 8 rows, the last padded with zero rows.
func q4KPBytes(n, k int) int { return (n + 7) / 8 * (k / 256) * q4KPSB }

// packQ4KGroup lays out rows j..j+rows-1 (rows ≤ 8) of a Q4_K matrix with rows of nsb
// super-blocks (rs bytes each) into dst (nsb·q4KPSB bytes, zero past the rows), super-block
// after super-block:
//
//   - 0: the rows' d, 16: their dmin (float16 each, row r at 2r);
//   - 32: the scale bytes, byte b (b < 12) of row r at 32+8b+r;
//   - 128: the nibbles: the 32 bytes at 128+256g+32z hold, at 4r, bytes 32g+4z..32g+4z+3
//     of row r's 128 (values 4z..4z+3 of sub-block 2g in the low nibbles, of sub-block
//     2g+1 in the high ones).
func packQ4KGroup(dst, data []byte, rs, j, rows, nsb int) {
	le := binary.LittleEndian
	for s := 0; s < nsb; s++ {
		o := dst[s*q4KPSB : (s+1)*q4KPSB]
		for r := 0; r < 8; r++ {
			var blk *[144]byte
			if r < rows {
				blk = (*[144]byte)(data[(j+r)*rs+144*s:])
			} else {
				blk = new([144]byte) // a padding row: zeros
			}
			le.PutUint16(o[2*r:], le.Uint16(blk[0:]))
			le.PutUint16(o[16+2*r:], le.Uint16(blk[2:]))
			for b := 0; b < 12; b++ {
				o[32+8*b+r] = blk[4+b]
			}
			for i := 0; i < 32; i++ { // 4 bytes at a time: i = 8g+z
				le.PutUint32(o[128+32*i+4*r:], le.Uint32(blk[16+4*i:]))
			}
		}
	}
}

// q4KSums fills s.s with dx·Σx for each block of 32 of the m rows quantized in s (as
// matMulSuper computes it for Q4_K) and returns it.
func q4KSums(s *quantScratch, nb int) []float32 {
	if cap(s.s) < nb {
		s.s = make([]float32, nb)
	}
	xs := s.s[:nb]
	for b := range xs {
		var sum int32
		for _, q := range s.q[32*b : 32*b+32] {
			sum += int32(q)
		}
		xs[b] = s.d[b] * float32(sum)
	}
	return xs
}

// kpBufPool holds the buffers of q4KPUnpack and q6KPUnpack: kBlockQuant values of 8
// rows.
var kpBufPool = sync.Pool{New: func() any { return new([kBlockQuant / 32 * q6KPBlock]byte) }}

// matMulQ4KPacked is MatMul for Q4_K weights laid out by Pack (w: groups of 8 rows,
// packQ4KGroup) on the AVX2 kernels (kPackedRows: dotQ4KP_vec8 for one activation row,
// q4KPUnpackAVX and the dotQ4KP tiles for several; the AVX-512 VNNI tiles of kp512.go
// for several where kp512On, else the AVX-VNNI tiles of vnniq4k.go where vnniQ4KOn).
func (p *Pool) matMulQ4KPacked(out, x []float32, m, n, k int, w []byte) {
	s := quantScratchPool.Get().(*quantScratch)
	defer quantScratchPool.Put(s)
	p.quantizeRows(s, x, m, k)
	nb, nsb := k/32, k/256
	xq, xd := s.q, s.d
	xm := q4KSums(s, m*nb)
	if m > 1 && kp512On(false) {
		p.matMulQ4KP512(out, s, xm, m, n, k, w, q4KPSB, q4KPUnpack, kp512Q4KC, kp512Q4KTiles)
		return
	}
	if m > 1 && vnniQ4KOn() {
		p.matMulQ4KP512(out, s, xm, m, n, k, w, q4KPSB, q4KPUnpack, vnniQ4KC, vnniQ4KTiles)
		return
	}
	p.kPackedRows(out, m, n, k, w, q4KPSB, q4KPTileC,
		func(grp *byte, o *float32) { q4KPVec(grp, &xq[0], &xd[0], &xm[0], nsb, o) },
		q4KPUnpack,
		func(c int, buf *byte, i, s0, sc int, o *float32, os int) {
			q4KPTiles[c](buf, &xq[i*k+s0*256], k, &xd[i*nb+s0*8], 4*nb, &xm[i*nb+s0*8], 8*sc, o, os)
		})
}

// kPackedRows runs a product with weights packed in groups of 8 rows (gsb bytes per
// super-block of a group): one activation row takes vec (the dot products of the group
// at grp with it, added to o[0..8)) a group at a time, straight from the packed layout.
// Several take the tiles: each group's kBlockQuant values at a time are unpacked by unpack
// (sc super-blocks from grp into dst) once per mBlockQuant rows of x and multiplied with
// all of them, C rows a call (C ≤ 4; tile: c rows from row i, super-blocks s0..s0+sc-1,
// adding to o with row stride os bytes). The kernels of a type sum alike, so a row's
// results do not depend on m.
func (p *Pool) kPackedRows(out []float32, m, n, k int, w []byte, gsb, C int, vec func(grp *byte, o *float32), unpack func(dst, grp *byte, sc int), tile func(c int, buf *byte, i, s0, sc int, o *float32, os int)) {
	nsb := k / 256
	gs := nsb * gsb
	if m == 1 {
		p.runGrain(n, 8, func(lo, hi int) {
			for j := lo; j < hi; j += 8 {
				grp := &w[j/8*gs]
				if j+8 <= n {
					clear(out[j : j+8])
					vec(grp, &out[j])
					continue
				}
				var tmp [8]float32 // the last group, padded with zero rows
				vec(grp, &tmp[0])
				copy(out[j:n], tmp[:])
			}
		})
		return
	}
	const kb = kBlockQuant / 256 // super-blocks a piece
	p.runGrain(n, 8, func(lo, hi int) {
		bp := kpBufPool.Get().(*[kBlockQuant / 32 * q6KPBlock]byte)
		defer kpBufPool.Put(bp)
		buf := &bp[0]
		var tmp [4 * 8]float32
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for s0 := 0; s0 < nsb; s0 += kb {
				sc := min(kb, nsb-s0)
				for j := lo; j < hi; j += 8 {
					r := min(8, hi-j)
					unpack(buf, &w[j/8*gs+s0*gsb], sc)
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						if r == 8 {
							tile(c, buf, i, s0, sc, &out[i*n+j], 4*n)
							continue
						}
						for a := 0; a < c; a++ {
							copy(tmp[8*a:8*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						tile(c, buf, i, s0, sc, &tmp[0], 32)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[8*a:8*a+r])
						}
					}
				}
			}
		}
	})
}

// q4KPackable reports whether Pack lays out a Q4_K matrix with rows of k values.
func q4KPackable(k int) bool {
	return k%256 == 0 && q4KPackedOn()
}
