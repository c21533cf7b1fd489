package kernel

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// FuzzMatMulQuant feeds arbitrary bytes as Q8_0, Q4_0, Q4_K and Q6_K weights (every bit
// pattern of values, scales and packed sub-block scales; float16 scales that are NaN or
// infinite are replaced by 1) and compares MatMul with the plain Go algorithm.
func FuzzMatMulQuant(f *testing.F) {
	f.Add([]byte{0x80, 0x7f, 1, 2, 3}, uint8(0), uint8(1))
	f.Add([]byte{0xff, 0x00, 0x10, 0x3c}, uint8(2), uint8(3))
	f.Add([]byte{0x5a}, uint8(3), uint8(5))
	types := []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_K, tensor.Q6_K}
	f.Fuzz(func(t *testing.T, seed []byte, sel, mSel uint8) {
		if len(seed) == 0 {
			return
		}
		dt := types[int(sel)%len(types)]
		m := 1 + int(mSel)%6
		n, k := 3, 2*dt.BlockSize()
		if dt.BlockSize() == 32 {
			n, k = 5, 96
		}
		rs, _ := dt.RowBytes(k)
		data := make([]byte, n*rs)
		for i := range data {
			data[i] = seed[i%len(seed)] ^ byte(i*7/len(seed))
		}
		// Make the float16 scales finite.
		bb := dt.BlockBytes()
		var scales []int
		switch dt {
		case tensor.Q4_K:
			scales = []int{0, 2}
		case tensor.Q6_K:
			scales = []int{208}
		default:
			scales = []int{0}
		}
		for b := 0; b < len(data)/bb; b++ {
			for _, o := range scales {
				h := binary.LittleEndian.Uint16(data[b*bb+o:])
				if h&0x7c00 == 0x7c00 {
					binary.LittleEndian.PutUint16(data[b*bb+o:], 0x3c00)
				}
			}
		}
		w := &tensor.Tensor{Name: "fuzz", DType: dt, Shape: []int{n, k}, Data: data}
		x := make([]float32, m*k)
		for i := range x {
			x[i] = float32(int(seed[(i*3)%len(seed)])-128) / 16
		}
		got := make([]float32, m*n)
		p := NewPool(2)
		defer p.Close()
		if err := p.MatMul(got, x, m, w); err != nil {
			t.Fatal(err)
		}
		xq := make([]int8, m*k)
		xd := make([]float32, m*k/32)
		quantizeQ8Generic(xq, xd, x)
		want := make([]float32, m*n)
		matMulQuantGeneric(nil, want, xq, xd, m, n, k, data, rs, dt)
		// Scale of the rounding: the same products with every weight and activation
		// taken in magnitude (an upper bound on Σ|terms| for every type).
		for i := range want {
			var mag float64
			for b := 0; b < k/32; b++ {
				mag += float64(xd[(i/n)*(k/32)+b]) * 127 * 32
			}
			var wmax float64
			for b := 0; b < len(data)/bb; b++ {
				for _, o := range scales {
					wmax = math.Max(wmax, math.Abs(float64(tensor.F16ToF32(binary.LittleEndian.Uint16(data[b*bb+o:])))))
				}
			}
			bound := 1e-5*mag*wmax*128*64 + 1e-30
			if d := math.Abs(float64(got[i] - want[i])); !(d <= bound) {
				t.Fatalf("%s m=%d [%d] = %g, plain %g (bound %g)", dt, m, i, got[i], want[i], bound)
			}
		}
	})
}
