//go:build !purego

package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestAMXMatMul checks the tile-unit path against the plain Go product on ragged shapes:
// activation rows not a multiple of 16 (the padded tile), weight rows not a multiple of
// 16 (the padded last group), odd block counts (the kernel's single-block tail).
func TestAMXMatMul(t *testing.T) {
	if matMulQuantAMX == nil {
		t.Skip("this CPU or kernel offers no AMX-INT8 (or DECILM_NO_AMX is set): the AMX path cannot run here")
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
			for _, k := range []int{32, 64, 96, 160, 2080} {
				for _, n := range []int{1, 15, 16, 17, 33, 100} {
					for _, m := range []int{1, 2, 4, 5, 16, 17, 33, 40} {
						w, dec := randWeight(t, rng, dt, n, k)
						x := randVec(rng, m*k)
						rs, _ := dt.RowBytes(k)
						xq, xd, deq := quantRef(x, m, k)
						s := &quantScratch{q: xq, d: xd}
						got := make([]float32, m*n)
						for i := range got {
							got[i] = float32(i) // every output must be written
						}
						if !matMulQuantAMX(p, got, s, m, n, k, w.Data, rs, dt) {
							t.Fatalf("%s m=%d: the AMX path declined", dt, m)
						}
						want := make([]float32, m*n)
						matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
						name := fmt.Sprintf("AMX %s m=%d n=%d k=%d threads=%d", dt, m, n, k, threads)
						checkClose(t, name, got, want, quantScale(t, w, deq, dec, m), 1e-5)
					}
				}
			}
		}
		p.Close()
	}
}

// TestAMXExtremes runs int8 extremes through the tile unit: -128 weights and activations
// (whose products the AVX2 kernels must treat specially) and sums near the int32 range
// of one block.
func TestAMXExtremes(t *testing.T) {
	if matMulQuantAMX == nil {
		t.Skip("this CPU or kernel offers no AMX-INT8 (or DECILM_NO_AMX is set): the AMX path cannot run here")
	}
	const m, n, k = 17, 18, 96
	rs := 34 * k / 32
	data := make([]byte, n*rs)
	for j := 0; j < n; j++ {
		for b := 0; b < k/32; b++ {
			blk := data[j*rs+34*b:]
			blk[0], blk[1] = 0x00, 0x3c // scale 1.0
			for l := 0; l < 32; l++ {
				v := int8(-128)
				if (j+l)%3 == 0 {
					v = 127
				}
				blk[2+l] = byte(v)
			}
		}
	}
	xq := make([]int8, m*k)
	xd := make([]float32, m*k/32)
	for i := range xq {
		xq[i] = -128
		if i%5 == 0 {
			xq[i] = 127
		}
	}
	for i := range xd {
		xd[i] = 0.5
	}
	got := make([]float32, m*n)
	p := NewPool(2)
	defer p.Close()
	matMulQuantAMX(p, got, &quantScratch{q: xq, d: xd}, m, n, k, data, rs, tensor.Q8_0)
	want := make([]float32, m*n)
	matMulQuantGeneric(nil, want, xq, xd, m, n, k, data, rs, tensor.Q8_0)
	for i := range got {
		if got[i] != want[i] { // integer sums times 0.5: exact
			t.Fatalf("[%d]: got %g, want %g", i, got[i], want[i])
		}
	}
}

// TestAMXBF16 checks the bfloat16 tile path (activations split in two bfloat16 parts)
// against the plain Go float32 product, with ragged activation rows, weight rows and
// columns (k not a multiple of the 32-value chunk, and k < 32).
func TestAMXBF16(t *testing.T) {
	if matMulBF16AMX == nil {
		t.Skip("this CPU or kernel offers no AMX-BF16 (or DECILM_NO_AMX is set): the AMX path cannot run here")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{8, 32, 40, 100, 2080} {
		for _, n := range []int{1, 16, 17, 33} {
			for _, m := range []int{4, 16, 17, 33} {
				w, dec := randWeight(t, rng, tensor.BF16, n, k)
				x := randVec(rng, m*k)
				xr := x
				rs, _ := tensor.BF16.RowBytes(k)
				got := make([]float32, m*n)
				if !matMulBF16AMX(p, got, x, m, n, k, w.Data, rs) {
					t.Fatalf("m=%d: the AMX path declined", m)
				}
				want := make([]float32, m*n)
				matMulGeneric(nil, want, xr, m, n, k, w.Data, rs, tensor.BF16)
				checkClose(t, fmt.Sprintf("AMX bf16 m=%d n=%d k=%d", m, n, k), got, want, absDots(xr, dec, m, n, k), 1e-5)
			}
		}
	}
}

// TestAMXRowInvariance: on the tile unit a row's products are bit-identical whatever the
// number of activation rows in the call (1, a partial tile, several tiles), so a
// sequence's logits do not depend on the batch it runs in.
func TestAMXRowInvariance(t *testing.T) {
	if matMulQuantAMX == nil || matMulBF16AMX == nil {
		t.Skip("this CPU or kernel offers no AMX (or DECILM_NO_AMX is set): the AMX path cannot run here")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.BF16} {
		for _, k := range []int{32, 96, 2080} {
			const n = 37
			w, _ := randWeight(t, rng, dt, n, k)
			x := randVec(rng, 40*k)
			all := make([]float32, 40*n)
			if err := p.MatMul(all, x, 40, w); err != nil {
				t.Fatal(err)
			}
			for _, m := range []int{1, 2, 5, 17} {
				for _, i0 := range []int{0, 3, 40 - m} {
					got := make([]float32, m*n)
					if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, w); err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if got[i] != all[i0*n+i] {
							t.Fatalf("%s k=%d: row %d of %d (from %d): output %d = %g, in 40 rows %g", dt, k, i/n, m, i0, i%n, got[i], all[i0*n+i])
						}
					}
				}
			}
		}
	}
}

// TestAMXVecMatchesTiles: the one-row AMX kernels (amxVecQ8, amxVecBF16), which MatMul
// does not reach on CPUs whose AVX-512 VNNI matrix-vector kernels take m = 1 first, give
// bit for bit what the 16-row tiles give for the same row.
func TestAMXVecMatchesTiles(t *testing.T) {
	if matMulQuantAMX == nil || matMulBF16AMX == nil {
		t.Skip("this CPU or kernel offers no AMX (or DECILM_NO_AMX is set): the AMX path cannot run here")
	}
	rng := rand.New(rand.NewPCG(21, 22))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.BF16} {
		for _, k := range []int{32, 96, 2080} {
			const n, m = 37, 17
			w, _ := randWeight(t, rng, dt, n, k)
			rs, _ := dt.RowBytes(k)
			x := randVec(rng, m*k)
			all := make([]float32, m*n)
			one := make([]float32, n)
			if dt == tensor.BF16 {
				matMulBF16AMX(p, all, x, m, n, k, w.Data, rs)
				matMulBF16AMX(p, one, x[5*k:6*k], 1, n, k, w.Data, rs)
			} else {
				xq, xd, _ := quantRef(x, m, k)
				matMulQuantAMX(p, all, &quantScratch{q: xq, d: xd}, m, n, k, w.Data, rs, dt)
				matMulQuantAMX(p, one, &quantScratch{q: xq[5*k : 6*k], d: xd[5*k/32 : 6*k/32]}, 1, n, k, w.Data, rs, dt)
			}
			for j := range one {
				if one[j] != all[5*n+j] {
					t.Fatalf("%s k=%d: output %d of row 5 alone %g, among %d rows %g", dt, k, j, one[j], m, all[5*n+j])
				}
			}
		}
	}
}
