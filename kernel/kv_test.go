package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// kvCase is one shape of the KV-cache kernel tests: n values a row, rows stored stride
// elements (f16) or blocks' worth of bytes (q8_0) apart.
type kvCase struct{ n, extra, rows int }

func kvCases(q8 bool) []kvCase {
	var cs []kvCase
	ns := []int{0, 1, 7, 8, 15, 16, 24, 40, 64, 72, 128}
	if q8 {
		ns = []int{32, 64, 96, 128, 160}
	}
	for _, n := range ns {
		for _, extra := range []int{0, 3, 64} {
			for _, rows := range []int{0, 1, 2, 5, 33} {
				cs = append(cs, kvCase{n, extra, rows})
			}
		}
	}
	return cs
}

// checkClose fails when got and want differ by more than a few float32 roundings of
// mag, the sum of the magnitudes of the terms.
func kvClose(t *testing.T, what string, got float32, want, mag float64) {
	t.Helper()
	if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-30 {
		t.Errorf("%s: %g, want %g (off by %g, terms' magnitude %g)", what, got, want, d, mag)
	}
}

// TestKVF16 checks DotRowsF16 and AxpyRowsF16, fast and plain, against float64 sums of
// the widened values, and the fast path against the plain one, on ragged shapes.
func TestKVF16(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, c := range kvCases(false) {
		stride := c.n + c.extra
		q := randVec(rng, c.n)
		src := randVec(rng, max(c.rows-1, 0)*stride+c.n)
		keys := make([]uint16, len(src))
		EncodeF16(keys, src)
		scale := float32(0.125 + rng.Float64())
		got := make([]float32, c.rows)
		plain := make([]float32, c.rows)
		DotRowsF16(got, q, keys, stride, scale)
		dotRowsF16Generic(plain, q, keys, stride, scale)
		for r := range got {
			var want, mag float64
			for i := 0; i < c.n; i++ {
				p := float64(q[i]) * float64(tensor.F16ToF32(keys[r*stride+i]))
				want += p
				mag += math.Abs(p)
			}
			kvClose(t, "DotRowsF16", got[r], want*float64(scale), mag*float64(scale))
			kvClose(t, "dotRowsF16Generic", plain[r], want*float64(scale), mag*float64(scale))
		}
		a := randVec(rng, c.rows)
		y := randVec(rng, c.n)
		y0 := append([]float32(nil), y...)
		yp := append([]float32(nil), y...)
		AxpyRowsF16(y, a, keys, stride)
		axpyRowsF16Generic(yp, a, keys, stride)
		for i := range y {
			want, mag := float64(y0[i]), math.Abs(float64(y0[i]))
			for r, w := range a {
				p := float64(w) * float64(tensor.F16ToF32(keys[r*stride+i]))
				want += p
				mag += math.Abs(p)
			}
			kvClose(t, "AxpyRowsF16", y[i], want, mag)
			kvClose(t, "axpyRowsF16Generic", yp[i], want, mag)
		}
	}
}

// TestKVQ8 checks DotRowsQ8 and AxpyRowsQ8, fast and plain, against float64 sums of the
// dequantized blocks, on several block counts, strides and row counts.
func TestKVQ8(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, c := range kvCases(true) {
		nb := c.n / 32
		stride := nb*Q8Block + c.extra
		rowsStored := max(c.rows, 1)
		buf := make([]byte, rowsStored*stride)
		for r := 0; r < rowsStored; r++ {
			if err := EncodeQ8(buf[r*stride:], randVec(rng, c.n)); err != nil {
				t.Fatal(err)
			}
		}
		deq := func(r, i int) float64 {
			blk := buf[r*stride+i/32*Q8Block:]
			return float64(tensor.F16ToF32(binary.LittleEndian.Uint16(blk))) * float64(int8(blk[2+i%32]))
		}
		q := randVec(rng, c.n)
		scale := float32(0.125 + rng.Float64())
		got := make([]float32, c.rows)
		plain := make([]float32, c.rows)
		DotRowsQ8(got, q, buf, stride, scale)
		dotRowsQ8Generic(plain, q, buf, stride, scale)
		for r := range got {
			var want, mag float64
			for i := 0; i < c.n; i++ {
				p := float64(q[i]) * deq(r, i)
				want += p
				mag += math.Abs(p)
			}
			kvClose(t, "DotRowsQ8", got[r], want*float64(scale), mag*float64(scale))
			kvClose(t, "dotRowsQ8Generic", plain[r], want*float64(scale), mag*float64(scale))
		}
		a := randVec(rng, c.rows)
		y := randVec(rng, c.n)
		y0 := append([]float32(nil), y...)
		yp := append([]float32(nil), y...)
		AxpyRowsQ8(y, a, buf, stride)
		axpyRowsQ8Generic(yp, a, buf, stride)
		for i := range y {
			want, mag := float64(y0[i]), math.Abs(float64(y0[i]))
			for r, w := range a {
				p := float64(w) * deq(r, i)
				want += p
				mag += math.Abs(p)
			}
			kvClose(t, "AxpyRowsQ8", y[i], want, mag)
			kvClose(t, "axpyRowsQ8Generic", yp[i], want, mag)
		}
	}
}

// TestKVRowsIndependent checks that a score or a weighted sum does not depend on how many
// rows one call covers: the first r scores of a call over R rows are those of a call
// over r rows, bit for bit, as batch invariance needs.
func TestKVRowsIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	n, stride, rows := 128, 200, 19
	q := randVec(rng, n)
	src := randVec(rng, rows*stride)
	f16 := make([]uint16, len(src))
	EncodeF16(f16, src)
	q8 := make([]byte, rows*stride)
	for r := 0; r < rows; r++ {
		if err := EncodeQ8(q8[r*stride:], src[r*stride:r*stride+n]); err != nil {
			t.Fatal(err)
		}
	}
	all16, all8 := make([]float32, rows), make([]float32, rows)
	DotRowsF16(all16, q, f16, stride, 0.3)
	DotRowsQ8(all8, q, q8, stride, 0.3)
	for r := 1; r <= rows; r++ {
		s16, s8 := make([]float32, r), make([]float32, r)
		DotRowsF16(s16, q, f16, stride, 0.3)
		DotRowsQ8(s8, q, q8, stride, 0.3)
		for i := range s16 {
			if s16[i] != all16[i] || s8[i] != all8[i] {
				t.Fatalf("rows=%d [%d]: f16 %g vs %g, q8 %g vs %g", r, i, s16[i], all16[i], s8[i], all8[i])
			}
		}
	}
}

func BenchmarkKVRows(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	n, rows := 128, 4096
	stride := 4 * n
	q := randVec(rng, n)
	src := randVec(rng, rows*stride)
	f16 := make([]uint16, len(src))
	EncodeF16(f16, src)
	q8s := 4 * n / 32 * Q8Block
	q8 := make([]byte, rows*q8s)
	for r := 0; r < rows; r++ {
		_ = EncodeQ8(q8[r*q8s:], src[r*stride:r*stride+4*n])
	}
	out := make([]float32, rows)
	y := make([]float32, n)
	b.Run("dot/f32", func(b *testing.B) {
		for b.Loop() {
			DotRows(out, q, src, stride, 1)
		}
	})
	b.Run("dot/f16", func(b *testing.B) {
		for b.Loop() {
			DotRowsF16(out, q, f16, stride, 1)
		}
	})
	b.Run("dot/q8_0", func(b *testing.B) {
		for b.Loop() {
			DotRowsQ8(out, q, q8, q8s, 1)
		}
	})
	b.Run("axpy/f32", func(b *testing.B) {
		for b.Loop() {
			AxpyRows(y, out, src, stride)
		}
	})
	b.Run("axpy/f16", func(b *testing.B) {
		for b.Loop() {
			AxpyRowsF16(y, out, f16, stride)
		}
	})
	b.Run("axpy/q8_0", func(b *testing.B) {
		for b.Loop() {
			AxpyRowsQ8(y, out, q8, q8s)
		}
	})
}
