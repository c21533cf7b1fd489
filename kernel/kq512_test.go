//go:build amd64 && !purego

package kernel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/decilm/decilm/tensor"
)

// needKQ512 skips where the CPU lacks the kq512 tiles and otherwise switches them on
// (they are off by default, see kq512_amd64.go) until the test ends.
func needKQ512(tb testing.TB) {
	if !kq512Available {
		tb.Skip("no AVX-512 VNNI on this CPU")
	}
	saved := matMulKQWide
	matMulKQWide = kq512MatMul
	tb.Cleanup(func() { matMulKQWide = saved })
}

// TestKQ512Reference runs the float64-reference and row-invariance tests of the block
// types (TestMatMulQuant for Q4_K and Q6_K, TestMatMulBlocks and the row-invariance
// tests) with the kq512 tiles switched on.
func TestKQ512Reference(t *testing.T) {
	needKQ512(t)
	t.Run("MatMulBlocks", TestMatMulBlocks)
	t.Run("MatMulBlocksRowInvariance", TestMatMulBlocksRowInvariance)
	t.Run("MatMulSuperRowInvariance", TestMatMulSuperRowInvariance)
	if !testing.Short() {
		t.Run("MatMulQuant", TestMatMulQuant)
	}
}

// TestKQ512Pack compares the assembly packers of Q4_K, Q5_K and Q6_K with their Go twins,
// byte for byte, on rows of 1 to 3 super-blocks at a stride past the row.
func TestKQ512Pack(t *testing.T) {
	needKQ512(t)
	rng := rand.New(rand.NewPCG(51, 52))
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		for _, nsb := range []int{1, 2, 3} {
			w := typedWeight(t, rng, dt, 16, 256*(nsb+2))
			rs := w.RowSize()
			const bs = 1280
			got, want := make([]byte, 8*nsb*bs), make([]byte, 8*nsb*bs)
			for i := range got {
				got[i] = byte(i)
				want[i] = byte(i)
			}
			asm, _ := kq512TypeOf(dt, true)
			twin, _ := kq512TypeOf(dt, false)
			// From the second super-block, as row group 1 of a tile: codes at 512,
			// scales at 1024+64, as the driver packs it.
			src := w.Data[dt.BlockBytes():]
			asm.pack(src, rs, 8*nsb, got[512:], got[1024+64:])
			twin.pack(src, rs, 8*nsb, want[512:], want[1024+64:])
			if !bytes.Equal(got, want) {
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s nsb=%d: byte %d (block %d, offset %d) = %#x, want %#x", dt, nsb, i, i/bs, i%bs, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// TestKQ512Tiles compares every tile kernel with its Go twin kq512TileGo, bit for bit, on
// random codes, scales and activations (1 to 9 blocks, 1 to 6 activation rows).
func TestKQ512Tiles(t *testing.T) {
	needKQ512(t)
	rng := rand.New(rand.NewPCG(53, 54))
	for v := 0; v < kqVariants; v++ {
		bs := kq512BlockBytes[v]
		for _, nb := range []int{1, 3, 8, 9} {
			w := make([]byte, nb*bs)
			for b := 0; b < nb; b++ {
				blk := w[b*bs:]
				for i := 0; i < 1024; i++ {
					blk[i] = byte(rng.Uint32())
				}
				for off := 1024; off < bs; off += 4 {
					binary.LittleEndian.PutUint32(blk[off:], math.Float32bits((rng.Float32()-0.4)*0.01))
				}
			}
			for c := 1; c <= kq512C; c++ {
				xs := 10*kq512XBlk[v] + 4*c // rows apart by more than nb blocks
				x := make([]byte, c*xs)
				for ci := 0; ci < c; ci++ {
					k := 32 * nb
					xq := make([]int8, k)
					xd := make([]float32, nb)
					QuantizeQ8(xq, xd, randVec(rng, k))
					off := []int{0, 32, 128}[rng.IntN(3)]
					if v == kqG32M {
						off = 0 // the layout has no -off·Σx
					}
					kq512PrepX(v, x[ci*xs:], xq, xd, nb, off)
				}
				const os = 40
				got := make([]float32, c*os)
				for i := range got {
					got[i] = rng.Float32()
				}
				want := append([]float32(nil), got...)
				kq512Tile(true, &kq512Tiles[v], v, c, w, x, xs, nb, got, os)
				kq512TileGo(v, c, w, x, xs, nb, want, os)
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("variant %d nb=%d c=%d: out[%d] = %g, Go twin %g", v, nb, c, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// kq512Types are the weight types the kq512 tiles serve.
func kq512Types() []tensor.DType {
	var ds []tensor.DType
	for d := tensor.DType(0); d.Valid(); d++ {
		if _, ok := kq512TypeOf(d, true); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

// TestKQ512MatMul checks MatMul on the kq512 path for every type it serves against the
// Go twin of the whole path (Go packers and tiles), bit for bit, on ragged shapes (rows
// not a multiple of 32 or 16, odd block counts, m = 1 to 130), and that MatMulPath names
// the path.
func TestKQ512MatMul(t *testing.T) {
	needKQ512(t)
	rng := rand.New(rand.NewPCG(55, 56))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range kq512Types() {
		if got := MatMulPath(dt, false, 1); got.Kernel != "kq512 tiles" {
			t.Errorf("%s: MatMulPath = %v", dt, got)
		}
		ks := []int{256, 768, 2304}
		if dt.BlockSize() == 32 {
			ks = []int{32, 96, 2080}
		}
		for _, k := range ks {
			for _, nm := range [][2]int{{1, 1}, {17, 2}, {37, 3}, {64, 7}, {33, 17}, {50, 130}} {
				n, m := nm[0], nm[1]
				if k > 1024 && m > 17 {
					continue
				}
				w := typedWeight(t, rng, dt, n, k)
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				if err := p.MatMul(got, x, m, w); err != nil {
					t.Fatal(err)
				}
				s := &quantScratch{}
				p.quantizeRows(s, x, m, k)
				want := make([]float32, m*n)
				p.kq512Run(want, s, m, n, k, w.Data, w.RowSize(), dt, false)
				for i := range got {
					if got[i] != want[i] {
						t.Errorf("%s m=%d n=%d k=%d: out[%d] = %g, Go twin %g", dt, m, n, k, i, got[i], want[i])
						break
					}
				}
			}
		}
	}
}

// BenchmarkKQ512 measures the kq512 tiles (new) against the kernels they replace (old:
// AVX2 or Go) and Q4_0's AVX-512 VNNI kernels (q4_0) at the 1B model's shapes, m = 1, 16
// and 128 activation rows.
func BenchmarkKQ512(b *testing.B) {
	needKQ512(b)
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(5, 5))
	for _, nk := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}, {32000, 2048}} {
		n, k := nk[0], nk[1]
		for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q5_K, tensor.Q4_0} {
			w := typedWeight(b, rng, dt, n, k)
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				paths := []string{"new", "old"}
				if dt == tensor.Q4_0 {
					paths = []string{"q4_0"}
				}
				for _, path := range paths {
					b.Run(fmt.Sprintf("%dx%d/%s/m=%d/%s", n, k, dt, m, path), func(b *testing.B) {
						saved := matMulKQWide
						if path == "old" {
							matMulKQWide = nil
						}
						defer func() { matMulKQWide = saved }()
						for b.Loop() {
							if err := p.MatMul(out, x, m, w); err != nil {
								b.Fatal(err)
							}
						}
						b.ReportMetric(2*float64(m*n*k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
					})
				}
			}
		}
	}
}

// BenchmarkKQ512Pack measures the packers alone: 16 rows of 2048 weights.
func BenchmarkKQ512Pack(b *testing.B) {
	needKQ512(b)
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q2_K} {
		w := typedWeight(b, rng, dt, 16, 2048)
		kt, ok := kq512TypeOf(dt, true)
		if !ok { // Q2_K has a fused AVX2 kernel (kquant) and no kq512 packer
			continue
		}
		buf := make([]byte, 64*kq512MaxBs)
		b.Run(dt.String(), func(b *testing.B) {
			for b.Loop() {
				kt.pack(w.Data, w.RowSize(), 64, buf, buf[1024:])
			}
		})
	}
}

// TestKQ512Fallback: without AVX-512 VNNI (GODEBUG=cpu.avx512f=off), without
// DECILM_KQ512=1, or with the hook cleared, the block types keep their AVX2 and Go
// kernels, and MatMulPath says so.
func TestKQ512Fallback(t *testing.T) {
	if !useAsm {
		t.Skip("no assembly kernels (purego)")
	}
	if !cpu.X86.HasAVX512F && matMulKQWide != nil {
		t.Fatal("the kq512 tiles are installed on a CPU without AVX-512")
	}
	if os.Getenv("DECILM_KQ512") != "1" && matMulKQWide != nil {
		t.Fatal("the kq512 tiles are on without DECILM_KQ512=1")
	}
	saved := matMulKQWide
	matMulKQWide = nil
	defer func() { matMulKQWide = saved }()
	q2KWant := "AVX2 fused block tiles 1×4 (kquant)" // Q2_K's own VNNI tiles (q2k.go) where it has them
	if q2KVNNIOn() {
		q2KWant = "AVX-512 VNNI q2KTile512x 16×8 (q2k, pieces decoded by q2KUnpack512)"
	}
	for _, c := range []struct {
		dt   tensor.DType
		m    int
		want string
	}{
		{tensor.Q4_K, 1, "AVX2 dotQ4KAVX"}, {tensor.Q4_K, 2, "AVX2 dotQ4K 1×4"},
		{tensor.Q6_K, 1, "AVX2 dotQ6KAVX"}, {tensor.Q6_K, 2, "AVX2 dotQ6K 1×4"},
		{tensor.Q5_K, 1, "AVX2 fused block dot (kquant)"}, {tensor.Q5_K, 2, "AVX2 fused block tiles 1×4 (kquant)"},
		{tensor.Q2_K, 2, q2KWant},
	} {
		if got := MatMulPath(c.dt, false, c.m).String(); got != c.want {
			t.Errorf("%s m=%d: MatMulPath = %q, want %q", c.dt, c.m, got, c.want)
		}
	}
}
