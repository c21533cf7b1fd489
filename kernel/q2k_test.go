package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestQ2K32Generic: dotQ2K32Generic (the VNNI order) is the float64 product of the
// dequantized row with the dequantized activations within float32 rounding, on random rows
// of 1 to 9 super-blocks (random bytes: every scale, min and value).
func TestQ2K32Generic(t *testing.T) {
	rng := rand.New(rand.NewPCG(161, 162))
	for nsb := 1; nsb <= 9; nsb++ {
		k := 256 * nsb
		w := randBlocks(rng, tensor.Q2_K, 1, k)
		xq, xd, xf := quantRef(randVec(rng, k), 1, k)
		deq := make([]float32, k)
		if err := tensor.DecodeRow(deq, w.Data, tensor.Q2_K); err != nil {
			t.Fatal(err)
		}
		var want, mag float64
		for i := range deq {
			want += float64(deq[i]) * float64(xf[i])
			mag += math.Abs(float64(deq[i]) * float64(xf[i]))
		}
		got := float64(dotQ2K32Generic(w.Data, xq, xd, nsb))
		if math.Abs(got-want) > 1e-5*mag+1e-30 {
			t.Errorf("nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", nsb, got, want, mag)
		}
	}
}

// TestQ2KTileGo: q2KTileGo on rows decoded by q2KUnpack8 (pieces of 1 to kp512KB
// super-blocks, 1 to 16 rows) and activations laid out by q2KPrep gives dotQ2K32Generic's
// bits for every row, so the format and the plain tile are the order's.
func TestQ2KTileGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(163, 164))
	p := NewPool(1)
	defer p.Close()
	const nsb = 5
	k, nb := 256*nsb, 8*nsb
	rs, _ := tensor.Q2_K.RowBytes(k)
	for _, rows := range []int{1, 9, 16} {
		for _, m := range []int{1, 3, 8} {
			w := randBlocks(rng, tensor.Q2_K, rows, k)
			x := randVec(rng, m*k)
			xq, xd, _ := quantRef(x, m, k)
			s := &quantScratch{q: xq, d: xd}
			xp := make([]byte, m*nb*q2KXRow)
			p.q2KPrep(xp, s, m, nb)
			out := make([]float32, m*16)
			a, b := make([]byte, kp512KB*8*q2KPBlock), make([]byte, kp512KB*8*q2KPBlock)
			for s0 := 0; s0 < nsb; s0 += kp512KB {
				sc := min(kp512KB, nsb-s0)
				q2KUnpack8(a, w.Data, rs, 0, min(8, rows), s0, sc)
				if rows > 8 {
					q2KUnpack8(b, w.Data, rs, 8, rows-8, s0, sc)
				}
				q2KTileGo(m, a, b, xp[s0*8*m*q2KXRow:], 8*sc, out, 16)
			}
			for i := 0; i < m; i++ {
				for r := 0; r < rows; r++ {
					want := dotQ2K32Generic(w.Data[r*rs:], xq[i*k:], xd[i*nb:], nsb)
					if out[16*i+r] != want {
						t.Fatalf("rows=%d m=%d: out[%d][%d] = %g, dotQ2K32Generic %g", rows, m, i, r, out[16*i+r], want)
					}
				}
			}
		}
	}
}

// TestQ2KUnpackAsm: the assembly decoder (q2KUnpack512) writes q2KUnpack8's bytes in lanes
// 0..rows-1 for 1 to 8 rows, pieces of 1 to kp512KB super-blocks starting past the first.
func TestQ2KUnpackAsm(t *testing.T) {
	if q2KUnpackVec == nil {
		t.Skip("no assembly Q2_K decoder on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(165, 166))
	const n, nsb = 11, 7
	k := 256 * nsb
	w := randBlocks(rng, tensor.Q2_K, n, k)
	rs, _ := tensor.Q2_K.RowBytes(k)
	want := make([]byte, kp512KB*8*q2KPBlock)
	got := make([]byte, len(want))
	for _, rows := range []int{1, 2, 5, 8} {
		for _, s0 := range []int{0, 3} {
			for _, sc := range []int{1, kp512KB} {
				j := n - rows
				q2KUnpack8(want, w.Data, rs, j, rows, s0, sc)
				q2KUnpack8Asm(got, w.Data, rs, j, rows, s0, sc)
				for b := 0; b < 8*sc; b++ {
					for o := 0; o < 352; o += 4 {
						if o%32/4 >= rows {
							continue // lane past the rows
						}
						i := b*q2KPBlock + o
						if leU32(got[i:]) != leU32(want[i:]) {
							t.Fatalf("rows=%d s0=%d sc=%d block %d byte %d: %#x, plain Go %#x", rows, s0, sc, b, o, leU32(got[i:]), leU32(want[i:]))
						}
					}
				}
			}
		}
	}
}

// TestQ2KTileAsm: the tiles q2KTile512x1..8 give q2KTileGo's bits on random decoded
// blocks (values 0..45, mins 0..15, d and dmin of both signs) and activations, extremes
// (-128, 127 and the largest block sums) included, added to nonzero outputs.
func TestQ2KTileAsm(t *testing.T) {
	if q2KTiles512 == nil {
		t.Skip("no AVX-512 VNNI Q2_K tiles on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(167, 168))
	le := binary.LittleEndian
	for c := 1; c <= q2KC; c++ {
		for _, nb := range []int{1, 8, 13} {
			for _, ext := range []bool{false, true} {
				a, b := make([]byte, nb*q2KPBlock), make([]byte, nb*q2KPBlock)
				for _, buf := range [][]byte{a, b} {
					for blk := 0; blk < nb; blk++ {
						o := buf[blk*q2KPBlock:]
						for e := 0; e < 256; e++ {
							o[e] = byte(rng.IntN(4) * rng.IntN(16))
							if ext {
								o[e] = 45
							}
						}
						for r := 0; r < 8; r++ {
							for h := 0; h < 2; h++ {
								mn := uint16(rng.IntN(16))
								if ext {
									mn = 15
								}
								le.PutUint16(o[256+4*r+2*h:], mn)
							}
							le.PutUint32(o[288+4*r:], math.Float32bits((rng.Float32()-0.3)*0.02))
							le.PutUint32(o[320+4*r:], math.Float32bits((rng.Float32()-0.3)*0.02))
						}
					}
				}
				x := make([]byte, nb*c*q2KXRow)
				for i := range x {
					x[i] = byte(rng.Uint32())
				}
				for e := 0; e < nb*c; e++ {
					o := x[e*q2KXRow:]
					if ext {
						v := byte(0x80)
						if e%2 == 1 {
							v = 127
						}
						for i := 0; i < 32; i++ {
							o[i] = v
						}
					}
					le.PutUint32(o[32:], math.Float32bits(rng.Float32()*0.1))
					lo, hi := sum16(o[:16]), sum16(o[16:32])
					le.PutUint32(o[36:], uint32(uint16(lo))|uint32(uint16(hi))<<16)
				}
				const os = 19
				want := make([]float32, c*os)
				for i := range want {
					want[i] = rng.Float32() - 0.5
				}
				got := append([]float32(nil), want...)
				q2KTileGo(c, a, b, x, nb, want, os)
				q2KTiles512[c](&a[0], &b[0], &x[0], nb, &got[0], 4*os)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("c=%d nb=%d extremes=%v: out[%d] = %g, plain Go %g", c, nb, ext, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestMatMulQ2KVNNI: through MatMul, on ragged shapes (n not a multiple of 16 or 8, k of
// one super-block, two, and odd counts that leave a short last piece, m = 1, 2, 3, 7, 16,
// 17, 130), every output is dotQ2K32Generic's bits, and so each row's result is the same
// whatever m; once with every weight and activation at its extreme.
func TestMatMulQ2KVNNI(t *testing.T) {
	if !q2KVNNIOn() {
		t.Skip("Q2_K does not take the VNNI order on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(169, 170))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range []struct {
		n, k int
		ext  bool
	}{{1, 256, false}, {7, 256 * 5, false}, {17, 512, false}, {40, 256 * 9, false}, {33, 2048, false}, {21, 256 * 3, true}} {
		w := randBlocks(rng, tensor.Q2_K, sh.n, sh.k)
		rs, _ := tensor.Q2_K.RowBytes(sh.k)
		if sh.ext {
			for sb := 0; sb < len(w.Data)/84; sb++ {
				blk := w.Data[84*sb:]
				for i := 0; i < 80; i++ {
					blk[i] = 0xff
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
					want := dotQ2K32Generic(w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
					if out[i*sh.n+j] != want {
						t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
						break rows
					}
				}
			}
		}
	}
}

// TestQ2KDot8: the one-activation-row kernel (q2KDot8AVX512, 8 weight rows a call, the
// last row repeated where fewer are left) gives dotQ2K32Generic's bits for every row, on
// 1 to 9 super-blocks, random rows and rows of extremes (every scale and min 15, every q 3,
// activations ±127 and -128).
func TestQ2KDot8(t *testing.T) {
	if q2KDot8Vec == nil {
		t.Skip("no AVX-512 VNNI Q2_K row kernel on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(171, 172))
	for nsb := 1; nsb <= 9; nsb++ {
		for _, ext := range []bool{false, true} {
			k, nb := 256*nsb, 8*nsb
			w := randBlocks(rng, tensor.Q2_K, 8, k)
			rs, _ := tensor.Q2_K.RowBytes(k)
			xq, xd, _ := quantRef(randVec(rng, k), 1, k)
			if ext {
				for sb := 0; sb < len(w.Data)/84; sb++ {
					for i := 0; i < 80; i++ {
						w.Data[84*sb+i] = 0xff
					}
				}
				for i := range xq {
					xq[i] = []int8{127, -128, -127}[i/32%3]
				}
			}
			xs := make([]uint32, nb)
			for b := range xs {
				lo, hi := sum16(i8Bytes(xq[32*b:32*b+16])), sum16(i8Bytes(xq[32*b+16:32*b+32]))
				xs[b] = uint32(uint16(lo)) | uint32(uint16(hi))<<16
			}
			for _, rows := range []int{8, 3} {
				var off [8]int64
				for r := range off {
					off[r] = int64(min(r, rows-1) * rs)
				}
				var out [8]float32
				q2KDot8Vec(&w.Data[0], &off[0], &xq[0], &xd[0], &xs[0], nsb, &out[0])
				for r := 0; r < rows; r++ {
					want := dotQ2K32Generic(w.Data[r*rs:], xq, xd, nsb)
					if math.Float32bits(out[r]) != math.Float32bits(want) {
						t.Fatalf("nsb=%d rows=%d extremes=%v: row %d = %g, dotQ2K32Generic %g", nsb, rows, ext, r, out[r], want)
					}
				}
			}
		}
	}
}
