package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// randomWeight returns an [n, k] matrix of type dt with random contents: encoded from
// random values where tensor.EncodeRow writes the type, else random blocks whose decoded
// values are finite and moderate.
func randomWeight(t *testing.T, rng *rand.Rand, dt tensor.DType, n, k int) *tensor.Tensor {
	t.Helper()
	rs, err := dt.RowBytes(k)
	if err != nil {
		t.Fatal(err)
	}
	w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	row := make([]float32, k)
	for i := 0; i < n; i++ {
		dst := w.Data[i*rs : (i+1)*rs]
		for j := range row {
			row[j] = float32(rng.NormFloat64())
		}
		if tensor.EncodeRow(dst, row, dt) == nil {
			continue
		}
		for try := 0; ; try++ {
			if try == 1000 {
				t.Fatalf("%s: no random row decodes to finite values", dt)
			}
			for j := range dst {
				dst[j] = byte(rng.Uint32())
			}
			if err := tensor.DecodeRow(row, dst, dt); err != nil {
				t.Fatal(err)
			}
			ok := true
			for _, v := range row {
				if math.IsNaN(float64(v)) || math.Abs(float64(v)) > 1e4 {
					ok = false
				}
			}
			if ok {
				break
			}
		}
	}
	return w
}

// TestLinearMatchesPlain compares the frozen products, x·Wᵀ and dy·W, with plain float64
// loops over the decoded weights, for every weight type, on shapes with ragged edges and
// with slabs small enough that a matrix takes several.
func TestLinearMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	pool := kernel.NewPool(2)
	defer pool.Close()
	defer func(s int) { slabElems = s }(slabElems)
	for dt := tensor.DType(0); dt.Valid(); dt++ {
		if dt == tensor.I32 {
			continue
		}
		bs := dt.BlockSize()
		for _, sh := range [][3]int{{1, 1, 1}, {3, 17, 2}, {70, 37, 3}, {5, 9, 4}} {
			m, n, k := sh[0], sh[1], sh[2]*bs
			if bs == 1 {
				k = sh[2]*8 + sh[1]%7 // ragged: not a multiple of the 8-wide vectors
			}
			for _, slab := range []int{1 << 22, 3 * k} {
				slabElems = slab
				name := fmt.Sprintf("%s m=%d n=%d k=%d slab=%d", dt, m, n, k, slab)
				w := randomWeight(t, rng, dt, n, k)
				wf := make([]float32, n*k)
				for j := 0; j < n; j++ {
					if err := tensor.DecodeRow(wf[j*k:(j+1)*k], w.Row(j), dt); err != nil {
						t.Fatal(err)
					}
				}
				x, dy := to32(randVec(rng, m*k, 1)), to32(randVec(rng, m*n, 1))
				want, wantAbs := make([]float64, m*n), make([]float64, m*n)
				wantDX := randVec(rng, m*k, 1) // backward adds to what is there
				dx := to32(wantDX)
				dxAbs := make([]float64, m*k)
				for i, v := range wantDX {
					dxAbs[i] = math.Abs(v)
				}
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						for l := 0; l < k; l++ {
							p, q := float64(x[i*k+l])*float64(wf[j*k+l]), float64(dy[i*n+j])*float64(wf[j*k+l])
							want[i*n+j] += p
							wantAbs[i*n+j] += math.Abs(p)
							wantDX[i*k+l] += q
							dxAbs[i*k+l] += math.Abs(q)
						}
					}
				}
				lin := linear{pool: pool}
				y := make([]float32, m*n)
				if err := lin.forward(y, x, m, w); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				closeSum(t, name+" forward", y, want, wantAbs)
				if err := lin.backward(dx, dy, m, w); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				closeSum(t, name+" backward", dx, wantDX, dxAbs)
			}
		}
	}
}

// closeSum fails when an element of got is further from want than float32 rounding of a
// sum of terms whose magnitudes add up to abs allows.
func closeSum(t *testing.T, name string, got []float32, want, abs []float64) {
	t.Helper()
	for i, g := range got {
		if d := math.Abs(float64(g) - want[i]); !(d <= 1e-5*abs[i]+1e-30) {
			t.Fatalf("%s: element %d is %v, want %v (sum of magnitudes %v)", name, i, g, want[i], abs[i])
		}
	}
}

// TestLinearReadsPacked: for float weights Pool.Pack copies unchanged (F16; BF16 where it
// is not laid out in panels, kernel.RowBytes) the backward reads Packed (whose source
// pages may have been given back), as MatMul does.
func TestLinearReadsPacked(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	pool := kernel.NewPool(2)
	defer pool.Close()
	const m, n, k = 3, 5, 40
	w := randomWeight(t, rng, tensor.F16, n, k)
	dy := to32(randVec(rng, m*n, 1))
	lin := linear{pool: pool}
	want := make([]float32, m*k)
	if err := lin.backward(want, dy, m, w); err != nil {
		t.Fatal(err)
	}
	w.Packed, w.Data = w.Data, make([]byte, len(w.Data))
	got := make([]float32, m*k)
	if err := lin.backward(got, dy, m, w); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d: %v from Packed, %v from Data", i, got[i], want[i])
		}
	}
}
