package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// lowBitExtreme sets every super-block of w (rows of t) to its extreme values: TQ2_0 all
// q 3, TQ1_0 all digits 2 (bytes 0xff decode to 2 in every position), Q8_K alternately
// -128 and 127 by block of 32.
func lowBitExtreme(t *lowBit, data []byte) {
	for sb := 0; sb < len(data)/t.sb; sb++ {
		blk := data[sb*t.sb : (sb+1)*t.sb]
		switch t.dt {
		case tensor.TQ2_0:
			for i := 0; i < 64; i++ {
				blk[i] = 0xff
			}
		case tensor.TQ1_0:
			for i := 0; i < 52; i++ {
				blk[i] = 0xff
			}
		case tensor.Q8_K:
			for i := 0; i < 256; i++ {
				blk[4+i] = []byte{0x80, 0x7f}[i/32%2] // -128 and 127
			}
		}
	}
}

// TestLowBit32Generic: dot32Generic (the VNNI order) of TQ2_0, TQ1_0 and Q8_K is the
// float64 product of the dequantized row with the dequantized activations within float32
// rounding, on random rows of 1 to 9 super-blocks and on extreme rows.
func TestLowBit32Generic(t *testing.T) {
	for ti, lb := range lowBits {
		rng := rand.New(rand.NewPCG(181, uint64(182+ti)))
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			w := randBlocks(rng, lb.dt, 1, k)
			if nsb == 9 {
				lowBitExtreme(lb, w.Data)
			}
			xq, xd, xf := quantRef(randVec(rng, k), 1, k)
			deq := make([]float32, k)
			if err := tensor.DecodeRow(deq, w.Data, lb.dt); err != nil {
				t.Fatal(err)
			}
			var want, mag float64
			for i := range deq {
				want += float64(deq[i]) * float64(xf[i])
				mag += math.Abs(float64(deq[i]) * float64(xf[i]))
			}
			got := float64(lb.dot32Generic(w.Data, xq, xd, nsb))
			if math.Abs(got-want) > 1e-5*mag+1e-30 {
				t.Errorf("%s nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", lb.dt, nsb, got, want, mag)
			}
		}
	}
}

// TestLowBitUnpack: q2KTileGo on rows decoded by unpack8 gives dot32Generic's bits (1, 9
// and 16 rows, 1 and 3 activation rows, a short last piece), and the assembly decoder
// (unpackVec, where the CPU has it) writes unpack8's bytes in lanes 0..rows-1, for TQ2_0,
// TQ1_0 and Q8_K.
func TestLowBitUnpack(t *testing.T) {
	p := NewPool(1)
	defer p.Close()
	const nsb = 5
	k, nb := 256*nsb, 8*nsb
	for ti, lb := range lowBits {
		rng := rand.New(rand.NewPCG(183, uint64(184+ti)))
		rs, _ := lb.dt.RowBytes(k)
		for _, rows := range []int{1, 9, 16} {
			for _, m := range []int{1, 3} {
				w := randBlocks(rng, lb.dt, rows, k)
				xq, xd, _ := quantRef(randVec(rng, m*k), m, k)
				xp := make([]byte, m*nb*q2KXRow)
				p.q2KPrep(xp, &quantScratch{q: xq, d: xd}, m, nb)
				out := make([]float32, m*16)
				a, b := make([]byte, kp512KB*8*q2KPBlock), make([]byte, kp512KB*8*q2KPBlock)
				asm := make([]byte, len(a))
				for s0 := 0; s0 < nsb; s0 += kp512KB {
					sc := min(kp512KB, nsb-s0)
					for h, buf := range [][]byte{a, b} {
						n := min(8, rows-8*h)
						if n <= 0 {
							continue
						}
						lb.unpack8(buf, w.Data, rs, 8*h, n, s0, sc)
						if lb.unpackVec == nil {
							continue
						}
						lb.unpack8Asm(asm, w.Data, rs, 8*h, n, s0, sc)
						for i := 0; i < 8*sc*q2KPBlock; i += 4 {
							if i%q2KPBlock < 352 && i%32/4 < n && leU32(asm[i:]) != leU32(buf[i:]) {
								t.Fatalf("%s rows=%d s0=%d half %d: byte %d of the decoded piece: asm %#x, plain Go %#x", lb.dt, rows, s0, h, i, leU32(asm[i:]), leU32(buf[i:]))
							}
						}
					}
					q2KTileGo(m, a, b, xp[s0*8*m*q2KXRow:], 8*sc, out, 16)
				}
				for i := 0; i < m; i++ {
					for r := 0; r < rows; r++ {
						if want := lb.dot32Generic(w.Data[r*rs:], xq[i*k:], xd[i*nb:], nsb); out[16*i+r] != want {
							t.Fatalf("%s rows=%d m=%d: out[%d][%d] = %g, dot32Generic %g", lb.dt, rows, m, i, r, out[16*i+r], want)
						}
					}
				}
			}
		}
	}
}

// TestMatMulLowBitVNNI: through MatMul (the one-row kernels for m = 1, the tiles for m >
// 1), on ragged shapes and m = 1, 2, 3, 7, 16, 17, 130, every TQ2_0, TQ1_0 and Q8_K output
// is dot32Generic's bits, so each row's result is the same whatever m; once with extreme
// weights (lowBitExtreme) and activations of alternating sign at full scale.
func TestMatMulLowBitVNNI(t *testing.T) {
	if !tq20.on() || !tq10.on() || !q8K.on() {
		t.Skip("TQ2_0, TQ1_0 and Q8_K do not take the VNNI order on this CPU or build")
	}
	p := NewPool(2)
	defer p.Close()
	for ti, lb := range lowBits {
		rng := rand.New(rand.NewPCG(185, uint64(186+ti)))
		for _, sh := range []struct {
			n, k int
			ext  bool
		}{{1, 256, false}, {7, 256 * 5, false}, {17, 512, false}, {40, 256 * 9, false}, {33, 2048, false}, {21, 256 * 3, true}} {
			w := randBlocks(rng, lb.dt, sh.n, sh.k)
			rs, _ := lb.dt.RowBytes(sh.k)
			if sh.ext {
				lowBitExtreme(lb, w.Data)
			}
			for _, m := range []int{1, 2, 3, 7, 16, 17, 130} {
				if m == 130 && sh.k > 2048 {
					continue
				}
				x := randVec(rng, m*sh.k)
				if sh.ext {
					for i := range x {
						x[i] = float32(1 - 2*(i/32%2))
					}
				}
				out := make([]float32, m*sh.n)
				if err := p.MatMul(out, x, m, w); err != nil {
					t.Fatal(err)
				}
				xq, xd, _ := quantRef(x, m, sh.k)
				nb := sh.k / 32
				name := fmt.Sprintf("%s n=%d k=%d m=%d", lb.dt, sh.n, sh.k, m)
			rows:
				for i := 0; i < m; i++ {
					for j := 0; j < sh.n; j++ {
						want := lb.dot32Generic(w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
						if out[i*sh.n+j] != want {
							t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
							break rows
						}
					}
				}
			}
		}
	}
}
