package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// fusedTypes are the types of dotGridGeneric (the grid i-quants, asmgenk's gridRow
// kernels) and of dotBlock32Generic (the blocks of 32, block32Row).
var fusedTypes = []tensor.DType{tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_S,
	tensor.IQ1_S, tensor.IQ1_M, tensor.TQ2_0, tensor.TQ1_0, tensor.Q8_K, tensor.IQ4_NL, tensor.Q5_0, tensor.Q4_1, tensor.Q5_1}

// fusedTwin returns the plain-Go twin's product of one row of type dt (k weights) with a
// quantized row (xs: each block's dx·Σx).
func fusedTwin(dt tensor.DType, w []byte, xq []int8, xd, xs []float32, k int) float32 {
	if dt.BlockSize() == 32 {
		return dotBlock32Generic(dt, w, xq, xd, xs, k/32)
	}
	if iqGridOn(dt) { // the VNNI order (iqgrid.go)
		return dotGrid32Generic(dt, w, xq, xd, k/256)
	}
	if iq1On(dt) { // the VNNI order (iq1.go)
		return dotIQ132Generic(dt, w, xq, xd, k/256)
	}
	return dotGridGeneric(dt, w, xq, xd, k/256)
}

// fusedRowDot returns the fused kernel's product of one row of type dt (k weights) with
// a quantized row, and false where the CPU (or -tags purego) has no kernel.
func fusedRowDot(dt tensor.DType, w []byte, xq []int8, xd, xs []float32, k int) (float32, bool) {
	nsb, nb := k/256, k/32
	switch {
	case iqGridOn(dt): // the VNNI order (iqgrid.go)
		return iqGrid(dt).dot(&w[0], &xq[0], &xd[0], nsb), true
	case dt == tensor.IQ3_XXS && dotIQ3XXSVec != nil:
		return dotIQ3XXSVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ3XXSGrid()[0]), true
	case dt == tensor.IQ3_S && dotIQ3SVec != nil:
		return dotIQ3SVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ3SGrid()[0]), true
	case dt == tensor.IQ2_XXS && dotIQ2XXSVec != nil:
		return dotIQ2XXSVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ2XXSGrid()[0]), true
	case dt == tensor.IQ2_S && dotIQ2SVec != nil:
		return dotIQ2SVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ2SGrid()[0]), true
	case iq1On(dt): // the VNNI order (iq1.go)
		return iq1Fns(dt).dot(&w[0], &xq[0], &xd[0], nsb), true
	case dt == tensor.IQ1_S && dotIQ1SVec != nil:
		return dotIQ1SVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ1SGrid()[0]), true
	case dt == tensor.IQ1_M && dotIQ1MVec != nil:
		return dotIQ1MVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ1SGrid()[0]), true
	case dt == tensor.TQ2_0 && dotTQ20Vec != nil:
		return dotTQ20Vec(&w[0], &xq[0], &xd[0], nsb), true
	case dt == tensor.TQ1_0 && dotTQ10Vec != nil:
		return dotTQ10Vec(&w[0], &xq[0], &xd[0], nsb), true
	case dt == tensor.Q8_K && dotQ8KVec != nil:
		return dotQ8KVec(&w[0], &xq[0], &xd[0], nsb), true
	case dt == tensor.IQ4_NL && dotIQ4NLVec != nil:
		return dotIQ4NLVec(&w[0], &xq[0], &xd[0], &xs[0], nb), true
	case dt == tensor.Q5_0 && dotQ50Vec != nil:
		return dotQ50Vec(&w[0], &xq[0], &xd[0], &xs[0], nb), true
	case dt == tensor.Q4_1 && dotQ41Vec != nil:
		return dotQ41Vec(&w[0], &xq[0], &xd[0], &xs[0], nb), true
	case dt == tensor.Q5_1 && dotQ51Vec != nil:
		return dotQ51Vec(&w[0], &xq[0], &xd[0], &xs[0], nb), true
	}
	return 0, false
}

// fusedScale returns Σ|w·x| over a row's decoded weights dec and activations deq, the
// size of a product's float rounding errors.
func fusedScale(dec, deq []float32) float64 {
	var s float64
	for l, v := range dec {
		s += math.Abs(float64(v) * float64(deq[l]))
	}
	return s
}

// TestFusedTwins: on random rows of 1 to 9 super-blocks, or blocks for the blocks of 32
// (random bytes: every grid index, sign pattern, value and scale), the plain twin
// (dotGridGeneric, dotBlock32Generic) is within float rounding of a float64 product of
// the weights as tensor.DecodeRow decodes them (llama.cpp's dequantization) and the
// activations as QuantizeQ8 rounds them, and the assembly row kernel, where the CPU has
// it, gives the twin's bits.
func TestFusedTwins(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, dt := range fusedTypes {
		for rep := 0; rep < 3; rep++ {
			for nsb := 1; nsb <= 9; nsb++ {
				k := dt.BlockSize() * nsb
				w := randBlocks(rng, dt, 1, k)
				xq, xd, deq := quantRef(randVec(rng, k), 1, k)
				xs := blockSums(&quantScratch{q: xq, d: xd}, 1, k)
				want := fusedTwin(dt, w.Data, xq, xd, xs, k)
				dec := make([]float32, k)
				if err := tensor.DecodeRow(dec, w.Data, dt); err != nil {
					t.Fatal(err)
				}
				var ref float64
				for l := range dec {
					ref += float64(dec[l]) * float64(deq[l])
				}
				// float32 rounding of the sums: a few units of 2^-24 of Σ|w·x| per level.
				if d, scale := math.Abs(float64(want)-ref), fusedScale(dec, deq); d > 4e-6*scale+1e-30 {
					t.Errorf("%s k=%d: plain Go %g, float64 %g (|diff| %g, scale %g)", dt, k, want, ref, d, scale)
				}
				if got, ok := fusedRowDot(dt, w.Data, xq, xd, xs, k); ok && got != want {
					t.Errorf("%s k=%d: assembly %g, plain Go %g: not the same bits", dt, k, got, want)
				}
			}
		}
	}
}

// TestFusedMatMul: MatMul with the types of TestFusedTwins, on ragged n and m = 1, 2, 3,
// 4, 5, 7, 16, 17 (the row kernel, the 1×2..1×4 tiles and their mixes), gives for every
// output the bits of the fused row kernel (the twin's, checked by TestFusedTwins); with
// no kernel (purego, no AVX2) it is within float rounding of the twin.
func TestFusedMatMul(t *testing.T) {
	defer b32Off()() // the AVX2 kernels, which the b32 tiles replace on AVX-512 VNNI
	rng := rand.New(rand.NewPCG(43, 44))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range fusedTypes {
		ks := []int{256, 768}
		if dt.BlockSize() == 32 {
			ks = []int{32, 96, 288}
		}
		for _, k := range ks {
			const n = 13
			w := randBlocks(rng, dt, n, k)
			for _, m := range []int{1, 2, 3, 4, 5, 7, 16, 17} {
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				xq, xd, deq := quantRef(x, m, k)
				xs := blockSums(&quantScratch{q: xq, d: xd}, m, k)
				name := fmt.Sprintf("%s k=%d m=%d", dt, k, m)
				dec := make([]float32, k)
				for j := 0; j < n; j++ {
					if err := tensor.DecodeRow(dec, w.Row(j), dt); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < m; i++ {
						lo, hi := i*k/32, (i+1)*k/32
						row, xr, dr, sr := w.Row(j), xq[i*k:(i+1)*k], xd[lo:hi], xs[lo:hi]
						want := fusedTwin(dt, row, xr, dr, sr, k)
						v, ok := fusedRowDot(dt, row, xr, dr, sr, k)
						if lb := lowBitOf(dt); lb != nil { // TQ2_0's, TQ1_0's, Q8_K's VNNI order (lowbit.go)
							v, ok = lb.dot32Generic(row, xr, dr, k/256), true
						}
						if ok && got[i*n+j] != v {
							t.Errorf("%s: [%d,%d] = %g, row kernel %g: not the same bits", name, i, j, got[i*n+j], v)
						}
						scale := fusedScale(dec, deq[i*k:(i+1)*k])
						if d := math.Abs(float64(got[i*n+j] - want)); d > 4e-6*scale+1e-30 {
							t.Errorf("%s: [%d,%d] = %g, plain Go %g", name, i, j, got[i*n+j], want)
						}
					}
				}
			}
		}
	}
}
