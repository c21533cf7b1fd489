package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// kernelPaths lists the matrix-product paths this CPU can take, each as a function that
// selects it (by clearing the hooks of the faster ones) and returns a restore function.
func kernelPaths() []struct {
	name   string
	choose func() (restore func())
} {
	save := func() func() {
		a, b, c, d, e := matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide
		return func() {
			matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide = a, b, c, d, e
		}
	}
	type path = struct {
		name   string
		choose func() (restore func())
	}
	paths := []path{{"default", save}}
	if matMulQuantAMX != nil || matMulBF16AMX != nil {
		paths = append(paths, path{"without AMX", func() func() {
			r := save()
			matMulQuantAMX, matMulBF16AMX = nil, nil
			return r
		}})
	}
	if useAsm {
		paths = append(paths, path{"AVX2 only", func() func() {
			r := save()
			matMulQuantAMX, matMulBF16AMX, matMulQuantWide, matVecQuantWide, matMulFloatWide = nil, nil, nil, nil, nil
			return r
		}})
	}
	return paths
}

// TestMatMulRowInvariance: whichever kernels the CPU uses, an activation row's outputs
// are bit-identical whatever the number of rows in the call (a matrix-vector product, a
// partial tile, several tiles) and wherever the row sits among them. This is what makes
// a sequence's logits independent of the batch it runs in (model.TestBatchInvariance,
// engine.TestBatchInvariance). For the quantized types, the paths also agree with each
// other bit for bit where AVX-512 is used (AMX tiles, VNNI): every one computes each
// block's exact integer sum s and adds (s·dx)·dw to the output, block after block.
func TestMatMulRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.F32, tensor.BF16, tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		for _, k := range []int{32, 96, 2080} {
			const n, M = 37, 40
			w, _ := randWeight(t, rng, dt, n, k)
			x := randVec(rng, M*k)
			var first []float32
			for _, path := range kernelPaths() {
				restore := path.choose()
				all := make([]float32, M*n)
				if err := p.MatMul(all, x, M, w); err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%s k=%d, %s", dt, k, path.name)
				for _, m := range []int{1, 2, 5, 17} {
					for _, i0 := range []int{0, 3, M - m} {
						got := make([]float32, m*n)
						if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, w); err != nil {
							t.Fatal(err)
						}
						for i := range got {
							if got[i] != all[i0*n+i] {
								t.Errorf("%s: row %d of %d (from row %d): output %d = %g, among %d rows %g", name, i/n, m, i0, i%n, got[i], M, all[i0*n+i])
								break
							}
						}
					}
				}
				if (dt == tensor.Q8_0 || dt == tensor.Q4_0) && path.name != "AVX2 only" {
					if first == nil {
						first = all
					} else {
						for i := range all {
							if all[i] != first[i] {
								t.Errorf("%s: output %d = %g, the default path gives %g", name, i, all[i], first[i])
								break
							}
						}
					}
				}
				restore()
			}
		}
	}
}
