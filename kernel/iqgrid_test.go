package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// iqGridTypes are the types of the VNNI order of iqgrid.go.
var iqGridTypes = []tensor.DType{tensor.IQ3_XXS, tensor.IQ2_XXS, tensor.IQ3_S, tensor.IQ2_S}

// gridBlocks returns n rows of k weights of type dt: random bytes (randBlocks) where fill
// < 0, else every byte fill but d (fill 0xff: the last grid entry, every sign negative,
// scales 15; 0: the first entry, signs positive, scales 0).
func gridBlocks(rng *rand.Rand, dt tensor.DType, n, k, fill int) *tensor.Tensor {
	w := randBlocks(rng, dt, n, k)
	if fill < 0 {
		return w
	}
	bb := dt.BlockBytes()
	for b := 0; b < len(w.Data)/bb; b++ {
		blk := w.Data[b*bb : (b+1)*bb]
		for i := 2; i < bb; i++ {
			blk[i] = byte(fill)
		}
	}
	return w
}

// gridX returns m·k activations: random, or where fill is ±1 every value fill (so that
// QuantizeQ8 gives ±127).
func gridX(rng *rand.Rand, m, k, fill int) []float32 {
	x := randVec(rng, m*k)
	if fill != 0 {
		for i := range x {
			x[i] = float32(fill)
		}
	}
	return x
}

// TestGrid32Generic: dotGrid32Generic (the VNNI order) is the float64 product of the
// dequantized row with the dequantized activations within float32 rounding, for each type
// on random rows of 1 to 9 super-blocks and on rows of extreme grid entries, signs and
// scales against activations ±127.
func TestGrid32Generic(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, dt := range iqGridTypes {
		for _, c := range []struct{ fill, xfill int }{{-1, 0}, {0xff, 1}, {0xff, -1}, {0, 1}} {
			for nsb := 1; nsb <= 9; nsb += 2 {
				k := 256 * nsb
				w := gridBlocks(rng, dt, 1, k, c.fill)
				xq, xd, xf := quantRef(gridX(rng, 1, k, c.xfill), 1, k)
				deq := make([]float32, k)
				if err := tensor.DecodeRow(deq, w.Data, dt); err != nil {
					t.Fatal(err)
				}
				var want, mag float64
				for i := range deq {
					want += float64(deq[i]) * float64(xf[i])
					mag += math.Abs(float64(deq[i]) * float64(xf[i]))
				}
				got := float64(dotGrid32Generic(dt, w.Data, xq, xd, nsb))
				if math.Abs(got-want) > 1e-5*mag+1e-30 {
					t.Errorf("%v fill %d x %d nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", dt, c.fill, c.xfill, nsb, got, want, mag)
				}
			}
		}
	}
}

// TestGridUnpack8: gridUnpack8 writes each weight as u = q + 64 (q: tensor.Unpacker's
// signed grid value), the halves' scales 2s+1 and d·dmul in the q6KPBlock format, for 1 to
// 8 rows and pieces starting past the row's first super-block, and leaves the other lanes;
// the assembly unpackers write its bytes in lanes 0..rows-1.
func TestGridUnpack8(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	const n, nsb = 11, 7
	k := 256 * nsb
	q := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	want := make([]byte, kp512KB*8*q6KPBlock)
	got := make([]byte, len(want))
	for _, dt := range iqGridTypes {
		bb := dt.BlockBytes()
		unpack := tensor.Unpacker(dt)
		rs, _ := dt.RowBytes(k)
		for _, fill := range []int{-1, 0xff} {
			w := gridBlocks(rng, dt, n, k, fill)
			for _, rows := range []int{1, 3, 8} {
				for _, s0 := range []int{0, 3} {
					for _, sc := range []int{1, kp512KB} {
						j := n - rows
						for i := range want {
							want[i] = 0xa5
						}
						gridUnpack8(dt, want, w.Data, rs, j, rows, s0, sc)
						for r := 0; r < 8; r++ {
							for s := 0; s < sc; s++ {
								for ib := 0; ib < 8 && r >= rows; ib++ {
									if o := want[(8*s+ib)*q6KPBlock:]; o[4*r] != 0xa5 || o[352+4*r] != 0xa5 {
										t.Fatalf("%v rows=%d: lane %d written", dt, rows, r)
									}
								}
								if r >= rows {
									continue
								}
								blk := w.Data[(j+r)*rs+(s0+s)*bb:][:bb]
								unpack(q, sf, mn, blk)
								scl, dmul := gridScales(dt, blk)
								for ib := 0; ib < 8; ib++ {
									o := want[(8*s+ib)*q6KPBlock:]
									name := fmt.Sprintf("%v fill %d rows=%d s0=%d row %d block %d", dt, fill, rows, s0, r, 8*(s0+s)+ib)
									if got, want := math.Float32frombits(leU32(o[352+4*r:])), f16At(blk, 0)*dmul; got != want {
										t.Fatalf("%s: d·dmul %g, want %g", name, got, want)
									}
									for h := 0; h < 2; h++ {
										want := uint32(scl[2*ib+h])
										if leU32(o[256+32*h+4*r:]) != want*0x10001 || leU32(o[320+4*r:])>>(16*h)&0xffff != want {
											t.Fatalf("%s: half %d: scale words %#x %#x, want %d", name, h, leU32(o[256+32*h+4*r:]), leU32(o[320+4*r:]), want)
										}
									}
									for e := 0; e < 32; e++ {
										if got, want := int(o[32*(e/4)+4*r+e%4])-64, int(q[32*ib+e]); got != want {
											t.Fatalf("%s: value %d: u-64 = %d, want %d", name, e, got, want)
										}
									}
								}
							}
						}
						f := iqGrid(dt)
						if f == nil {
							continue
						}
						gridUnpack8Asm(f, bb, got, w.Data, rs, j, rows, s0, sc)
						for b := 0; b < 8*sc; b++ {
							for o := 0; o < q6KPBlock; o += 4 {
								if o%32/4 >= rows {
									continue // lane past the rows
								}
								i := b*q6KPBlock + o
								if leU32(got[i:]) != leU32(want[i:]) {
									t.Fatalf("%v assembly fill %d rows=%d s0=%d sc=%d block %d byte %d: %#x, plain Go %#x", dt, fill, rows, s0, sc, b, o, leU32(got[i:]), leU32(want[i:]))
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulGridVNNI: through MatMul, for each type on ragged shapes (n not a multiple of
// 16 or 8; k = 256, 512, 256·odd), m = 1, 2, 3, 7, 16, 17, 130, random and extreme
// weights and activations, every output is dotGrid32Generic's bits where the type takes
// the VNNI order (so each row's result is the same whatever m), and the one-row kernel
// alone gives them too.
func TestMatMulGridVNNI(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	p := NewPool(2)
	defer p.Close()
	ran := false
	for _, dt := range iqGridTypes {
		f := iqGrid(dt)
		if f == nil {
			continue
		}
		ran = true
		rs0 := dt.BlockBytes()
		for si, sh := range []struct{ n, k int }{{1, 256}, {7, 256 * 5}, {17, 512}, {40, 256 * 9}, {33, 256 * 3}} {
			fill, xfill := -1, 0
			if si == 4 {
				fill, xfill = 0xff, -1
			}
			w := gridBlocks(rng, dt, sh.n, sh.k, fill)
			rs := rs0 * sh.k / 256
			for _, m := range []int{1, 2, 3, 7, 16, 17, 130} {
				if m == 130 && sh.k > 1280 {
					continue
				}
				x := gridX(rng, m, sh.k, xfill)
				out := make([]float32, m*sh.n)
				if err := p.MatMul(out, x, m, w); err != nil {
					t.Fatal(err)
				}
				xq, xd, _ := quantRef(x, m, sh.k)
				nb := sh.k / 32
				name := fmt.Sprintf("%v n=%d k=%d m=%d", dt, sh.n, sh.k, m)
			rows:
				for i := 0; i < m; i++ {
					for j := 0; j < sh.n; j++ {
						want := dotGrid32Generic(dt, w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
						if out[i*sh.n+j] != want {
							t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
							break rows
						}
						if i == 0 {
							if got := f.dot(&w.Data[j*rs], &xq[0], &xd[0], sh.k/256); got != want {
								t.Errorf("%s: row %d: one-row kernel %g, plain Go %g", name, j, got, want)
								break rows
							}
						}
					}
				}
			}
		}
	}
	if !ran {
		t.Skip("no type takes the VNNI order on this CPU or build")
	}
}

// TestIQGridPaths: where a type takes the VNNI order, the dispatch table names its
// kernels for one activation row and for several.
func TestIQGridPaths(t *testing.T) {
	for _, dt := range iqGridTypes {
		one, many := MatMulPath(dt, false, 1), MatMulPath(dt, false, 16)
		on := iqGridOn(dt) && useAsm
		if got := strings.Contains(one.Kernel, "iqgrid") && strings.Contains(many.Kernel, "iqgrid"); got != on {
			t.Errorf("%v: VNNI order %v, but paths %v and %v", dt, on, one, many)
		}
	}
}
