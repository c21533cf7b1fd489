package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestIQ2XS32Generic: dotIQ2XS32Generic (the VNNI order) is the float64 product of the
// dequantized row with the dequantized activations within float32 rounding, on random rows
// of 1 to 9 super-blocks (random bytes: every grid index, sign pattern and scale).
func TestIQ2XS32Generic(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for nsb := 1; nsb <= 9; nsb++ {
		k := 256 * nsb
		w := randBlocks(rng, tensor.IQ2_XS, 1, k)
		xq, xd, xf := quantRef(randVec(rng, k), 1, k)
		deq := make([]float32, k)
		if err := tensor.DecodeRow(deq, w.Data, tensor.IQ2_XS); err != nil {
			t.Fatal(err)
		}
		var want, mag float64
		for i := range deq {
			want += float64(deq[i]) * float64(xf[i])
			mag += math.Abs(float64(deq[i]) * float64(xf[i]))
		}
		got := float64(dotIQ2XS32Generic(w.Data, xq, xd, nsb))
		if math.Abs(got-want) > 1e-5*mag+1e-30 {
			t.Errorf("nsb=%d: %g, float64 reference %g (Σ|w·x| %g)", nsb, got, want, mag)
		}
	}
}

// TestIQ2XS32Vec: the one-row kernels of the VNNI order (one and two weight rows a call)
// give dotIQ2XS32Generic's bits.
func TestIQ2XS32Vec(t *testing.T) {
	if dotIQ2XS32Vec == nil {
		t.Skip("no AVX-512 VNNI IQ2_XS kernel on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(63, 64))
	grid := &tensor.IQ2XSGrid()[0]
	for rep := 0; rep < 4; rep++ {
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			xq, xd, _ := quantRef(randVec(rng, k), 1, k)
			w := randBlocks(rng, tensor.IQ2_XS, 2, k)
			rs := len(w.Data) / 2
			var two [2]float32
			dotIQ2XS32x2Vec(&w.Data[0], rs, &xq[0], &xd[0], nsb, grid, &two[0])
			for r := 0; r < 2; r++ {
				got := dotIQ2XS32Vec(&w.Data[r*rs], &xq[0], &xd[0], nsb, grid)
				want := dotIQ2XS32Generic(w.Data[r*rs:], xq, xd, nsb)
				if got != want || two[r] != want {
					t.Errorf("nsb=%d row %d: kernel %g, two-row kernel %g, plain Go %g: not the same bits", nsb, r, got, two[r], want)
				}
			}
		}
	}
}

// TestIQ2XSUnpack8: iq2XSUnpack8 writes each weight as u = q + 64 (q: tensor.Unpacker's
// signed grid value), the half scales 2s+1 and d/8 in the q6KPBlock format, for 1 to 8
// rows and pieces starting past the row's first super-block, and leaves the other lanes.
func TestIQ2XSUnpack8(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	const n, nsb = 9, 6
	k := 256 * nsb
	w := randBlocks(rng, tensor.IQ2_XS, n, k)
	rs, _ := tensor.IQ2_XS.RowBytes(k)
	unpack := tensor.Unpacker(tensor.IQ2_XS)
	q := make([]int8, 256)
	sf, mn := make([]float32, 16), make([]float32, 16)
	dst := make([]byte, kp512KB*8*q6KPBlock)
	for _, rows := range []int{1, 3, 8} {
		for _, s0 := range []int{0, 2} {
			for i := range dst {
				dst[i] = 0xa5
			}
			sc := min(kp512KB, nsb-s0)
			iq2XSUnpack8(dst, w.Data, rs, 1, rows, s0, sc)
			for r := 0; r < 8; r++ {
				for s := 0; s < sc; s++ {
					blk := w.Data[(1+r)*rs+(s0+s)*74:][:74]
					unpack(q, sf, mn, blk)
					for ib := 0; ib < 8; ib++ {
						o := dst[(8*s+ib)*q6KPBlock:]
						name := fmt.Sprintf("rows=%d s0=%d row %d block %d", rows, s0, r, 8*(s0+s)+ib)
						if r >= rows {
							if o[4*r] != 0xa5 || o[352+4*r] != 0xa5 {
								t.Fatalf("%s: lane written", name)
							}
							continue
						}
						if got, want := math.Float32frombits(leU32(o[352+4*r:])), f16At(blk, 0)*0.125; got != want {
							t.Fatalf("%s: d/8 %g, want %g", name, got, want)
						}
						for h := 0; h < 2; h++ {
							want := uint32(2*(blk[66+ib]>>(4*h)&15) + 1)
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
		}
	}
}

func leU32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }

// TestMatMulIQ2XSVNNI: through MatMul (the VNNI path, or on AVX2-only CPUs the dotIQ2XSP
// path of iq2xsavx2.go), on ragged shapes (n not a multiple of 16 or 8, k of
// one super-block and of a number that leaves a short last piece, m = 1, 2, 3, 7, 16, 17,
// 130), every output is dotIQ2XS32Generic's bits, and so each row's result is the same
// whatever m.
func TestMatMulIQ2XSVNNI(t *testing.T) {
	if !iq2XSVNNIOn() && !iq2XSAVX2On() {
		t.Skip("IQ2_XS does not take the VNNI order on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(67, 68))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range []struct{ n, k int }{{1, 256}, {7, 256 * 5}, {17, 512}, {40, 256 * 9}, {33, 2048}} {
		w := randBlocks(rng, tensor.IQ2_XS, sh.n, sh.k)
		rs, _ := tensor.IQ2_XS.RowBytes(sh.k)
		for _, m := range []int{1, 2, 3, 7, 16, 17, 130} {
			if m == 130 && sh.k > 2048 {
				continue
			}
			x := randVec(rng, m*sh.k)
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
					want := dotIQ2XS32Generic(w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
					if out[i*sh.n+j] != want {
						t.Errorf("%s: out[%d][%d] = %g, plain Go %g", name, i, j, out[i*sh.n+j], want)
						break rows
					}
				}
			}
		}
	}
}

// TestIQ2XSUnpackAsm: the assembly unpackers (iq2XSUnpackAVX512, iq2XSUnpackVBMI and
// iq2XSUnpackAVX2)
// write iq2XSUnpack8's bytes in lanes 0..rows-1 for 1 to 8 rows, pieces of 1 to kp512KB
// super-blocks starting past the first.
func TestIQ2XSUnpackAsm(t *testing.T) {
	unpackers := map[string]func(dst, data []byte, rs, j, rows, s0, sc int){}
	if iq2XSUnpackVec != nil {
		unpackers["AVX512"] = iq2XSUnpack8Asm
	}
	if iq2XSUnpackVBMIVec != nil {
		unpackers["VBMI"] = iq2XSUnpack8VBMI
	}
	if iq2XSUnpackAVX2Vec != nil {
		unpackers["AVX2"] = iq2XSUnpack8AVX2
	}
	if len(unpackers) == 0 {
		t.Skip("no assembly IQ2_XS unpacker on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(69, 70))
	const n, nsb = 11, 7
	k := 256 * nsb
	w := randBlocks(rng, tensor.IQ2_XS, n, k)
	rs, _ := tensor.IQ2_XS.RowBytes(k)
	// Every grid index and every sign index occurs (the qs word c: index c%512, signs
	// 37c%128).
	for c := 0; c < n*nsb*32; c++ {
		o := c/(nsb*32)*rs + c%(nsb*32)/32*74 + 2 + 2*(c%32)
		binary.LittleEndian.PutUint16(w.Data[o:], uint16(c%512|(37*c%128)<<9))
	}
	want := make([]byte, kp512KB*8*q6KPBlock)
	got := make([]byte, len(want))
	for name, unpack := range unpackers {
		for _, rows := range []int{1, 2, 5, 8} {
			for _, s0 := range []int{0, 3} {
				for _, sc := range []int{1, kp512KB} {
					j := n - rows
					iq2XSUnpack8(want, w.Data, rs, j, rows, s0, sc)
					unpack(got, w.Data, rs, j, rows, s0, sc)
					for b := 0; b < 8*sc; b++ {
						for o := 0; o < q6KPBlock; o += 4 {
							if o%32/4 >= rows {
								continue // lane past the rows
							}
							i := b*q6KPBlock + o
							if leU32(got[i:]) != leU32(want[i:]) {
								t.Fatalf("%s rows=%d s0=%d sc=%d block %d byte %d: %#x, plain Go %#x", name, rows, s0, sc, b, o, leU32(got[i:]), leU32(want[i:]))
							}
						}
					}
				}
			}
		}
	}
}

// TestIQ2XSAVX2Path: matMulIQ2XSAVX2 (the AVX2 path, called directly so that it runs on
// any CPU with its kernels; for several activation rows the dotIQ2XSP tiles and, where
// the CPU has AVX-VNNI, the vnniQ6KTile tiles), with the assembly unpacker and with the plain iq2XSUnpack8,
// gives dotIQ2XS32Generic's bits for every output on ragged shapes: n not a multiple of
// 8, k of one super-block, of an odd count and of more than a kBlockQuant piece (a short
// last piece), m = 1, 2, 3, 5 (a tile of 1 after one of 4), 7, 16, 17 and 130 (past
// mBlockQuant).
func TestIQ2XSAVX2Path(t *testing.T) {
	if iq2XSPTiles[1] == nil {
		t.Skip("no AVX2 IQ2_XS tiles on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(71, 72))
	p := NewPool(2)
	defer p.Close()
	unpackers := map[string]func(dst, data []byte, rs, j, rows, s0, sc int){"asm": iq2XSUnpack8AVX2, "Go": iq2XSUnpack8}
	saved := vnniQ6KTiles
	defer func() { vnniQ6KTiles = saved }()
	passes := [][]kp512TileFn{nil} // the dotIQ2XSP tiles
	if saved != nil {
		passes = append(passes, saved) // AVX-VNNI
	}
	for _, tiles := range passes {
		vnniQ6KTiles = tiles
		testIQ2XSAVX2Path(t, p, rng, unpackers)
	}
}

// testIQ2XSAVX2Path is TestIQ2XSAVX2Path for the tiles vnniQ6KTiles selects.
func testIQ2XSAVX2Path(t *testing.T, p *Pool, rng *rand.Rand, unpackers map[string]func(dst, data []byte, rs, j, rows, s0, sc int)) {
	for _, sh := range []struct{ n, k int }{{1, 256}, {7, 256 * 5}, {19, 512}, {13, 256 * 9}, {33, 2048}} {
		w := randBlocks(rng, tensor.IQ2_XS, sh.n, sh.k)
		rs, _ := tensor.IQ2_XS.RowBytes(sh.k)
		for _, m := range []int{1, 2, 3, 5, 7, 16, 17, 130} {
			if m == 130 && sh.k > 512 {
				continue
			}
			x := randVec(rng, m*sh.k)
			xq, xd, _ := quantRef(x, m, sh.k)
			nb := sh.k / 32
			for name, unpack := range unpackers {
				s := &quantScratch{q: xq, d: xd}
				out := make([]float32, m*sh.n)
				for i := range out {
					out[i] = float32(math.NaN()) // every output must be written
				}
				p.matMulIQ2XSAVX2(out, s, m, sh.n, sh.k, w.Data, rs, unpack)
				label := fmt.Sprintf("%s n=%d k=%d m=%d vnni=%v", name, sh.n, sh.k, m, vnniQ6KTiles != nil)
			rows:
				for i := 0; i < m; i++ {
					for j := 0; j < sh.n; j++ {
						want := dotIQ2XS32Generic(w.Data[j*rs:(j+1)*rs], xq[i*sh.k:(i+1)*sh.k], xd[i*nb:(i+1)*nb], sh.k/256)
						if out[i*sh.n+j] != want {
							t.Errorf("%s: out[%d][%d] = %g, plain Go %g", label, i, j, out[i*sh.n+j], want)
							break rows
						}
					}
				}
			}
		}
	}
}

// TestIQ2XSPVec8: dotIQ2XSP_vec8 (8 weight rows, one activation row) gives
// dotIQ2XS32Generic's bits for each row, on 1 to 9 super-blocks, with rows given in any
// order and repeated (as the last, short group of a matrix takes them).
func TestIQ2XSPVec8(t *testing.T) {
	if iq2XSPVec8 == nil {
		t.Skip("no AVX2 IQ2_XS kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(73, 74))
	grid := &tensor.IQ2XSGrid()[0]
	for rep := 0; rep < 3; rep++ {
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			xq, xd, _ := quantRef(randVec(rng, k), 1, k)
			w := randBlocks(rng, tensor.IQ2_XS, 10, k)
			rs := len(w.Data) / 10
			var off [8]int64
			for r := range off {
				off[r] = int64(rng.IntN(10) * rs)
			}
			var out [8]float32
			iq2XSPVec8(&w.Data[0], &off[0], &xq[0], &xd[0], nsb, grid, &out[0], 8*rs)
			for r, o := range off {
				if want := dotIQ2XS32Generic(w.Data[o:], xq, xd, nsb); out[r] != want {
					t.Errorf("nsb=%d row %d: kernel %g, plain Go %g: not the same bits", nsb, r, out[r], want)
				}
			}
		}
	}
}

// TestIQ2XSCodes: iq2XSCodes holds every grid entry's 8 magnitudes as two-bit codes.
func TestIQ2XSCodes(t *testing.T) {
	mag := [4]uint64{8, 25, 43, 0}
	for i, g := range tensor.IQ2XSGrid() {
		var v uint64
		for e := 0; e < 8; e++ {
			v |= mag[iq2XSCodes[i]>>(2*e)&3] << (8 * e)
		}
		if v != g {
			t.Fatalf("entry %d: codes %#04x give %#016x, grid %#016x", i, iq2XSCodes[i], v, g)
		}
	}
}
