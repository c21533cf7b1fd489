//go:build amd64 && linux && !purego

package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// qv512Skip skips a test or benchmark where the AVX-512 matrix-vector kernels are not in
// use, saying why.
func qv512Skip(tb testing.TB) {
	tb.Helper()
	switch {
	case !useAsm:
		tb.Skip("the AVX2 kernels are off (no AVX2/FMA/F16C), so are the AVX-512 ones")
	case !qv512CPU():
		tb.Skip("the CPU lacks AVX-512 F/BW/VL, VNNI, VBMI or GFNI")
	}
}

// qv512Weights returns n random rows of k Q8_0 or Q4_0 values: random quantized bytes,
// the extremes (-128 and 127, nibbles 0 and 15) in some blocks, and f16 scales from
// ordinary through the largest finite and subnormal to zero and negative.
func qv512Weights(rng *rand.Rand, dt tensor.DType, n, k int) ([]byte, int) {
	rs, _ := dt.RowBytes(k)
	bb := dt.BlockBytes()
	data := make([]byte, n*rs)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	scales := []uint16{0x7bff, 0x0001, 0x03ff, 0x0000, 0x8400, 0xfbff}
	for b := 0; b < len(data)/bb; b++ {
		blk := data[b*bb : (b+1)*bb]
		switch rng.IntN(8) {
		case 0:
			for i := 2; i < bb; i++ {
				blk[i] = 0x80 // -128 (Q8_0), nibbles 0 and 8 (Q4_0)
			}
		case 1:
			for i := 2; i < bb; i++ {
				blk[i] = 0x7f // 127 (Q8_0)
			}
		case 2:
			for i := 2; i < bb; i++ {
				blk[i] = 0xff // nibbles 15 (Q4_0), -1 (Q8_0)
			}
		case 3:
			for i := 2; i < bb; i++ {
				blk[i] = 0x00 // nibbles 0 (Q4_0)
			}
		}
		var s uint16
		if rng.IntN(4) == 0 {
			s = scales[rng.IntN(len(scales))]
		} else {
			s = tensor.F32ToF16(float32(rng.NormFloat64() * 0.02))
		}
		binary.LittleEndian.PutUint16(blk, s)
	}
	return data, rs
}

// qv512Acts returns one quantized activation row: random int8 with runs of the extremes
// -128 and 127, and scales of several magnitudes (some zero).
func qv512Acts(rng *rand.Rand, k int) ([]int8, []float32) {
	xq := make([]int8, k)
	xd := make([]float32, k/32)
	for b := range xd {
		mode := rng.IntN(6)
		for i := 32 * b; i < 32*b+32; i++ {
			switch mode {
			case 0:
				xq[i] = -128
			case 1:
				xq[i] = 127
			case 2:
				xq[i] = int8([]int{-128, 127}[rng.IntN(2)])
			default:
				xq[i] = int8(rng.Uint32())
			}
		}
		switch rng.IntN(8) {
		case 0:
			xd[b] = 0
		case 1:
			xd[b] = 1
		default:
			xd[b] = float32(math.Exp(rng.NormFloat64() * 3))
		}
	}
	return xq, xd
}

// qv512Scale returns Σ_b |dw·dx|·Σ|qw·qx| for one row in float64, the scale of float
// rounding in its product.
func qv512Scale(row []byte, dt tensor.DType, xq []int8, xd []float32) float64 {
	var s float64
	for b := range xd {
		var isum float64
		var dw float32
		if dt == tensor.Q8_0 {
			blk := row[34*b : 34*b+34]
			dw = tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			for i := 0; i < 32; i++ {
				isum += math.Abs(float64(int8(blk[2+i])) * float64(xq[32*b+i]))
			}
		} else {
			blk := row[18*b : 18*b+18]
			dw = tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			for i := 0; i < 16; i++ {
				isum += math.Abs(float64(int(blk[2+i]&15)-8) * float64(xq[32*b+i]))
				isum += math.Abs(float64(int(blk[2+i]>>4)-8) * float64(xq[32*b+16+i]))
			}
		}
		s += math.Abs(float64(dw)*float64(xd[b])) * isum
	}
	return s
}

// TestQv512MatVec compares the AVX-512 matrix-vector path (matVecQuantWide) with the
// plain Go version on random ragged shapes, extreme values and scales, on 1 and 2
// threads.
func TestQv512MatVec(t *testing.T) {
	qv512Skip(t)
	rng := rand.New(rand.NewPCG(5, 12))
	for _, threads := range []int{1, 2} {
		p := NewPool(threads)
		for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q8_0} {
			for _, k := range []int{32, 64, 96, 2080, 4096} {
				for _, n := range []int{1, 2, 3, 4, 5, 6, 7, 9, 13, 14, 17, 255} { // row counts 1..16 of a kernel call (255: 15 calls of 16, one of 15)
					data, rs := qv512Weights(rng, dt, n, k)
					xq, xd := qv512Acts(rng, k)
					s := &quantScratch{q: xq, d: xd}
					got := make([]float32, n)
					for i := range got {
						got[i] = float32(math.NaN()) // every output must be written
					}
					name := fmt.Sprintf("%s n=%d k=%d threads=%d", dt, n, k, threads)
					if !qv512MatVec(p, got, s, n, k, data, rs, dt) {
						t.Fatalf("%s: not handled", name)
					}
					want := make([]float32, n)
					matMulQuantGeneric(nil, want, xq, xd, 1, n, k, data, rs, dt)
					scale := make([]float64, n)
					for j := range scale {
						scale[j] = qv512Scale(data[j*rs:(j+1)*rs], dt, xq, xd)
					}
					checkClose(t, name, got, want, scale, 1e-5)
				}
			}
		}
		p.Close()
	}
}

// fma32 returns a·b+c rounded once to float32 (VFMADD231PS). The float64 FMA is exact
// up to its one rounding to 53 bits, and rounding that to 24 bits gives the float32 FMA
// except where it lands exactly halfway between two float32 values: there the exact sum
// decides.
func fma32(a, b, c float32) float32 {
	r := math.FMA(float64(a), float64(b), float64(c))
	f := float32(r)
	if math.IsInf(r, 0) || math.IsNaN(r) || float64(f) == r {
		return f
	}
	g := math.Nextafter32(f, float32(math.Copysign(math.Inf(1), r-float64(f))))
	if (float64(f)+float64(g))/2 != r {
		return f
	}
	const prec = 1 << 11 // enough for any exact sum of a float32 product and a float32
	z := new(big.Float).SetPrec(prec).Mul(big.NewFloat(float64(a)).SetPrec(prec), big.NewFloat(float64(b)))
	z.Add(z, big.NewFloat(float64(c)))
	f, _ = z.Float32()
	return f
}

// qv512Ref returns one row's dot product computed as every Q8_0/Q4_0 matrix kernel on
// AVX-512 computes it: per block in order, the exact int32 Σ w·x, t = float32(s)·dx,
// acc = fma(t, dw, acc).
func qv512Ref(row []byte, dt tensor.DType, xq []int8, xd []float32) float32 {
	acc := float32(0)
	for b := range xd {
		var s int32
		var dw float32
		x := xq[32*b : 32*b+32]
		if dt == tensor.Q8_0 {
			blk := row[34*b : 34*b+34]
			dw = tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			for i := 0; i < 32; i++ {
				s += int32(int8(blk[2+i])) * int32(x[i])
			}
		} else {
			blk := row[18*b : 18*b+18]
			dw = tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			for i := 0; i < 16; i++ {
				s += (int32(blk[2+i]&15) - 8) * int32(x[i])
				s += (int32(blk[2+i]>>4) - 8) * int32(x[16+i])
			}
		}
		acc = fma32(float32(s)*xd[b], dw, acc)
	}
	return acc
}

// TestQv512Exact checks the AVX-512 matrix-vector kernels bit for bit against qv512Ref
// (the order of operations of the matrix-matrix kernels, which TestMatMulRowInvariance
// compares with them) on random ragged shapes, extreme values and scales.
func TestQv512Exact(t *testing.T) {
	qv512Skip(t)
	rng := rand.New(rand.NewPCG(9, 31))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q8_0} {
		for _, k := range []int{32, 64, 96, 128, 160, 224, 2080} {
			for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 31, 33, 100} {
				data, rs := qv512Weights(rng, dt, n, k)
				xq, xd := qv512Acts(rng, k)
				got := make([]float32, n)
				if !qv512MatVec(p, got, &quantScratch{q: xq, d: xd}, n, k, data, rs, dt) {
					t.Fatalf("%s n=%d k=%d: not handled", dt, n, k)
				}
				for j := range got {
					want := qv512Ref(data[j*rs:(j+1)*rs], dt, xq, xd)
					if math.Float32bits(got[j]) != math.Float32bits(want) && !(got[j] != got[j] && want != want) {
						t.Errorf("%s n=%d k=%d: row %d = %g (%#x), want %g (%#x)", dt, n, k, j, got[j], math.Float32bits(got[j]), want, math.Float32bits(want))
						break
					}
				}
			}
		}
	}
}

// TestQv512Declines checks that the AVX-512 path leaves other weight types to the rest of
// MatMul.
func TestQv512Declines(t *testing.T) {
	qv512Skip(t)
	s := &quantScratch{q: make([]int8, 256), d: make([]float32, 8)}
	for _, dt := range []tensor.DType{tensor.F32, tensor.Q4_K, tensor.Q6_K} {
		if qv512MatVec(nil, make([]float32, 1), s, 1, 256, make([]byte, 1024), 1024, dt) {
			t.Errorf("%s: handled", dt)
		}
	}
}

// BenchmarkQv512MatVec measures the Q4_0 and Q8_0 matrix-vector product (m = 1) on one
// thread, with the AVX-512 kernels ("avx512") and without them (the AVX2 kernels,
// "avx2"), on a matrix that stays in the L2 cache (512×2048) and one of 512 MiB that
// streams from memory (the L3 cache may be reported as hundreds of MiB on a virtual
// machine), reporting weight GB/s per thread by the wall clock and by the thread's CPU
// time (cpu-GB/s, which holds on a machine shared with other work).
func BenchmarkQv512MatVec(b *testing.B) {
	qv512Skip(b)
	p := NewPool(1)
	rng := rand.New(rand.NewPCG(7, 7))
	const k = 2048
	for _, dt := range []tensor.DType{tensor.Q4_0, tensor.Q8_0} {
		rs, _ := dt.RowBytes(k)
		for _, size := range []struct {
			name string
			n    int
		}{{"cache", 512}, {"dram", (512 << 20) / rs}} {
			w := &tensor.Tensor{Name: "w", DType: dt, Shape: []int{size.n, k}, Data: make([]byte, size.n*rs)}
			fillNormal(rng, w)
			x := randVec(rng, k)
			out := make([]float32, size.n)
			for _, path := range []string{"avx2", "avx512"} {
				b.Run(fmt.Sprintf("%s/%s/%s", dt, size.name, path), func(b *testing.B) {
					saved := matVecQuantWide
					defer func() { matVecQuantWide = saved }()
					if path == "avx2" {
						matVecQuantWide = nil
					}
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					b.SetBytes(int64(len(w.Data)))
					t0 := threadCPU()
					for b.Loop() {
						if err := p.MatMul(out, x, 1, w); err != nil {
							b.Fatal(err)
						}
					}
					cpu := threadCPU() - t0
					b.ReportMetric(float64(len(w.Data))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
					b.ReportMetric(float64(len(w.Data))*float64(b.N)/cpu/1e9, "cpu-GB/s")
				})
			}
		}
	}
}
