//go:build !purego

package kernel

import (
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
	"golang.org/x/sys/cpu"
)

// TestIQ2XSAVX512: dotIQ2XSAVX512 gives the same bits as dotIQ2XSAVX and the plain
// dotIQ2XSGeneric on random rows of 1 to 9 super-blocks (random bytes: every grid index,
// sign pattern and scale), so that the AVX2 tiles keep rows invariant beside it.
func TestIQ2XSAVX512(t *testing.T) {
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasBMI1 && cpu.X86.HasBMI2) {
		t.Skip("no AVX-512 BW/VL on this CPU")
	}
	rng := rand.New(rand.NewPCG(31, 32))
	grid := &tensor.IQ2XSGrid()[0]
	for rep := 0; rep < 4; rep++ {
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			w := randBlocks(rng, tensor.IQ2_XS, 1, k)
			xq, xd, _ := quantRef(randVec(rng, k), 1, k)
			got := dotIQ2XSAVX512(&w.Data[0], &xq[0], &xd[0], nsb, grid)
			avx2 := dotIQ2XSAVX(&w.Data[0], &xq[0], &xd[0], nsb, grid)
			want := dotIQ2XSGeneric(w.Data, xq, xd, nsb)
			if got != avx2 || got != want {
				t.Errorf("nsb=%d: AVX-512 %g, AVX2 %g, plain Go %g: not the same bits", nsb, got, avx2, want)
			}
		}
	}
}

// TestQ2KAVX512: dotQ2KAVX512 gives the same bits as dotQ2KAVX and the plain
// dotQ2KGeneric on random rows of 1 to 9 super-blocks.
func TestQ2KAVX512(t *testing.T) {
	if !(cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL && cpu.X86.HasAVX2 && cpu.X86.HasFMA) {
		t.Skip("no AVX-512 BW/VL on this CPU")
	}
	rng := rand.New(rand.NewPCG(33, 34))
	for rep := 0; rep < 4; rep++ {
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			w := randBlocks(rng, tensor.Q2_K, 1, k)
			xq, xd, _ := quantRef(randVec(rng, k), 1, k)
			xs := blockSums16(&quantScratch{q: xq, d: xd}, 1, k)
			got := dotQ2KAVX512(&w.Data[0], &xq[0], &xd[0], &xs[0], nsb)
			avx2 := dotQ2KAVX(&w.Data[0], &xq[0], &xd[0], &xs[0], nsb)
			want := dotQ2KGeneric(w.Data, xq, xd, xs, nsb)
			if got != avx2 || got != want {
				t.Errorf("nsb=%d: AVX-512 %g, AVX2 %g, plain Go %g: not the same bits", nsb, got, avx2, want)
			}
		}
	}
}
