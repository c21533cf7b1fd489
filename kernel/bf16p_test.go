package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// packBF16ForTest returns w's panels (packBF16Panel), as Pack lays them out.
func packBF16ForTest(w *tensor.Tensor) []byte {
	n, k := w.Shape[0], w.Shape[1]
	dst := make([]byte, bf16PanelBytes(n, k))
	for g := 0; g < (n+bf16Panel-1)/bf16Panel; g++ {
		ps := bf16PanelStride(k)
		packBF16Panel(dst[g*ps:(g+1)*ps], w.Data, 2*k, n, k, g)
	}
	return dst
}

// TestBF16PanelLayout: every element of a panel reads back as the bfloat16 value it was
// packed from, and the rows past n as zero.
func TestBF16PanelLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 1))
	for _, sh := range [][2]int{{1, 1}, {7, 3}, {16, 5}, {17, 9}, {40, 33}} {
		n, k := sh[0], sh[1]
		w, dec := randWeight(t, rng, tensor.BF16, n, k)
		panels := packBF16ForTest(w)
		for g := 0; g < (n+15)/16; g++ {
			ps := bf16PanelStride(k)
			panel := panels[g*ps : (g+1)*ps]
			for r := 0; r < 16; r++ {
				for l := 0; l < k; l++ {
					want := float32(0)
					if j := 16*g + r; j < n {
						want = dec[j*k+l]
					}
					if got := bf16PanelAt(panel, r, l); got != want {
						t.Fatalf("[%d,%d] panel %d row %d element %d = %g, want %g", n, k, g, r, l, got, want)
					}
				}
			}
		}
	}
}

// TestMatMulBF16PanelsGo: the plain twin of the panel kernels agrees with a float64
// product of the same values.
func TestMatMulBF16PanelsGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 2))
	for _, sh := range [][3]int{{1, 17, 9}, {3, 16, 513}, {5, 33, 1100}} {
		m, n, k := sh[0], sh[1], sh[2]
		w, dec := randWeight(t, rng, tensor.BF16, n, k)
		x := randVec(rng, m*k)
		got := make([]float32, m*n)
		matMulBF16PanelsGo(got, x, m, n, k, packBF16ForTest(w))
		want := make([]float32, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s float64
				for l := 0; l < k; l++ {
					s += float64(x[i*k+l]) * float64(dec[j*k+l])
				}
				want[i*n+j] = float32(s)
			}
		}
		checkClose(t, fmt.Sprintf("Go panels m=%d n=%d k=%d", m, n, k), got, want, absDots(x, dec, m, n, k), 1e-5)
	}
}

// TestMatMulBF16Panels: MatMul on BF16 weights packed in panels agrees with the plain Go
// twin on random shapes with ragged edges (n not a multiple of 16, k not of the piece,
// m past a tile and a block), to the last bit but for the rare double rounding of the
// twin's float32 fused multiply-add, and with the float64 product.
func TestMatMulBF16Panels(t *testing.T) {
	if !bf16PanelsOn() {
		t.Skip("no BF16 panel kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(20, 3))
	p := NewPool(2)
	defer p.Close()
	for _, n := range []int{1, 15, 16, 17, 37, 64} {
		for _, k := range []int{1, 7, 8, 511, 512, 513, 1100} {
			for _, m := range []int{1, 2, 5, 6, 7, 13, 130} {
				if m == 130 && k > 512 && n > 17 {
					continue // keeps the test short; the block edge is covered below
				}
				w, dec := randWeight(t, rng, tensor.BF16, n, k)
				w.Packed = packBF16ForTest(w)
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				want := make([]float32, m*n)
				matMulBF16PanelsGo(want, x, m, n, k, w.Packed)
				what := fmt.Sprintf("panels m=%d n=%d k=%d", m, n, k)
				scale := absDots(x, dec, m, n, k)
				checkClose(t, what+" vs Go twin", got, want, scale, 1e-6)
				ref := make([]float32, m*n)
				matMulGeneric(p, ref, x, m, n, k, w.Data, 2*k, tensor.BF16)
				checkClose(t, what+" vs unpacked", got, ref, scale, 1e-5)
			}
		}
	}
}

// TestMatMulBF16PanelsRowInvariance: with panels, a row's outputs are bit-identical
// whatever the number of rows in the call and wherever the row sits among them.
func TestMatMulBF16PanelsRowInvariance(t *testing.T) {
	if !bf16PanelsOn() {
		t.Skip("no BF16 panel kernels on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(20, 4))
	p := NewPool(2)
	defer p.Close()
	for _, sh := range [][2]int{{37, 3}, {37, 96}, {37, 2080}, {80, 96}, {80, 1100}} {
		// n = 80: one row takes dotBF16P_vec for the first 64 rows, the tiles for the rest.
		n, k := sh[0], sh[1]
		const M = 140 // past a block of 128 rows
		w, _ := randWeight(t, rng, tensor.BF16, n, k)
		w.Packed = packBF16ForTest(w)
		x := randVec(rng, M*k)
		all := make([]float32, M*n)
		if err := p.MatMul(all, x, M, w); err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 2, 3, 5, 6, 7, 16, 17, 129, 130} {
			for _, i0 := range []int{0, 3, M - m} {
				got := make([]float32, m*n)
				if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, w); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != all[i0*n+i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(all[i0*n+i]))) {
						t.Errorf("n=%d k=%d: row %d of %d (from row %d): output %d = %g, among %d rows %g", n, k, i/n, m, i0, i%n, got[i], M, all[i0*n+i])
						break
					}
				}
			}
		}
	}
}

// TestPackBF16Panels: Pack lays out BF16 matrices in panels where the panel kernels
// serve them, MatMul's results are those of the unpacked weights (to rounding) and
// RowBytes still returns the rows as stored.
func TestPackBF16Panels(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 5))
	p := NewPool(2)
	defer p.Close()
	const m, n, k = 3, 40, 96
	w, dec := randWeight(t, rng, tensor.BF16, n, k)
	data := append([]byte(nil), w.Data...)
	x := randVec(rng, m*k)
	want := make([]float32, m*n)
	if err := p.MatMul(want, x, m, w); err != nil {
		t.Fatal(err)
	}
	p.Pack([]*tensor.Tensor{w})
	if bf16PanelsOn() != (w.Packed != nil && len(w.Packed) == bf16PanelBytes(n, k)) {
		t.Fatalf("panels on: %v, packed %d bytes", bf16PanelsOn(), len(w.Packed))
	}
	if string(RowBytes(w)) != string(data) {
		t.Fatal("RowBytes after Pack differs from the stored rows")
	}
	got := make([]float32, m*n)
	if err := p.MatMul(got, x, m, w); err != nil {
		t.Fatal(err)
	}
	checkClose(t, "packed vs unpacked", got, want, absDots(x, dec, m, n, k), 1e-5)
	if bf16PanelsOn() {
		short := *w
		short.Packed = w.Packed[:len(w.Packed)-32]
		if err := p.MatMul(got, x, m, &short); err == nil {
			t.Error("MatMul accepted panels too short for the shape")
		}
	}
}
