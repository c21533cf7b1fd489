package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// blockTypes lists the types matMulBlocks serves.
func blockTypes() []tensor.DType {
	var ds []tensor.DType
	for d := tensor.DType(0); d.Valid(); d++ {
		if tensor.Unpacker(d) != nil {
			ds = append(ds, d)
		}
	}
	return ds
}

// randBlocks returns an [n, k] weight of type dt made of random bytes, with its float16
// (for Q8_K float32) scales set to small random values so that products stay finite.
func randBlocks(rng *rand.Rand, dt tensor.DType, n, k int) *tensor.Tensor {
	rs, _ := dt.RowBytes(k)
	w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	for i := range w.Data {
		w.Data[i] = byte(rng.Uint32())
	}
	f16 := func(blk []byte, off int) {
		binary.LittleEndian.PutUint16(blk[off:], tensor.F32ToF16((rng.Float32()-0.3)*0.02))
	}
	offs := map[tensor.DType][]int{
		tensor.Q4_1: {0, 2}, tensor.Q5_1: {0, 2}, tensor.Q5_K: {0, 2}, tensor.Q2_K: {80, 82},
		tensor.Q3_K: {108}, tensor.Q6_K: {208}, tensor.TQ1_0: {52}, tensor.TQ2_0: {64},
	}
	bb := dt.BlockBytes()
	for b := 0; b < len(w.Data)/bb; b++ {
		blk := w.Data[b*bb : (b+1)*bb]
		switch dt {
		case tensor.Q8_K:
			binary.LittleEndian.PutUint32(blk, math.Float32bits(rng.Float32()*0.01))
		case tensor.IQ1_M: // the scale's 16 bits sit in the top nibbles of four words
			h := tensor.F32ToF16(rng.Float32() * 0.01)
			for i := 0; i < 4; i++ {
				v := binary.LittleEndian.Uint16(blk[48+2*i:])&0x0fff | (h>>(4*i)&15)<<12
				binary.LittleEndian.PutUint16(blk[48+2*i:], v)
			}
		default:
			o, ok := offs[dt]
			if !ok {
				o = []int{0}
			}
			for _, off := range o {
				f16(blk, off)
			}
		}
	}
	return w
}

// typedWeight returns a random [n, k] weight of type dt: randWeight's for the types it
// makes, random blocks (randBlocks) for the others.
func typedWeight(tb testing.TB, rng *rand.Rand, dt tensor.DType, n, k int) *tensor.Tensor {
	if tensor.Unpacker(dt) != nil {
		return randBlocks(rng, dt, n, k)
	}
	w, _ := randWeight(tb, rng, dt, n, k)
	return w
}

// TestMatMulBlocks compares MatMul with every type of matMulBlocks against a float64
// product of the weights as tensor.DecodeRow decodes them (bit for bit llama.cpp's
// dequantization) and the activations as QuantizeQ8 rounds them: the two differ by float
// rounding only.
func TestMatMulBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range blockTypes() {
		ks := []int{256, 768}
		if dt.BlockSize() == 32 {
			ks = []int{32, 96, 256}
		}
		for _, k := range ks {
			for _, nm := range [][2]int{{1, 1}, {7, 1}, {13, 3}, {5, 9}} {
				n, m := nm[0], nm[1]
				w := randBlocks(rng, dt, n, k)
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				_, _, deq := quantRef(x, m, k)
				dec := make([]float32, k)
				u := &unpackedRow{}
				u.size(k)
				name := fmt.Sprintf("%s m=%d n=%d k=%d", dt, m, n, k)
				for j := 0; j < n; j++ {
					row := w.Row(j)
					if err := tensor.DecodeRow(dec, row, dt); err != nil {
						t.Fatal(err)
					}
					unpackRow(u, row, dt, k)
					for i := 0; i < m; i++ {
						var want, scale float64
						for l := 0; l < k; l++ {
							xv := float64(deq[i*k+l])
							want += float64(dec[l]) * xv
							scale += (math.Abs(float64(u.sc[l/16])*float64(u.q[l])) + math.Abs(float64(u.mn[l/16]))) * math.Abs(xv)
						}
						if d := math.Abs(float64(got[i*n+j]) - want); d > 1e-5*scale+1e-30 {
							t.Errorf("%s: [%d,%d] = %g, want %g (|diff| %g, scale %g)", name, i, j, got[i*n+j], want, d, scale)
						}
					}
				}
			}
		}
	}
}

// TestMatMulBlocksRowInvariance: for every type of matMulBlocks, an activation row's
// outputs are the same bits whatever the number of rows in the call and wherever the row
// sits among them (as TestMatMulRowInvariance checks for the other types).
func TestMatMulBlocksRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range blockTypes() {
		const n, M, k = 19, 40, 512
		w := randBlocks(rng, dt, n, k)
		x := randVec(rng, M*k)
		all := make([]float32, M*n)
		if err := p.MatMul(all, x, M, w); err != nil {
			t.Fatal(err)
		}
		for _, m := range []int{1, 2, 5, 17} {
			for _, i0 := range []int{0, 3, M - m} {
				got := make([]float32, m*n)
				if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, w); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != all[i0*n+i] {
						t.Errorf("%s: row %d of %d (from row %d): output %d = %g, among %d rows %g", dt, i/n, m, i0, i%n, got[i], M, all[i0*n+i])
						break
					}
				}
			}
		}
	}
}

// TestFusedKernels compares the fused assembly kernels with their plain Go versions
// (dotQ5KGeneric, dotIQ4XSGeneric, dotQ3KGeneric, dotIQ2XSGeneric, dotQ2KGeneric) on
// random rows of 1 to 9 super-blocks; IQ2_XS's and Q2_K's twins follow their kernels'
// order and must match them to the bit.
func TestFusedKernels(t *testing.T) {
	if dotQ5KVec == nil || dotIQ4XSVec == nil || dotQ3KVec == nil || dotIQ2XSVec == nil || dotQ2KVec == nil {
		t.Skip("no fused kernels on this CPU (they need AVX2, FMA and F16C)")
	}
	rng := rand.New(rand.NewPCG(25, 26))
	for _, dt := range []tensor.DType{tensor.Q5_K, tensor.IQ4_XS, tensor.Q3_K, tensor.IQ2_XS, tensor.Q2_K} {
		for nsb := 1; nsb <= 9; nsb++ {
			k := 256 * nsb
			w := randBlocks(rng, dt, 1, k)
			x := randVec(rng, k)
			xq, xd, deq := quantRef(x, 1, k)
			s := &quantScratch{q: xq, d: xd}
			xs := blockSums(s, 1, k)
			var got, want float32
			switch dt {
			case tensor.Q5_K:
				got = dotQ5KVec(&w.Data[0], &xq[0], &xd[0], &xs[0], nsb)
				want = dotQ5KGeneric(w.Data, xq, xd, xs, nsb)
			case tensor.Q3_K:
				got = dotQ3KVec(&w.Data[0], &xq[0], &xd[0], nsb)
				want = dotQ3KGeneric(w.Data, xq, xd, nsb)
			case tensor.Q2_K:
				xs16 := blockSums16(s, 1, k)
				got = dotQ2KVec(&w.Data[0], &xq[0], &xd[0], &xs16[0], nsb)
				want = dotQ2KGeneric(w.Data, xq, xd, xs16, nsb)
			case tensor.IQ2_XS:
				got = dotIQ2XSVec(&w.Data[0], &xq[0], &xd[0], nsb, &tensor.IQ2XSGrid()[0])
				want = dotIQ2XSGeneric(w.Data, xq, xd, nsb)
			default:
				got = dotIQ4XSVec(&w.Data[0], &xq[0], &xd[0], nsb)
				want = dotIQ4XSGeneric(w.Data, xq, xd, nsb)
			}
			dec := make([]float32, k)
			if err := tensor.DecodeRow(dec, w.Data, dt); err != nil {
				t.Fatal(err)
			}
			var scale float64
			for l := range dec {
				scale += math.Abs(float64(dec[l]) * float64(deq[l]))
			}
			if (dt == tensor.IQ2_XS || dt == tensor.Q2_K) && got != want {
				t.Errorf("%s nsb=%d: assembly %g, plain Go %g: not the same bits", dt, nsb, got, want)
			}
			if d := math.Abs(float64(got - want)); d > 1e-5*scale*4+1e-30 {
				t.Errorf("%s nsb=%d: assembly %g, plain Go %g (|diff| %g, scale %g)", dt, nsb, got, want, d, scale)
			}
		}
	}
}

// BenchmarkMatVecBlocks times a 2048×2048 matrix-vector product for every type of
// matMulBlocks and, for comparison, Q4_K and Q6_K (their own kernels); bytes/s is the
// weight stream.
func BenchmarkMatVecBlocks(b *testing.B) {
	rng := rand.New(rand.NewPCG(27, 28))
	p := NewPool(1)
	defer p.Close()
	const n, k = 2048, 2048
	types := append(blockTypes(), tensor.Q4_K, tensor.Q6_K)
	for _, dt := range types {
		w := typedWeight(b, rng, dt, n, k)
		x := randVec(rng, k)
		out := make([]float32, n)
		b.Run(dt.String(), func(b *testing.B) {
			b.SetBytes(int64(len(w.Data)))
			for i := 0; i < b.N; i++ {
				if err := p.MatMul(out, x, 1, w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
