package kernel

import (
	"encoding/binary"
	"sync"

	"github.com/decilm/decilm/tensor"
)

// BF16 pair panels: the AVX-512 layout of BF16 panels (dotBF16Z, bf16z_amd64.s). On a CPU
// with AVX-512 and no AMX, Pool.Pack lays out a bfloat16 matrix of n rows of k values in
// panels of 16 rows (the last one padded with zero rows), each 64·⌈k/2⌉ bytes, two
// elements after two: for the element pair q (elements 2q and 2q+1), 64 bytes whose
// little-endian uint32 r holds row r's element 2q in its low half and element 2q+1 in
// its high half (zero past k). One ZMM load widens both elements of the 16 rows exactly
// with two operations (VPSLLD 16 for element 2q, VPANDD 0xffff0000 for 2q+1), and the
// tiles multiply 16·P rows (P = 2 panels, 1 at the edge) with up to maxBF16ZC activation
// rows as an outer product: each activation broadcast against 16 weights, P·C
// accumulators, no horizontal sums.
//
// Summation order: each output sums its elements in kBlockBF16P pieces, within a piece
// one fused multiply-add chain in element order from zero, the piece's sum then added to
// the output: the order of the AVX2 panel kernels (bf16p.go), so the two give the same
// bits, and the same for every number m of activation rows (m = 1 runs dotBF16Z_64x1,
// four panels at once with the same chains), so a row's results do not depend on m.
// Weights are widened exactly and activations used at full float32: the results are
// float32-exact in the sense of the other float kernels.
//
// Choice: these FMA tiles, for every m. The second candidate, VDPBF16PS (AVX512_BF16) on
// the same layout with the activations split in three bfloat16 parts (x = hi+mid+lo
// exactly, as the AMX path splits them; dotBF16D_16xC, kept for BenchmarkBF16Z only),
// needs three VDPBF16PS per element pair and activation row where the FMA tiles need two
// FMAs and share the two widening operations among all the rows of the tile; it also
// flushes denormals and rounds twice per pair, so its bits differ from the AVX2 panels'.
// Measured on the Zen 5 (2 vCPUs shared with other work, go test -bench BenchmarkBF16Z
// -cpu 1 -count 5 -benchtime 5x, medians of GFLOP/s from the thread's CPU time, which
// holds better than the wall clock there), f512 tiles (rows as stored) / these tiles /
// VDPBF16PS:
//
//	n×k          m=1 (no dp)  m=16                 m=128
//	2048×2048    48.8 / 64.5  122.9 / 216.4 / 65.3  146.2 / 191.0 / 87.0
//	256×2048     53.9 / 76.2  116.7 / 208.7 / 41.0  153.3 / 206.3 / 47.1
//	5632×2048    24.4 / 34.5   98.2 / 173.4 / 43.4  103.7 / 142.0 / 62.5
//	2048×5632    20.6 / 45.1   74.2 / 191.0 / 54.6  121.6 / 180.5 / 78.3
//	32000×2048   16.3 / 20.2  101.8 / 160.0 / 52.1  104.7 / 143.2 / 67.0
//
// (m = 1 streams the weights from memory: CPU time there counts the stalls.) The 32×12
// tile alone, its weights and activations in L1, ran at about 220 GFLOP/s. Tiles of two
// panels and up to 8 rows prefetch the next panel pair's piece (m = 16 on 32000×2048: 1.6x);
// those of more rows do in their twins bf16zFirst and bf16zLast. With m ≥ bf16zPadMin the
// activations are multiplied from a copy in padded rows (bf16zStride).
const (
	maxBF16ZC      = 12 // activation rows per tile
	bf16zVecPanels = 4  // panels of the matrix-vector kernel
)

// bf16zTiles[P][C] (P ≤ 2 panels, C ≤ maxBF16ZC) adds the 16P×C products of P pair
// panels (panel p at w + p·ps bytes, kc elements from the piece's start) and C activation
// rows (stride xs bytes) to out[c*os/4+16p+r]; set at start-up where the CPU has AVX-512.
var bf16zTiles [3][maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int)

// bf16zFirst[C] and bf16zLast[C] are bf16zTiles[2][C] prefetching the same piece of the
// next two panels (w + 2ps, w + 3ps) as they go, into L2 (PREFETCHT1) and into L1
// (PREFETCHT0); tiles of C ≤ 8 rows always prefetch into L1, so there they are the tiles
// themselves. matMulBF16Z runs bf16zFirst on a panel pair's piece first (the next pair's
// piece starts its way from memory while a block of rows is multiplied: two pieces do not
// fit in L1 together) and bf16zLast last (it moves into L1 just before it is used).
// Measured on the Zen 5 (loaded: load average 12 on 2 vCPUs; one process alternating the
// variants call by call, 20 calls each, medians of GFLOP/s per CPU second of the process,
// rows padded (bf16zStride), one pair of numbers per run), m = 128, 2 threads, prefetch as
// here / none: 5632×2048 182.9 / 176.7, 181.1 / 175.4, 194.0 / 186.9; 2048×5632 182.1 /
// 179.5, 183.0 / 178.1, 187.4 / 187.4; 2048×2048 184.1 / 177.4, 186.5 / 183.1, 194.5 /
// 190.5 (+2 to +4% but for one tie).
var bf16zFirst, bf16zLast [maxBF16ZC + 1]func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int)

// bf16zVec is bf16zTiles[bf16zVecPanels][1]: bf16zVecPanels panels and one activation row.
var bf16zVec func(w *byte, ps int, x *float32, xs int, k int, out *float32, os int)

// bf16zOn reports whether MatMul serves BF16 matrices laid out by Pack with the pair
// panel kernels.
func bf16zOn() bool { return bf16PanelsOn() && bf16Pairs() }

// packBF16Pairs writes a pair panel of the 16 rows src (nil: a zero row; k values each) to
// dst (64·⌈k/2⌉ bytes).
func packBF16Pairs(dst []byte, src *[bf16Panel][]byte, k int) {
	le := binary.LittleEndian
	for q := 0; 2*q < k; q++ {
		o := dst[64*q : 64*q+64]
		for r, s := range src {
			var lo, hi uint16
			if s != nil {
				lo = le.Uint16(s[4*q:])
				if 2*q+1 < k {
					hi = le.Uint16(s[4*q+2:])
				}
			}
			le.PutUint32(o[4*r:], uint32(lo)|uint32(hi)<<16)
		}
	}
}

// bf16zRows returns the activation rows of the tile that starts at row i of a block of m
// rows: the block split into ⌈m/maxBF16ZC⌉ tiles of as equal sizes as can be (m = 16:
// two tiles of 8, which ran 1.2x as fast as 12 + 4 here). Every output's chain is the
// same whatever tile it falls in.
func bf16zRows(m, i int) int {
	t := (m + maxBF16ZC - 1) / maxBF16ZC
	c, extra := m/t, m%t // the first extra tiles take c+1 rows
	if i < extra*(c+1) {
		return c + 1
	}
	return c
}

// matMulBF16Z is MatMul for a BF16 matrix of n rows of k values laid out in pair panels
// (w, see packBF16Pairs). The pieces of kBlockBF16P elements of mBlockBF16P activation
// rows stay in the L2 cache while every panel pair of the thread's rows is multiplied
// with them, up to maxBF16ZC rows at a time; a piece of two panels (32 KiB) stays in L1.
//
// With m ≥ bf16zPadMin rows it multiplies a copy of x whose rows are bf16zStride(k)
// values apart (matMulsBF16Z).
func (p *Pool) matMulBF16Z(out, x []float32, m, n, k int, w []byte) {
	p.matMulsBF16Z(x, m, k, bf16zJob{out, n, w})
}

// bf16zPadMin is the fewest activation rows that matMulBF16Z copies to padded rows
// (tiles of more than 8 rows).
const bf16zPadMin = 2*8 + 1

// bf16zStride returns the row stride, in float32 values, of the padded copy of activation
// rows of k values: k rounded up to 16 values (a 64-byte cache line), plus 16 if that is
// an even number of lines. A tile reads its up to 12 activation rows side by side; rows
// an even number of lines apart share L1 sets (k = 2048: 8 KiB apart, all 12 rows in one
// set of the 12-way L1, with the weights streaming through it too), rows an odd number of
// lines apart fall in different sets. The bits of the products do not depend on the
// stride. Measured on the Zen 5 (loaded: load average 10-15 on 2 vCPUs; one process
// alternating rows as they are and the padded copy, copy included, call by call, 20 calls
// each, medians of GFLOP/s per CPU second of the process, one line per run), m = 128, 2
// threads, as is / padded:
//
//	5632×2048  176.3 / 192.9  192.8 / 197.5  153.0 / 184.1  144.8 / 169.0  151.6 / 170.2  151.7 / 173.7
//	2048×2048  188.2 / 187.5  188.6 / 190.1  152.2 / 179.2  139.9 / 159.0  136.5 / 157.7  145.9 / 177.1
//	256×2048   163.3 / 161.0  193.1 / 175.3  160.2 / 163.8  136.4 / 154.6  138.3 / 156.9  134.1 / 183.0
//	2048×5632  194.9 / 193.8  187.9 / 192.6  190.2 / 190.6  172.7 / 174.0  171.5 / 171.8  176.3 / 174.5
//
// (k = 5632, 352 lines: the rows fall in two sets, six to a set.)
func bf16zStride(k int) int {
	s := (k + 15) &^ 15
	if s/16%2 == 0 {
		s += 16
	}
	return s
}

// bf16zBufs holds the padded activation copies of matMulsBF16Z (*[]float32).
var bf16zBufs sync.Pool

// bf16zJob is one product of matMulsBF16Z: out = x · wᵀ for n rows of pair panels w.
type bf16zJob struct {
	out []float32
	n   int
	w   []byte
}

// matMulsBF16Z runs matMulBF16Z's product for each job on the same m activation rows x
// of k values, with one padded copy of x for all of them when m ≥ bf16zPadMin (the
// copy split over the threads).
func (p *Pool) matMulsBF16Z(x []float32, m, k int, jobs ...bf16zJob) {
	xk := k
	if m >= bf16zPadMin {
		xk = bf16zStride(k)
	}
	if xk != k {
		bp, _ := bf16zBufs.Get().(*[]float32)
		if bp == nil {
			bp = new([]float32)
		}
		if cap(*bp) < m*xk {
			*bp = make([]float32, m*xk)
		}
		xp := (*bp)[:m*xk]
		p.Run(m, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				copy(xp[i*xk:i*xk+k], x[i*k:(i+1)*k])
			}
		})
		x = xp
		defer bf16zBufs.Put(bp)
	}
	for _, j := range jobs {
		p.matMulBF16ZStride(j.out, x, m, j.n, k, xk, j.w)
	}
}

// matMulsBF16 is MatMuls for BF16 weights that Pack laid out in pair panels, with m ≥
// bf16zPadMin rows: it reports false (and does nothing) otherwise.
func (p *Pool) matMulsBF16(outs [][]float32, x []float32, m int, ws []*tensor.Tensor) (bool, error) {
	if m < bf16zPadMin || !bf16zOn() || len(ws) > 4 || len(outs) != len(ws) {
		return false, nil
	}
	var buf [4]bf16zJob
	k0 := -1
	for i, w := range ws {
		n, k, _, err := checkMatMul(outs[i], x, m, w)
		if err != nil {
			return false, err
		}
		if w.DType != tensor.BF16 || w.Packed == nil || k == 0 || n == 0 || (k0 >= 0 && k != k0) {
			return false, nil
		}
		k0 = k
		buf[i] = bf16zJob{outs[i], n, w.Packed}
	}
	p.matMulsBF16Z(x, m, k0, buf[:len(ws)]...)
	return true, nil
}

// matMulBF16ZStride is matMulBF16Z for activation rows xk ≥ k values apart.
func (p *Pool) matMulBF16ZStride(out, x []float32, m, n, k, xk int, w []byte) {
	ps := 64 * ((k + 1) / 2) // bytes per panel
	one := &bf16zTiles[1]
	if m == 1 {
		// A matrix-vector product: bf16zVecPanels panels at a time, so that their
		// independent chains keep the loads from memory in flight.
		const rows = bf16zVecPanels * bf16Panel
		p.runGrain(n, rows, func(lo, hi int) {
			var tmp [bf16Panel]float32
			clear(out[lo:hi])
			j := lo
			for ; j+rows <= hi; j += rows {
				for l0 := 0; l0 < k; l0 += kBlockBF16P {
					bf16zVec(&w[j/bf16Panel*ps+32*l0], ps, &x[l0], 0, min(kBlockBF16P, k-l0), &out[j], 0)
				}
			}
			for ; j < hi; j += bf16Panel {
				r := min(bf16Panel, hi-j)
				o := out[j:hi]
				if r < bf16Panel {
					clear(tmp[:])
					o = tmp[:]
				}
				for l0 := 0; l0 < k; l0 += kBlockBF16P {
					one[1](&w[j/bf16Panel*ps+32*l0], ps, &x[l0], 0, min(kBlockBF16P, k-l0), &o[0], 0)
				}
				copy(out[j:hi], o[:r])
			}
		})
		return
	}
	p.runGrain(n, 2*bf16Panel, func(lo, hi int) {
		var tmp [maxBF16ZC * bf16Panel]float32
		for i0 := 0; i0 < m; i0 += mBlockBF16P {
			i1 := min(m, i0+mBlockBF16P)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for l0 := 0; l0 < k; l0 += kBlockBF16P {
				kc := min(kBlockBF16P, k-l0)
				for j := lo; j < hi; {
					pw := &w[j/bf16Panel*ps+32*l0]
					r := hi - j
					if r >= bf16Panel {
						tiles, first, last := one, one, one
						if r >= 2*bf16Panel {
							tiles, first, last = &bf16zTiles[2], &bf16zFirst, &bf16zLast
						}
						for i := i0; i < i1; {
							c := bf16zRows(i1-i0, i-i0)
							t := tiles
							if i == i0 {
								t = first
							}
							if i+c == i1 {
								t = last
							}
							t[c](pw, ps, &x[i*xk+l0], 4*xk, kc, &out[i*n+j], 4*n)
							i += c
						}
						j += bf16Panel
						if r >= 2*bf16Panel {
							j += bf16Panel
						}
						continue
					}
					// The last panel, with fewer than 16 rows: through tmp.
					for i := i0; i < i1; i += maxBF16ZC {
						c := min(maxBF16ZC, i1-i)
						for a := 0; a < c; a++ {
							copy(tmp[bf16Panel*a:bf16Panel*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						one[c](pw, ps, &x[i*xk+l0], 4*xk, kc, &tmp[0], 4*bf16Panel)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[bf16Panel*a:bf16Panel*a+r])
						}
					}
					j = hi
				}
			}
		}
	})
}
