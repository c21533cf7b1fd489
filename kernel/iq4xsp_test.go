package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// iq4NLValues is ggml's kvalues_iq4nl, the 16 values of IQ4_NL and IQ4_XS.
var iq4NLValues = [16]int32{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4XSPValue returns value l (l < 32) of block jb of row r of the packed IQ4_XS
// super-block sb (packIQ4XSGroup's layout).
func iq4XSPValue(sb []byte, r, jb, l int) int32 {
	v := sb[64+128*jb+32*(l%16/4)+4*r+l%4]
	if l >= 16 {
		v >>= 4
	}
	return iq4NLValues[v&15]
}

// iq4XSPScale returns d·(ls_j-32) of row r of the packed IQ4_XS super-block sb, rounded
// to float32 as the kernels round it.
func iq4XSPScale(sb []byte, r, jb int) float32 {
	ls := int32(sb[16+8*(jb/2)+r]>>(4*(jb%2))&15) | int32(sb[48+8*(jb/4)+r]>>(2*(jb%4))&3)<<4
	d := tensor.F16ToF32(binary.LittleEndian.Uint16(sb[2*r:]))
	return float32(d * float32(ls-32))
}

// iq4XSPRef is the plain Go twin of the packed IQ4_XS kernels (dotIQ4XSP_vec8, the
// dotIQ4XSP tiles): it reads the layout of packIQ4XSGroup and sums each output as they
// do, block after block, acc = float(Σw·x)·(d·(ls-32)·dx) + acc with one rounding
// (fmaF32), so that the kernels must match it bit for bit.
func iq4XSPRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * iq4XSPSB
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*iq4XSPSB:]
				var s int32
				for l := 0; l < 32; l++ {
					s += iq4XSPValue(sb, r, b%8, l) * int32(xq[i*k+32*b+l])
				}
				acc = fmaF32(float32(s), float32(xd[i*nb+b]*iq4XSPScale(sb, r, b%8)), acc)
			}
			out[i*n+j] = acc
		}
	}
}

// packIQ4XSRef lays out an n×k IQ4_XS matrix with packIQ4XSGroup, as Pack does.
func packIQ4XSRef(w *tensor.Tensor) []byte {
	n, k := w.Shape[0], w.Shape[1]
	nsb, rs := k/256, w.RowSize()
	out := make([]byte, iq4XSPBytes(n, k))
	for g := 0; g < (n+7)/8; g++ {
		packIQ4XSGroup(out[g*nsb*iq4XSPSB:(g+1)*nsb*iq4XSPSB], w.Data, rs, 8*g, min(8, n-8*g), nsb)
	}
	return out
}

// TestPackIQ4XSLayout checks the packed IQ4_XS layout on every CPU: each row decoded from
// the packed groups (d·(ls-32)·w) has the bits of tensor.DecodeRow on the row as stored;
// the padding rows of a short last group are zero; and the twin iq4XSPRef agrees with a
// float64 product of the decoded weights and the activations as QuantizeQ8 rounds them
// within float32 rounding (relative to Σ|w·x|: below 1e-6 measured, 1e-5 allowed).
func TestPackIQ4XSLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	worst := 0.0
	for _, k := range []int{256, 768, 2048} {
		for _, n := range []int{1, 7, 8, 19} {
			w := randBlocks(rng, tensor.IQ4_XS, n, k)
			packed := packIQ4XSRef(w)
			nsb, rs := k/256, w.RowSize()
			name := fmt.Sprintf("n=%d k=%d", n, k)
			dec := make([]float32, n*k)
			for j := 0; j < (n+7)/8*8; j++ {
				g, r := j/8, j%8
				var want []float32
				if j < n {
					want = dec[j*k : (j+1)*k]
					if err := tensor.DecodeRow(want, w.Data[j*rs:(j+1)*rs], tensor.IQ4_XS); err != nil {
						t.Fatal(err)
					}
				}
				for b := 0; b < k/32; b++ {
					sb := packed[(g*nsb+b/8)*iq4XSPSB:]
					dl := iq4XSPScale(sb, r, b%8)
					for l := 0; l < 32; l++ {
						v := dl * float32(iq4XSPValue(sb, r, b%8, l))
						if j >= n {
							if v != 0 {
								t.Fatalf("%s: padding row %d value %d = %g, want 0", name, j, 32*b+l, v)
							}
							continue
						}
						if math.Float32bits(v) != math.Float32bits(want[32*b+l]) {
							t.Fatalf("%s: row %d value %d from the packed group = %g, DecodeRow %g", name, j, 32*b+l, v, want[32*b+l])
						}
					}
				}
			}
			const m = 3
			x := randVec(rng, m*k)
			xq, xd, deq := quantRef(x, m, k)
			got := make([]float32, m*n)
			iq4XSPRef(got, xq, xd, m, n, k, packed)
			want := make([]float32, m*n)
			scale := absDots(deq, dec, m, n, k)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					var s float64
					for l := 0; l < k; l++ {
						s += float64(deq[i*k+l]) * float64(dec[j*k+l])
					}
					want[i*n+j] = float32(s)
					worst = max(worst, math.Abs(float64(got[i*n+j])-s)/scale[i*n+j])
				}
			}
			checkClose(t, name+" twin against float64", got, want, scale, 1e-5)
		}
	}
	t.Logf("largest |twin - float64| / Σ|w·x|: %.3g", worst)
}

// TestMatMulIQ4XSPacked: the packed IQ4_XS kernels (dotIQ4XSP_vec8 for one activation row,
// iq4XSPUnpackAVX and the dotIQ4XSP tiles for several) give the bits of their plain Go
// twin iq4XSPRef, and each activation row the same bits whatever the number of rows in
// the call, on shapes with ragged edges (rows not a multiple of 8, k of one super-block
// and past one kBlockQuant piece, m past one mBlockQuant block and odd). Where Pack lays
// out IQ4_XS on this CPU, it writes packIQ4XSGroup's bytes and MatMul on the packed tensor
// gives the same bits.
func TestMatMulIQ4XSPacked(t *testing.T) {
	checkPackedKernels(t, tensor.IQ4_XS, 83, iq4XSPVec != nil, packIQ4XSRef, "packIQ4XSGroup", (*Pool).matMulIQ4XSPacked, iq4XSPRef)
}

// TestIQ4XSPackedExtremes: weights whose values are all -127 or all 113 against
// activations that all quantize to +127 or -127 (pair sums of ±32258, the largest
// VPMADDUBSW sees) give the twin's bits and the exact value within float32 rounding, for
// one activation row and several.
func TestIQ4XSPackedExtremes(t *testing.T) {
	if iq4XSPVec == nil {
		t.Skip("no packed IQ4_XS kernels on this CPU (no AVX2, or -tags purego)")
	}
	p := NewPool(1)
	defer p.Close()
	const n, k, m = 8, 512, 4
	rs := 136 * k / 256
	w := &tensor.Tensor{Name: "w", DType: tensor.IQ4_XS, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	for b := 0; b < len(w.Data)/136; b++ {
		blk := w.Data[136*b : 136*(b+1)]
		binary.LittleEndian.PutUint16(blk[0:], tensor.F32ToF16(1))
		binary.LittleEndian.PutUint16(blk[2:], 0xffff) // ls = 63: scale 31
		for i := 4; i < 8; i++ {
			blk[i] = 0xff
		}
		q := byte(0x00) // every value -127
		if b/(k/256)%2 == 1 {
			q = 0xff // every value 113
		}
		for i := 8; i < 136; i++ {
			blk[i] = q
		}
	}
	packed := packIQ4XSRef(w)
	x := make([]float32, m*k)
	for i := range x {
		x[i] = 1
		if i/k%2 == 1 {
			x[i] = -1
		}
	}
	xq, xd, _ := quantRef(x, m, k)
	ref := make([]float32, m*n)
	iq4XSPRef(ref, xq, xd, m, n, k, packed)
	dec := make([]float32, k)
	for j := 0; j < n; j++ {
		if err := tensor.DecodeRow(dec, w.Data[j*rs:(j+1)*rs], tensor.IQ4_XS); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m; i++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(dec[l]) * float64(xq[i*k+l]) * float64(xd[i*k/32+l/32])
			}
			if math.Abs(float64(ref[i*n+j])-s) > 1e-6*math.Abs(s) {
				t.Fatalf("twin: activation row %d, weight row %d = %g, exact %g", i, j, ref[i*n+j], s)
			}
		}
	}
	checkRowsAndTiles(t, ref, x, m, n, k, func(out, x []float32, m int) { p.matMulIQ4XSPacked(out, x, m, n, k, packed) })
}

// BenchmarkMatMulIQ4XSPacked compares IQ4_XS products on weights as stored (the fused
// block kernels of kquant.go) and laid out by Pack (dotIQ4XSP_vec8 and the dotIQ4XSP
// tiles), with packed Q4_K alongside, at the 1B model's MLP shapes for 1, 16 and 128
// activation rows.
func BenchmarkMatMulIQ4XSPacked(b *testing.B) {
	if !iq4XSPackedOn() || !q4KPackedOn() {
		b.Skip("Pack does not lay out IQ4_XS and Q4_K for AVX2 on this CPU")
	}
	benchMatMulPacked(b, tensor.IQ4_XS, tensor.Q4_K)
}
