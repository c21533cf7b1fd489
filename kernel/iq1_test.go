package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// iq1Types are the types of the VNNI order of iq1.go.
var iq1Types = []tensor.DType{tensor.IQ1_S, tensor.IQ1_M}

// iq1Blocks returns n rows of k weights of type dt (IQ1_S or IQ1_M): random bytes
// (randBlocks) where fill < 0, else every byte fill but d (fill 0xff: the last grid entry,
// every shift -1, scales 7; 0: the first entry, shifts +1, scales 0).
func iq1Blocks(rng *rand.Rand, dt tensor.DType, n, k, fill int) *tensor.Tensor {
	w := randBlocks(rng, dt, n, k)
	if fill < 0 {
		return w
	}
	bb := dt.BlockBytes()
	for b := 0; b < len(w.Data)/bb; b++ {
		blk := w.Data[b*bb : (b+1)*bb]
		if dt == tensor.IQ1_S {
			for i := 2; i < bb; i++ {
				blk[i] = byte(fill)
			}
			continue
		}
		for i := 0; i < 48; i++ {
			blk[i] = byte(fill)
		}
		for i := 0; i < 4; i++ { // keep d's nibbles
			v := binary.LittleEndian.Uint16(blk[48+2*i:])&0xf000 | uint16(fill*0x101)&0x0fff
			binary.LittleEndian.PutUint16(blk[48+2*i:], v)
		}
	}
	return w
}

// TestIQ132Generic: dotIQ132Generic (the VNNI order) is the float64 product of the
// dequantized row (tensor.DecodeRow, llama.cpp's dequantization) with the dequantized
// activations within float32 rounding, for IQ1_S and IQ1_M on random rows of 1 to 9
// super-blocks and on rows of extreme grid entries, shifts and scales against activations
// ±127.
func TestIQ132Generic(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for _, dt := range iq1Types {
		for _, c := range []struct{ fill, xfill int }{{-1, 0}, {0xff, 1}, {0xff, -1}, {0, 1}, {0, -1}} {
			for nsb := 1; nsb <= 9; nsb += 2 {
				k := 256 * nsb
				w := iq1Blocks(rng, dt, 1, k, c.fill)
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
				got := float64(dotIQ132Generic(dt, w.Data, xq, xd, nsb))
				if math.Abs(got-want) > 1e-5*mag+1e-30 {
					t.Errorf("%v fill %d x %d nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", dt, c.fill, c.xfill, nsb, got, want, mag)
				}
			}
		}
	}
}

// TestIQ1Unpack8: gridUnpack8 writes each weight as u = v + 64 (v: tensor.Unpacker's
// 8·g ± 1), the halves' scales 2s+1 and d/8 in the q6KPBlock format, for 1 to 8 rows and
// pieces starting past the row's first super-block, and leaves the other lanes; the
// assembly unpackers write its bytes in lanes 0..rows-1.
func TestIQ1Unpack8(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	const n, nsb = 11, 7
	k := 256 * nsb
	q := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	want := make([]byte, kp512KB*8*q6KPBlock)
	got := make([]byte, len(want))
	for _, dt := range iq1Types {
		bb := dt.BlockBytes()
		unpack := tensor.Unpacker(dt)
		rs, _ := dt.RowBytes(k)
		for _, fill := range []int{-1, 0xff, 0} {
			w := iq1Blocks(rng, dt, n, k, fill)
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
								for ib := 0; ib < 8; ib++ {
									o := want[(8*s+ib)*q6KPBlock:]
									name := fmt.Sprintf("%v fill %d rows=%d s0=%d row %d block %d", dt, fill, rows, s0, r, 8*(s0+s)+ib)
									d8 := iq1D(dt, blk)
									if got := math.Float32frombits(leU32(o[352+4*r:])); got != d8 {
										t.Fatalf("%s: d/8 %g, want %g", name, got, d8)
									}
									for h := 0; h < 2 && d8 != 0; h++ {
										// tensor.Unpacker's scale is d·(2s+1)/8: 2s+1 is it over d/8.
										want := uint32(sf[2*ib+h] / d8)
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
						f := iq1Fns(dt)
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

// TestMatMulIQ1VNNI: through MatMul, for IQ1_S and IQ1_M on ragged shapes (n = 1, 7, 17,
// 33, 40: not multiples of 16 or 8; k = 256, 512, 256·odd), m = 1, 2, 3, 7, 16, 17, 130,
// random and extreme weights and activations, every output is dotIQ132Generic's bits
// where the type takes the VNNI order (so each row's result is the same whatever m), and
// the one-row kernel and the two-row kernel alone give them too.
func TestMatMulIQ1VNNI(t *testing.T) {
	rng := rand.New(rand.NewPCG(85, 86))
	p := NewPool(2)
	defer p.Close()
	ran := false
	for _, dt := range iq1Types {
		f := iq1Fns(dt)
		if f == nil {
			continue
		}
		ran = true
		rs0 := dt.BlockBytes()
		for si, sh := range []struct{ n, k int }{{1, 256}, {7, 256 * 5}, {17, 512}, {40, 256 * 9}, {33, 256 * 3}, {17, 256}} {
			fill, xfill := -1, 0
			switch si {
			case 4:
				fill, xfill = 0xff, -1
			case 5:
				fill, xfill = 0, 1
			}
			w := iq1Blocks(rng, dt, sh.n, sh.k, fill)
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
				nb, nsb := sh.k/32, sh.k/256
				name := fmt.Sprintf("%v n=%d k=%d m=%d", dt, sh.n, sh.k, m)
			rows:
				for i := 0; i < m; i++ {
					for j := 0; j < sh.n; j++ {
						want := dotIQ132Generic(dt, w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], nsb)
						if out[i*sh.n+j] != want {
							t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
							break rows
						}
						if i > 0 {
							continue
						}
						if got := f.dot(&w.Data[j*rs], &xq[0], &xd[0], nsb); got != want {
							t.Errorf("%s: row %d: one-row kernel %g, plain Go %g", name, j, got, want)
							break rows
						}
						if j+1 < sh.n {
							var two [2]float32
							f.dot2(&w.Data[j*rs], rs, &xq[0], &xd[0], nsb, &two[0])
							want1 := dotIQ132Generic(dt, w.Data[(j+1)*rs:(j+2)*rs], xq[:sh.k], xd[:nb], nsb)
							if two[0] != want || two[1] != want1 {
								t.Errorf("%s: rows %d, %d: two-row kernel %g, %g, plain Go %g, %g", name, j, j+1, two[0], two[1], want, want1)
								break rows
							}
						}
					}
				}
			}
		}
	}
	if !ran {
		t.Skip("IQ1_S and IQ1_M do not take the VNNI order on this CPU or build")
	}
}

// TestIQ1Paths: where IQ1_S and IQ1_M take the VNNI order, the dispatch table names its
// kernels for one activation row and for several, and otherwise names others.
func TestIQ1Paths(t *testing.T) {
	for _, dt := range iq1Types {
		one, many := MatMulPath(dt, false, 1), MatMulPath(dt, false, 16)
		on := iq1On(dt) && useAsm
		if got := strings.Contains(one.Kernel, "(iq1") && strings.Contains(many.Kernel, "(iq1"); got != on {
			t.Errorf("%v: VNNI order %v, but paths %v and %v", dt, on, one, many)
		}
	}
}
