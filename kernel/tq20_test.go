package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestTQ2032Generic: dotTQ2032Generic (the VNNI order) is the float64 product of the
// dequantized row with the dequantized activations within float32 rounding, on random rows
// of 1 to 9 super-blocks.
func TestTQ2032Generic(t *testing.T) {
	rng := rand.New(rand.NewPCG(181, 182))
	for nsb := 1; nsb <= 9; nsb++ {
		k := 256 * nsb
		w := randBlocks(rng, tensor.TQ2_0, 1, k)
		xq, xd, xf := quantRef(randVec(rng, k), 1, k)
		deq := make([]float32, k)
		if err := tensor.DecodeRow(deq, w.Data, tensor.TQ2_0); err != nil {
			t.Fatal(err)
		}
		var want, mag float64
		for i := range deq {
			want += float64(deq[i]) * float64(xf[i])
			mag += math.Abs(float64(deq[i]) * float64(xf[i]))
		}
		got := float64(dotTQ2032Generic(w.Data, xq, xd, nsb))
		if math.Abs(got-want) > 1e-5*mag+1e-30 {
			t.Errorf("nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", nsb, got, want, mag)
		}
	}
}

// TestTQ20Unpack: q2KTileGo on rows decoded by tq20Unpack8 gives dotTQ2032Generic's bits
// (1, 9 and 16 rows, 1 and 3 activation rows, a short last piece), and the assembly
// decoder (tq20Unpack512) writes tq20Unpack8's bytes in lanes 0..rows-1.
func TestTQ20Unpack(t *testing.T) {
	rng := rand.New(rand.NewPCG(183, 184))
	p := NewPool(1)
	defer p.Close()
	const nsb = 5
	k, nb := 256*nsb, 8*nsb
	rs, _ := tensor.TQ2_0.RowBytes(k)
	for _, rows := range []int{1, 9, 16} {
		for _, m := range []int{1, 3} {
			w := randBlocks(rng, tensor.TQ2_0, rows, k)
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
					tq20Unpack8(buf, w.Data, rs, 8*h, n, s0, sc)
					if tq20UnpackVec == nil {
						continue
					}
					tq20Unpack8Asm(asm, w.Data, rs, 8*h, n, s0, sc)
					for i := 0; i < 8*sc*q2KPBlock; i += 4 {
						if i%q2KPBlock < 352 && i%32/4 < n && leU32(asm[i:]) != leU32(buf[i:]) {
							t.Fatalf("rows=%d s0=%d half %d: byte %d of the decoded piece: asm %#x, plain Go %#x", rows, s0, h, i, leU32(asm[i:]), leU32(buf[i:]))
						}
					}
				}
				q2KTileGo(m, a, b, xp[s0*8*m*q2KXRow:], 8*sc, out, 16)
			}
			for i := 0; i < m; i++ {
				for r := 0; r < rows; r++ {
					if want := dotTQ2032Generic(w.Data[r*rs:], xq[i*k:], xd[i*nb:], nsb); out[16*i+r] != want {
						t.Fatalf("rows=%d m=%d: out[%d][%d] = %g, dotTQ2032Generic %g", rows, m, i, r, out[16*i+r], want)
					}
				}
			}
		}
	}
}

// TestMatMulTQ20VNNI: through MatMul (tq20Dot8AVX512 for m = 1, the tiles for m > 1), on
// ragged shapes and m = 1, 2, 3, 7, 16, 17, 130, every output is dotTQ2032Generic's bits,
// so each row's result is the same whatever m; once with every q 3 and activations of
// alternating sign at full scale.
func TestMatMulTQ20VNNI(t *testing.T) {
	if !tq20VNNIOn() {
		t.Skip("TQ2_0 does not take the VNNI order on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(185, 186))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range []struct {
		n, k int
		ext  bool
	}{{1, 256, false}, {7, 256 * 5, false}, {17, 512, false}, {40, 256 * 9, false}, {33, 2048, false}, {21, 256 * 3, true}} {
		w := randBlocks(rng, tensor.TQ2_0, sh.n, sh.k)
		rs, _ := tensor.TQ2_0.RowBytes(sh.k)
		if sh.ext {
			for sb := 0; sb < len(w.Data)/66; sb++ {
				for i := 0; i < 64; i++ {
					w.Data[66*sb+i] = 0xff
				}
			}
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
			name := fmt.Sprintf("n=%d k=%d m=%d", sh.n, sh.k, m)
		rows:
			for i := 0; i < m; i++ {
				for j := 0; j < sh.n; j++ {
					want := dotTQ2032Generic(w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
					if out[i*sh.n+j] != want {
						t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
						break rows
					}
				}
			}
		}
	}
}
