package kernel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestMatMulQ4Packed: Q4_0 weights laid out by Pack for the AVX2 kernels (q4pVec for one
// activation row, q4pUnpack and the q4iTiles for several) give the bits of the same
// weights as stored (q4iVec, q4iPack and the q4iTiles), and agree with the plain Go
// reading of the packed layout (packedRef), on shapes with ragged edges: rows not a multiple of 8 or 16,
// k past one kBlockQuant piece, odd numbers of activation rows.
func TestMatMulQ4Packed(t *testing.T) {
	if !q4PackedOn() {
		t.Skip("no AVX2 packed Q4_0 kernels on this CPU (no AVX2, or a faster path serves Q4_0)")
	}
	rng := rand.New(rand.NewPCG(41, 42))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{32, 96, 2080, 4128} {
		for _, n := range []int{1, 7, 16, 23, 40, 67} {
			w, dec := randWeight(t, rng, tensor.Q4_0, n, k)
			pw := *w
			pw.Packed = nil
			if p.Pack([]*tensor.Tensor{&pw}) == 0 || pw.Packed == nil {
				t.Fatalf("n=%d k=%d: Pack did not lay out a Q4_0 matrix", n, k)
			}
			for _, m := range []int{1, 2, 5, 17} {
				name := fmt.Sprintf("n=%d k=%d m=%d", n, k, m)
				x := randVec(rng, m*k)
				want := make([]float32, m*n)
				got := make([]float32, m*n)
				if err := p.MatMul(want, x, m, w); err != nil {
					t.Fatal(err)
				}
				if err := p.MatMul(got, x, m, &pw); err != nil {
					t.Fatal(err)
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%s: output %d = %g packed, %g as stored", name, i, got[i], want[i])
					}
				}
				// packedRef rounds s·dx·dw twice where the kernels fuse the last
				// multiply and add: equal to float32 rounding, not bit for bit.
				xq, xd, deq := quantRef(x, m, k)
				ref := make([]float32, m*n)
				packedRef(ref, xq, xd, m, n, k, pw.Packed, tensor.Q4_0)
				checkClose(t, name+" against packedRef", got, ref, quantScale(t, w, deq, dec, m), 1e-5)
			}
		}
	}
}

// BenchmarkMatVecQ4Packed compares the one-row Q4_0 product on weights as stored (q4iVec)
// and laid out by Pack (q4pVec), at the 1B model's shapes (in the cache, 2048×2048 and
// 5632×2048) and on 96 MiB (from memory), alternating the two in each round.
func BenchmarkMatVecQ4Packed(b *testing.B) {
	if !q4PackedOn() {
		b.Skip("no AVX2 packed Q4_0 kernels on this CPU")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	const k = 2048
	rs := 18 * k / 32
	for _, n := range []int{2048, 5632, (96 << 20) / rs} {
		w := &tensor.Tensor{Name: "w", DType: tensor.Q4_0, Shape: []int{n, k}, Data: make([]byte, n*rs)}
		fillNormal(rng, w)
		pw := *w
		p.Pack([]*tensor.Tensor{&pw})
		x := randVec(rng, k)
		out := make([]float32, n)
		for _, c := range []struct {
			name string
			w    *tensor.Tensor
		}{{"stored", w}, {"packed", &pw}} {
			b.Run(fmt.Sprintf("n=%d/%s", n, c.name), func(b *testing.B) {
				b.SetBytes(int64(len(w.Data)))
				for b.Loop() {
					if err := p.MatMul(out, x, 1, c.w); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(w.Data))/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GB/s")
			})
		}
	}
}

// q8GRef is the plain Go twin of the packed Q8_0 kernels for AVX2 (dotQ8G_vec16, the
// dotQ8G tiles): it reads the layout of packGroup (groupLayout) and sums each output as
// they do, block after block, acc = (float(Σ w·x)·dx)·dw + acc with the add fused
// (fmaF32), so it gives their bits.
func q8GRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb := k / 32
	gl := groupLayout(tensor.Q8_0, k)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			grp := packed[j/16*gl.size:]
			r := j % 16
			var acc float32
			for b := 0; b < nb; b++ {
				var s int32
				for l := 0; l < 32; l++ {
					w := int8(grp[gl.qoff+gl.qstride*b+4*(16*(l/4)+r)+l%4])
					s += int32(w) * int32(xq[i*k+32*b+l])
				}
				dw := tensor.F16ToF32(binary.LittleEndian.Uint16(grp[gl.sstride*b+2*r:]))
				t := float32(float32(s) * xd[i*nb+b])
				acc = fmaF32(t, dw, acc)
			}
			out[i*n+j] = acc
		}
	}
}

// TestMatMulQ8Packed: Q8_0 weights laid out by Pack for the AVX2 kernels (q8gVec for one
// activation row, the q8gTiles for several) give the bits of their plain Go twin q8GRef
// and of MatMul on each row alone (row invariance), and the product of the weights as
// stored to float32 rounding, on shapes with ragged edges: rows not a multiple of 8 or
// 16, k of 1 and 3 blocks and past one kBlockQuant piece, activation rows not a multiple
// of the tiles' 4, past one mBlockQuant block (130).
func TestMatMulQ8Packed(t *testing.T) {
	if !q8PackedOn() {
		t.Skip("no AVX2 packed Q8_0 kernels on this CPU (no AVX2, or a faster path serves Q8_0)")
	}
	rng := rand.New(rand.NewPCG(43, 44))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{32, 96, 2080} {
		for _, n := range []int{1, 7, 16, 23, 40} {
			w, dec := randWeight(t, rng, tensor.Q8_0, n, k)
			pw := *w
			pw.Packed = nil
			if p.Pack([]*tensor.Tensor{&pw}) == 0 || pw.Packed == nil {
				t.Fatalf("n=%d k=%d: Pack did not lay out a Q8_0 matrix", n, k)
			}
			for _, m := range []int{1, 2, 3, 7, 16, 17, 130} {
				name := fmt.Sprintf("n=%d k=%d m=%d", n, k, m)
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, &pw); err != nil {
					t.Fatal(err)
				}
				xq, xd, deq := quantRef(x, m, k)
				ref := make([]float32, m*n)
				q8GRef(ref, xq, xd, m, n, k, pw.Packed)
				for i := range ref {
					if got[i] != ref[i] {
						t.Fatalf("%s: output %d = %g, the plain Go twin gives %g", name, i, got[i], ref[i])
					}
				}
				one := make([]float32, n)
				for i := 0; i < m; i += max(1, m/5) {
					if err := p.MatMul(one, x[i*k:(i+1)*k], 1, &pw); err != nil {
						t.Fatal(err)
					}
					for j := range one {
						if one[j] != got[i*n+j] {
							t.Fatalf("%s: row %d output %d = %g alone, %g among %d rows", name, i, j, one[j], got[i*n+j], m)
						}
					}
				}
				want := make([]float32, m*n)
				if err := p.MatMul(want, x, m, w); err != nil {
					t.Fatal(err)
				}
				checkClose(t, name+" against the stored rows", got, want, quantScale(t, w, deq, dec, m), 1e-5)
			}
		}
	}
}
