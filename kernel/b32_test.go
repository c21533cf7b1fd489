package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

var b32Types = pathB32

// checkB32Twin multiplies w by the m rows of x with MatMul and, where the b32 tiles serve
// w's type, compares every output bit for bit with b32DotGeneric on the same quantized
// activations; either way b32DotGeneric must agree with a float64 product of the
// decoded weights and the quantized activations to float rounding.
func checkB32Twin(t *testing.T, p *Pool, w *tensor.Tensor, x []float32, m int, name string) {
	t.Helper()
	n, k := w.Shape[0], w.Shape[1]
	nb := k / 32
	got := make([]float32, m*n)
	if err := p.MatMul(got, x, m, w); err != nil {
		t.Fatal(err)
	}
	xq, xd := make([]int8, m*k), make([]float32, m*nb)
	for i := 0; i < m; i++ {
		QuantizeQ8(xq[i*k:(i+1)*k], xd[i*nb:(i+1)*nb], x[i*k:(i+1)*k])
	}
	dec := make([]float32, k)
	asm := b32On(w.DType)
	bad := 0
	for j := 0; j < n && bad < 5; j++ {
		row := w.Row(j)
		if err := tensor.DecodeRow(dec, row, w.DType); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < m && bad < 5; i++ {
			want := b32DotGeneric(w.DType, row, xq[i*k:(i+1)*k], xd[i*nb:(i+1)*nb], nb)
			if asm && math.Float32bits(got[i*n+j]) != math.Float32bits(want) {
				t.Errorf("%s: [%d,%d] = %g, twin %g", name, i, j, got[i*n+j], want)
				bad++
			}
			var ref, scale float64
			for l := 0; l < k; l++ {
				xv := float64(xq[i*k+l]) * float64(xd[i*nb+l/32])
				ref += float64(dec[l]) * xv
				scale += math.Abs(float64(dec[l]) * xv)
			}
			if d := math.Abs(float64(want) - ref); d > 1e-5*scale+1e-30 {
				t.Errorf("%s: twin [%d,%d] = %g, float64 %g", name, i, j, want, ref)
				bad++
			}
		}
	}
}

// TestB32Twin: the b32 tiles (every C, ragged row counts) against their plain twin, bit
// for bit, on random blocks.
func TestB32Twin(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	p := NewPool(2)
	defer p.Close()
	t.Logf("b32 tiles on: %v; Q4_1 with 1 and 2 rows: %v; %v", b32On(tensor.Q4_1), MatMulPath(tensor.Q4_1, false, 1), MatMulPath(tensor.Q4_1, false, 2))
	for _, dt := range b32Types {
		for _, k := range []int{32, 64, 96, 288} {
			for _, n := range []int{1, 16, 17, 40} {
				w := randBlocks(rng, dt, n, k)
				ms := []int{1, 2, 3, 7, 12, 16, 17, 31}
				if k == 96 && n == 17 {
					ms = append(ms, 130)
				}
				for _, m := range ms {
					x := randVec(rng, m*k)
					checkB32Twin(t, p, w, x, m, fmt.Sprintf("%s n=%d k=%d m=%d", dt, n, k, m))
				}
			}
		}
	}
}

// TestB32Extremes: every nibble and high bit at its bounds (all 0, all 1, mixed), scales
// up to 1, and activations at ±127 (inputs ±1).
func TestB32Extremes(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	p := NewPool(2)
	defer p.Close()
	const n, k, m = 19, 96, 9
	for _, dt := range b32Types {
		for _, fill := range []byte{0x00, 0xff, 0x0f, 0xf0} {
			w := randBlocks(rng, dt, n, k)
			bb := dt.BlockBytes()
			for b := 0; b < len(w.Data)/bb; b++ {
				blk := w.Data[b*bb : (b+1)*bb]
				start := 2 // past d
				if dt == tensor.Q4_1 || dt == tensor.Q5_1 {
					start = 4
					binary.LittleEndian.PutUint16(blk[2:], tensor.F32ToF16(-rng.Float32()))
				}
				binary.LittleEndian.PutUint16(blk, tensor.F32ToF16(rng.Float32()))
				for i := start; i < bb; i++ {
					blk[i] = fill
				}
			}
			x := make([]float32, m*k)
			for i := range x {
				x[i] = float32(2*int(rng.Uint32()&1) - 1)
				if i%(k+1) == 0 {
					x[i] = 1
				}
			}
			checkB32Twin(t, p, w, x, m, fmt.Sprintf("%s fill %#x", dt, fill))
		}
	}
}

// TestB32Paths: MatMulPath names the b32 tiles for the four types exactly where they serve.
func TestB32Paths(t *testing.T) {
	for _, dt := range b32Types {
		for _, m := range []int{1, 2} {
			got := MatMulPath(dt, false, m).Kernel
			want := b32On(dt) && useAsm
			if is := len(got) >= 9 && got[:9] == "b32 tiles"; is != want {
				t.Errorf("%s m=%d: path %q, b32 on %v", dt, m, got, want)
			}
		}
	}
}

// b32Off turns the b32 tiles off (MatMul then takes the AVX2 fused kernels for their
// types) and returns the function that turns them back on.
func b32Off() func() {
	saved := b32Tiles
	b32Tiles = [4][]b32TileFn{}
	return func() { b32Tiles = saved }
}
