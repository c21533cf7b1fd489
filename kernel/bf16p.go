package kernel

import (
	"encoding/binary"
	"math"
)

// BF16 panels. On a CPU whose fastest BF16 kernels are the AVX2 ones, Pool.Pack lays out
// a bfloat16 matrix of n rows of k values again in panels of 16 rows (the last one padded
// with zero rows), each panel 32·k bytes, element after element: for element l, 32 bytes
// whose little-endian uint32 i holds row i's value in its low half and row 8+i's in its
// high half (packBF16Panel). Shifting such a word left by 16 bits gives row i's value as
// float32, masking off its low half row 8+i's, both exactly; the kernels (dotBF16P_16xC)
// then multiply the 16 rows with C activation rows as an outer product, broadcasting each
// activation against 16 weights, with no horizontal sums and two loads per 2·C fused
// multiply-adds.
//
// Results stay float32-exact in the sense of the other float kernels: weights widened
// exactly, activations used at full float32, products and sums in float32 with fused
// multiply-adds. Each output sums its elements in kBlockBF16P pieces: within a piece one
// fused multiply-add chain in element order from zero, then the piece's sum added to the
// output. That order is the same for every number of activation rows, so a row's results
// do not depend on m (TestMatMulRowInvariance).
const (
	bf16Panel   = 16
	kBlockBF16P = 512 // elements per piece: a panel's piece (16 KiB) stays in L1
	mBlockBF16P = 128 // activation rows per block: their pieces (256 KiB) stay in L2
	maxBF16PC   = 6   // activation rows per tile
)

// bf16pTiles[C] (C ≤ maxBF16PC) adds the 16×C products of a panel (w, kc elements from
// the piece's start) and C activation rows (stride xs bytes) to out[c*os/4+r]; set at
// start-up where the CPU has AVX2 and FMA.
var bf16pTiles [maxBF16PC + 1]func(w *byte, x *float32, xs int, k int, out *float32, os int)

// bf16pVec is bf16pTiles[1] for bf16pVecPanels panels at once (panel p at w + p·ps bytes,
// its outputs at out[16p:]), with the same results.
var bf16pVec func(w *byte, ps int, x *float32, k int, out *float32)

const bf16pVecPanels = 4

// bf16PanelsOn reports whether Pack lays out BF16 matrices in panels: where the panel
// kernels are the fastest this CPU has for BF16 (no AMX; the AVX-512 pair panels of
// bf16z.go, or the AVX2 panels where there is no AVX-512). MatMul reads a BF16 matrix's
// Packed as panels exactly when this holds, so it must not change between Pack and
// MatMul (the hooks it reads are set at start-up; tests that clear them do so around
// weights they have not packed).
func bf16PanelsOn() bool {
	return useAsm && matMulBF16AMX == nil &&
		(bf16zTiles[1][1] != nil || bf16pTiles[1] != nil && matMulFloatWide == nil)
}

// bf16Pairs reports whether the panels are pair panels (bf16z.go: the AVX-512 kernels)
// rather than the AVX2 kernels' panels.
func bf16Pairs() bool { return bf16zTiles[1][1] != nil }

// bf16PanelStride is the size in bytes of one panel of 16 rows of k values: 32·k, or
// for pair panels 64 bytes per element pair (the last one half zero for odd k).
func bf16PanelStride(k int) int {
	if bf16Pairs() {
		return 64 * ((k + 1) / 2)
	}
	return 32 * k
}

// bf16PanelBytes is the size of the panels of a BF16 matrix of n rows of k values.
func bf16PanelBytes(n, k int) int { return (n + bf16Panel - 1) / bf16Panel * bf16PanelStride(k) }

// packBF16Panel writes panel g of a BF16 matrix (rows of k values, rs bytes each, n rows)
// to dst (bf16PanelStride(k) bytes), zeros for rows past n (and for pair panels of odd
// k, for the missing element of the last pair).
func packBF16Panel(dst, data []byte, rs, n, k, g int) {
	le := binary.LittleEndian
	var src [bf16Panel][]byte
	for r := range src {
		if j := bf16Panel*g + r; j < n {
			src[r] = data[j*rs : j*rs+2*k]
		}
	}
	if bf16Pairs() {
		packBF16Pairs(dst, &src, k)
		return
	}
	for l := 0; l < k; l++ {
		o := dst[32*l : 32*l+32]
		for i := 0; i < 8; i++ {
			var lo, hi uint16
			if src[i] != nil {
				lo = le.Uint16(src[i][2*l:])
			}
			if src[8+i] != nil {
				hi = le.Uint16(src[8+i][2*l:])
			}
			le.PutUint32(o[4*i:], uint32(lo)|uint32(hi)<<16)
		}
	}
}

// bf16PanelAt returns element l of row r of a panel as float32.
func bf16PanelAt(panel []byte, r, l int) float32 {
	if bf16Pairs() {
		v := binary.LittleEndian.Uint32(panel[64*(l/2)+4*r:])
		if l%2 == 0 {
			return math.Float32frombits(v << 16)
		}
		return math.Float32frombits(v &^ 0xffff)
	}
	v := binary.LittleEndian.Uint32(panel[32*l+4*(r%8):])
	if r < 8 {
		return math.Float32frombits(v << 16)
	}
	return math.Float32frombits(v &^ 0xffff)
}

// matMulBF16Panels is MatMul for a BF16 matrix of n rows of k values laid out in panels
// (w, see packBF16Panel). The pieces of kBlockBF16P elements of mBlockBF16P activation
// rows stay in the L2 cache while every panel of the thread's rows is multiplied with
// them, up to maxBF16PC rows at a time.
func (p *Pool) matMulBF16Panels(out, x []float32, m, n, k int, w []byte) {
	if bf16Pairs() {
		p.matMulBF16Z(out, x, m, n, k, w)
		return
	}
	tiles := &bf16pTiles
	ps := 32 * k // bytes per panel
	if m == 1 {
		// A matrix-vector product: bf16pVecPanels panels at a time, so that their
		// independent chains keep the loads from memory in flight.
		const rows = bf16pVecPanels * bf16Panel
		p.runGrain(n, rows, func(lo, hi int) {
			var tmp [bf16Panel]float32
			clear(out[lo:hi])
			j := lo
			for ; j+rows <= hi; j += rows {
				for l0 := 0; l0 < k; l0 += kBlockBF16P {
					bf16pVec(&w[j/bf16Panel*ps+32*l0], ps, &x[l0], min(kBlockBF16P, k-l0), &out[j])
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
					bf16pTiles[1](&w[j/bf16Panel*ps+32*l0], &x[l0], 0, min(kBlockBF16P, k-l0), &o[0], 0)
				}
				copy(out[j:hi], o[:r])
			}
		})
		return
	}
	p.runGrain(n, bf16Panel, func(lo, hi int) {
		var tmp [maxBF16PC * bf16Panel]float32
		for i0 := 0; i0 < m; i0 += mBlockBF16P {
			i1 := min(m, i0+mBlockBF16P)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for l0 := 0; l0 < k; l0 += kBlockBF16P {
				kc := min(kBlockBF16P, k-l0)
				for j := lo; j < hi; j += bf16Panel {
					r := min(bf16Panel, hi-j)
					pw := &w[j/bf16Panel*ps+32*l0]
					for i := i0; i < i1; i += maxBF16PC {
						c := min(maxBF16PC, i1-i)
						if r == bf16Panel {
							tiles[c](pw, &x[i*k+l0], 4*k, kc, &out[i*n+j], 4*n)
							continue
						}
						// The last panel, with fewer than 16 rows: through tmp.
						for a := 0; a < c; a++ {
							copy(tmp[bf16Panel*a:bf16Panel*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						tiles[c](pw, &x[i*k+l0], 4*k, kc, &tmp[0], 4*bf16Panel)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[bf16Panel*a:bf16Panel*a+r])
						}
					}
				}
			}
		}
	})
}

// matMulBF16PanelsGo is the plain Go twin of matMulBF16Panels (one thread), summing each
// output in the same pieces with float32 fused multiply-adds, for the tests.
func matMulBF16PanelsGo(out, x []float32, m, n, k int, w []byte) {
	ps := bf16PanelStride(k)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			panel := w[j/bf16Panel*ps : (j/bf16Panel+1)*ps]
			var s float32
			for l0 := 0; l0 < k; l0 += kBlockBF16P {
				var acc float32
				for l := l0; l < min(k, l0+kBlockBF16P); l++ {
					acc = fmaF32(bf16PanelAt(panel, j%bf16Panel, l), x[i*k+l], acc)
				}
				s += acc
			}
			out[i*n+j] = s
		}
	}
}
