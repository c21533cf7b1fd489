package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// gridTypes are the grid i-quants of dotGridGeneric and asmgenk's gridRow kernels.
var gridTypes = []tensor.DType{tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ2_XXS, tensor.IQ2_S}

// gridRowDot returns the fused kernel's product of one row of type dt (nsb super-blocks)
// with a quantized row, and false where the CPU (or -tags purego) has no kernel.
func gridRowDot(dt tensor.DType, w []byte, xq []int8, xd []float32, nsb int) (float32, bool) {
	switch {
	case dt == tensor.IQ3_XXS && dotIQ3XXSVec != nil:
		return dotIQ3XXSVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ3XXSGrid()[0]), true
	case dt == tensor.IQ3_S && dotIQ3SVec != nil:
		return dotIQ3SVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ3SGrid()[0]), true
	case dt == tensor.IQ2_XXS && dotIQ2XXSVec != nil:
		return dotIQ2XXSVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ2XXSGrid()[0]), true
	case dt == tensor.IQ2_S && dotIQ2SVec != nil:
		return dotIQ2SVec(&w[0], &xq[0], &xd[0], nsb, &tensor.IQ2SGrid()[0]), true
	}
	return 0, false
}

// TestGridKernels: on random rows of 1 to 9 super-blocks (random bytes: every grid index,
// sign pattern and scale), the plain dotGridGeneric is within float rounding of a float64
// product of the weights as tensor.DecodeRow decodes them (llama.cpp's dequantization)
// and the activations as QuantizeQ8 rounds them, and the assembly row kernel, where the
// CPU has it, gives dotGridGeneric's bits.
func TestGridKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	for _, dt := range gridTypes {
		for rep := 0; rep < 3; rep++ {
			for nsb := 1; nsb <= 9; nsb++ {
				k := 256 * nsb
				w := randBlocks(rng, dt, 1, k)
				xq, xd, deq := quantRef(randVec(rng, k), 1, k)
				want := dotGridGeneric(dt, w.Data, xq, xd, nsb)
				dec := make([]float32, k)
				if err := tensor.DecodeRow(dec, w.Data, dt); err != nil {
					t.Fatal(err)
				}
				var ref, scale float64
				for l := range dec {
					ref += float64(dec[l]) * float64(deq[l])
					scale += math.Abs(float64(dec[l]) * float64(deq[l]))
				}
				// float32 rounding of the products' sums: a few units of 2^-24 of the
				// absolute sum per add level.
				if d := math.Abs(float64(want) - ref); d > 4e-6*scale+1e-30 {
					t.Errorf("%s nsb=%d: plain Go %g, float64 %g (|diff| %g, scale %g)", dt, nsb, want, ref, d, scale)
				}
				if got, ok := gridRowDot(dt, w.Data, xq, xd, nsb); ok && got != want {
					t.Errorf("%s nsb=%d: assembly %g, plain Go %g: not the same bits", dt, nsb, got, want)
				}
			}
		}
	}
}

// TestGridMatMul: MatMul with the grid i-quants, on ragged n and m = 1, 2, 3, 4, 5, 7,
// 16, 17 (the row kernel, the 1×2..1×4 tiles and their mixes), gives for every output
// the bits of the fused row kernel (dotGridGeneric's, checked by TestGridKernels); with no
// kernel (purego, no AVX2) it is within float rounding of dotGridGeneric.
func TestGridMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range gridTypes {
		for _, k := range []int{256, 768} {
			nsb := k / 256
			const n = 13
			w := randBlocks(rng, dt, n, k)
			for _, m := range []int{1, 2, 3, 4, 5, 7, 16, 17} {
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				xq, xd, deq := quantRef(x, m, k)
				name := fmt.Sprintf("%s k=%d m=%d", dt, k, m)
				dec := make([]float32, k)
				for j := 0; j < n; j++ {
					if err := tensor.DecodeRow(dec, w.Row(j), dt); err != nil {
						t.Fatal(err)
					}
					for i := 0; i < m; i++ {
						var scale float64 // Σ|w·x|, the size of the rounding errors
						for l, v := range dec {
							scale += math.Abs(float64(v) * float64(deq[i*k+l]))
						}
						row, xr, dr := w.Row(j), xq[i*k:(i+1)*k], xd[i*k/32:(i+1)*k/32]
						want := dotGridGeneric(dt, row, xr, dr, nsb)
						v, ok := gridRowDot(dt, row, xr, dr, nsb)
						if ok && got[i*n+j] != v {
							t.Errorf("%s: [%d,%d] = %g, row kernel %g: not the same bits", name, i, j, got[i*n+j], v)
						}
						if d := math.Abs(float64(got[i*n+j] - want)); d > 4e-6*scale+1e-30 {
							t.Errorf("%s: [%d,%d] = %g, plain Go %g", name, i, j, got[i*n+j], want)
						}
					}
				}
			}
		}
	}
}
