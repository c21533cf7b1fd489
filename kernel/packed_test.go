package kernel

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// packedRef is a plain Go reading of the packed layout (packGroup, groupLayout): the product of the
// packed rows with activations quantized by QuantizeQ8, block sums scaled as
// (s·dx)·dw and added block after block.
func packedRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte, dt tensor.DType) {
	nb := k / 32
	gl := groupLayout(dt, k)
	gs := gl.size
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/16, j%16
			grp := packed[g*gs : (g+1)*gs]
			var acc float32
			for b := 0; b < nb; b++ {
				var s int32
				for l := 0; l < 32; l++ {
					q, e := l/4, l%4
					var w int32
					if dt == tensor.Q8_0 {
						w = int32(int8(grp[gl.qoff+gl.qstride*b+4*(16*q+r)+e]))
					} else {
						v := grp[gl.qoff+gl.qstride*b+64*(q/2)+4*r+e]
						if q%2 == 1 {
							v >>= 4
						}
						w = int32(v&15) - 8
					}
					s += w * int32(xq[i*k+32*b+l])
				}
				dw := tensor.F16ToF32(binary.LittleEndian.Uint16(grp[gl.sstride*b+2*r:]))
				acc += float32(s) * xd[i*nb+b] * dw
			}
			out[i*n+j] = acc
		}
	}
}

// TestPackGroupLayout checks the packed layout itself, on every CPU: read back by
// packedRef it gives the plain Go product of the original rows.
func TestPackGroupLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		for _, k := range []int{32, 96, 544} {
			for _, n := range []int{1, 16, 17, 40} {
				const m = 3
				w, dec := randWeight(t, rng, dt, n, k)
				rs, _ := dt.RowBytes(k)
				gs := groupLayout(dt, k).size
				packed := make([]byte, (n+15)/16*gs)
				for g := 0; g < (n+15)/16; g++ {
					packGroup(packed[g*gs:(g+1)*gs], w.Data, rs, 16*g, min(16, n-16*g), k, dt)
				}
				x := randVec(rng, m*k)
				xq, xd, deq := quantRef(x, m, k)
				got := make([]float32, m*n)
				packedRef(got, xq, xd, m, n, k, packed, dt)
				want := make([]float32, m*n)
				matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, rs, dt)
				checkClose(t, fmt.Sprintf("packed layout %s n=%d k=%d", dt, n, k), got, want, quantScale(t, w, deq, dec, m), 1e-5)
			}
		}
	}
}

// aligned64 returns a copy of w whose data starts at the given offset from a 64-byte
// boundary.
func aligned64(w *tensor.Tensor, off int) *tensor.Tensor {
	raw := make([]byte, len(w.Data)+128)
	start := (64-int(uintptr(unsafe.Pointer(&raw[0]))%64))%64 + off
	c := *w
	c.Data = raw[start : start+len(w.Data)]
	copy(c.Data, w.Data)
	return &c
}

// TestPackSelection: Pack lays out Q8_0 and Q4_0 matrices, each once, where the CPU has
// the packed kernels (AMX, or the AVX2 ones of packed groups), and copies float matrices that do not start on a 64-byte boundary
// (whose products then give the same bits), and aligned ones where huge pages are to be
// had (F16 here: BF16 goes into panels where the AVX2 kernels serve it, TestPackBF16Panels).
func TestPackSelection(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	p := NewPool(2)
	defer p.Close()
	q8, _ := randWeight(t, rng, tensor.Q8_0, 20, 64)
	q4, _ := randWeight(t, rng, tensor.Q4_0, 3, 32)
	w16, _ := randWeight(t, rng, tensor.F16, 20, 40)
	bfA := aligned64(w16, 0)
	bfU := aligned64(w16, 24)
	got := p.Pack([]*tensor.Tensor{q8, bfA, q8, q4, nil, bfU})
	// An aligned matrix is copied only where the system has huge pages.
	if (bfA.Packed != nil) != mmap.HugePages() || len(bfU.Packed) != len(w16.Data) {
		t.Fatalf("float matrices: aligned one packed %v (huge pages: %v), unaligned one packed to %d bytes (want %d)", bfA.Packed != nil, mmap.HugePages(), len(bfU.Packed), len(w16.Data))
	}
	if a := uintptr(unsafe.Pointer(&bfU.Packed[0])); a%64 != 0 {
		t.Fatalf("the copy of an unaligned matrix is at %#x, not 64-byte aligned", a)
	}
	x := randVec(rng, 3*40)
	want, got16 := make([]float32, 3*20), make([]float32, 3*20)
	if err := p.MatMul(want, x, 3, w16); err != nil {
		t.Fatal(err)
	}
	if err := p.MatMul(got16, x, 3, bfU); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i] != got16[i] {
			t.Fatalf("aligned copy: output %d = %g, the original gives %g", i, got16[i], want[i])
		}
	}
	if packedMatMuls == nil {
		if (q8.Packed != nil) != q8PackedOn() || (q4.Packed != nil) != q4PackedOn() {
			t.Fatalf("without AMX: Q8_0 packed %v, Q4_0 packed %v (AVX2 packed kernels: Q8_0 %v, Q4_0 %v)", q8.Packed != nil, q4.Packed != nil, q8PackedOn(), q4PackedOn())
		}
		return
	}
	g8, _ := packLayout(tensor.Q8_0, 64)
	g4, _ := packLayout(tensor.Q4_0, 32)
	if len(q8.Packed) != 2*g8 || len(q4.Packed) != g4 {
		t.Fatalf("packed sizes %d, %d (want %d, %d)", len(q8.Packed), len(q4.Packed), 2*g8, g4)
	}
	if got < int64(2*g8+g4+len(w16.Data)) {
		t.Fatalf("Pack reports %d bytes, less than it laid out", got)
	}
	if p.Pack([]*tensor.Tensor{q8}) != 0 {
		t.Fatal("Pack laid out a tensor a second time")
	}
}

// TestMatMuls: several products sharing x give what MatMul gives for each, bit for bit,
// whether the weights are packed (one shared preparation of x) or not, for one
// activation row and for several; mismatched arguments are errors.
func TestMatMuls(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	p := NewPool(2)
	defer p.Close()
	const k = 96
	var ws []*tensor.Tensor
	for i, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q8_0} {
		w, _ := randWeight(t, rng, dt, []int{40, 17, 3}[i], k)
		ws = append(ws, w)
	}
	f32, _ := randWeight(t, rng, tensor.F32, 5, k)
	packed := make([]*tensor.Tensor, len(ws))
	for i, w := range ws {
		c := *w
		c.Packed = nil
		packed[i] = &c
	}
	p.Pack(packed)
	for _, set := range []struct {
		name string
		ws   []*tensor.Tensor
	}{
		{"plain", ws},
		{"packed", packed},
		{"mixed", []*tensor.Tensor{packed[0], f32, packed[1]}},
	} {
		for _, m := range []int{1, 3, 17} {
			x := randVec(rng, m*k)
			outs := make([][]float32, len(set.ws))
			for i, w := range set.ws {
				outs[i] = make([]float32, m*w.Shape[0])
			}
			if err := p.MatMuls(outs, x, m, set.ws); err != nil {
				t.Fatalf("%s m=%d: %v", set.name, m, err)
			}
			for i, w := range set.ws {
				want := make([]float32, m*w.Shape[0])
				if err := p.MatMul(want, x, m, w); err != nil {
					t.Fatal(err)
				}
				for e := range want {
					if outs[i][e] != want[e] {
						t.Fatalf("%s m=%d weight %d: output %d = %g, MatMul gives %g", set.name, m, i, e, outs[i][e], want[e])
					}
				}
			}
		}
	}
	x := randVec(rng, k)
	if err := p.MatMuls([][]float32{make([]float32, 40)}, x, 1, ws[:2]); err == nil {
		t.Error("MatMuls with fewer outputs than weights: no error")
	}
	if err := p.MatMuls([][]float32{make([]float32, 40), make([]float32, 2)}, x, 1, ws[:2]); err == nil {
		t.Error("MatMuls with a short output: no error")
	}
}

// BenchmarkPackGroup lays out a 2048×2048 Q8_0 or Q4_0 matrix for the packed kernels on
// one thread, the work Pool.Pack does for each such matrix at load time.
func BenchmarkPackGroup(b *testing.B) {
	const n, k = 2048, 2048
	for _, dt := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		b.Run(dt.String(), func(b *testing.B) {
			rs, _ := dt.RowBytes(k)
			data := make([]byte, n*rs)
			for i := range data {
				data[i] = byte(i * 7)
			}
			gs := groupLayout(dt, k).size
			dst := make([]byte, n/16*gs)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for g := 0; g < n/16; g++ {
					packGroup(dst[g*gs:(g+1)*gs], data, rs, 16*g, 16, k, dt)
				}
			}
		})
	}
}
