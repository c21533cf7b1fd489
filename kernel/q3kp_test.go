package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// q3KPRef is the plain Go twin of the packed Q3_K kernels (dotQ3KP_vec8; q3KPUnpackAVX
// with the packed Q6_K tiles): it reads the layout of packQ3KGroup and sums each output as
// they do, block after block, acc = float(Σ (sc-32)·q·x)·(d·dx) + acc with one rounding
// (fmaF32), so that the kernels must match it bit for bit.
func q3KPRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * q3KPSB
	le := binary.LittleEndian
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*q3KPSB:]
				bb := b % 8
				var s int32
				for l := 0; l < 32; l++ {
					s += q3KPScale(sb, r, bb, l/16) * q3KPValue(sb, r, bb, l) * int32(xq[i*k+32*b+l])
				}
				d := tensor.F16ToF32(le.Uint16(sb[864+2*r:]))
				acc = fmaF32(float32(s), float32(d*xd[i*nb+b]), acc)
			}
			out[i*n+j] = acc
		}
	}
}

// packQ3KRef lays out an n×k Q3_K matrix with packQ3KGroup, as Pack does.
func packQ3KRef(w *tensor.Tensor) []byte {
	n, k := w.Shape[0], w.Shape[1]
	nsb, rs := k/256, w.RowSize()
	out := make([]byte, q3KPBytes(n, k))
	for g := 0; g < (n+7)/8; g++ {
		packQ3KGroup(out[g*nsb*q3KPSB:(g+1)*nsb*q3KPSB], w.Data, rs, 8*g, min(8, n-8*g), nsb)
	}
	return out
}

// TestPackQ3KLayout checks the packed Q3_K layout on every CPU: each row decoded from the
// packed groups (d·(sc-32)·q) has the bits of tensor.DecodeRow on the row as stored; the
// padding rows of a short last group are zero; and the twin q3KPRef on the packed groups
// agrees with a float64 product of the decoded weights and the activations as QuantizeQ8
// rounds them, within float rounding.
func TestPackQ3KLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	le := binary.LittleEndian
	for _, k := range []int{256, 768} {
		for _, n := range []int{1, 7, 8, 19} {
			w := randBlocks(rng, tensor.Q3_K, n, k)
			packed := packQ3KRef(w)
			nsb, rs := k/256, w.RowSize()
			name := fmt.Sprintf("n=%d k=%d", n, k)
			dec := make([]float32, n*k)
			for j := 0; j < (n+7)/8*8; j++ {
				g, r := j/8, j%8
				var want []float32
				if j < n {
					want = dec[j*k : (j+1)*k]
					if err := tensor.DecodeRow(want, w.Data[j*rs:(j+1)*rs], tensor.Q3_K); err != nil {
						t.Fatal(err)
					}
				}
				for b := 0; b < k/32; b++ {
					sb := packed[(g*nsb+b/8)*q3KPSB:]
					d := tensor.F16ToF32(le.Uint16(sb[864+2*r:]))
					for l := 0; l < 32; l++ {
						v := float32(d*float32(q3KPScale(sb, r, b%8, l/16))) * float32(q3KPValue(sb, r, b%8, l))
						if j >= n {
							if v != 0 {
								t.Fatalf("%s: padding row %d value %d = %g, want 0", name, j, 32*b+l, v)
							}
							continue
						}
						if math.Float32bits(v) != math.Float32bits(want[32*b+l]) {
							t.Fatalf("%s: row %d value %d from the packed group = %g, DecodeRow %g", name, j, 32*b+l, v, want[32*b+l])
						}
					}
				}
			}
			checkTwinFloat64(t, name, rng, dec, n, k, func(out []float32, xq []int8, xd []float32, m int) {
				q3KPRef(out, xq, xd, m, n, k, packed)
			})
		}
	}
}

// TestQ3KPUnpack: q3KPUnpackAVX writes the bytes of its plain twin q3KPUnpackGo (the
// q6KPBlock format the packed Q6_K tiles take) for 1 to 3 super-blocks of random packed
// groups, and nothing past them.
func TestQ3KPUnpack(t *testing.T) {
	if q3KPUnpack == nil {
		t.Skip("no packed Q3_K kernels on this CPU (no AVX2, or -tags purego)")
	}
	rng := rand.New(rand.NewPCG(93, 94))
	for nsb := 1; nsb <= 3; nsb++ {
		w := randBlocks(rng, tensor.Q3_K, 8, 256*nsb)
		packed := packQ3KRef(w)
		want := make([]byte, (8*nsb+1)*q6KPBlock)
		got := make([]byte, len(want))
		for i := range got {
			got[i], want[i] = 0xa5, 0xa5
		}
		q3KPUnpackGo(want, packed, nsb)
		q3KPUnpack(&got[0], &packed[0], nsb)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("nsb=%d: byte %d (block %d, offset %d) = %#x, the plain twin %#x", nsb, i, i/q6KPBlock, i%q6KPBlock, got[i], want[i])
			}
		}
	}
}

// TestMatMulQ3KPacked: the packed Q3_K kernels (dotQ3KP_vec8 for one activation row,
// q3KPUnpackAVX and the packed Q6_K tiles for several: kp512Q6KTile with AVX-512 VNNI,
// the AVX2 dotQ6KPS tiles without) give the bits of their plain Go twin q3KPRef, and each
// activation row the same bits whatever the number of rows in the call, on shapes with
// ragged edges (checkPackedKernels). Where Pack lays out Q3_K on this CPU, it writes
// packQ3KGroup's bytes and MatMul on the packed tensor gives the same bits.
func TestMatMulQ3KPacked(t *testing.T) {
	checkPackedKernels(t, tensor.Q3_K, 95, q3KPVec != nil, packQ3KRef, "packQ3KGroup", (*Pool).matMulQ3KPacked, q3KPRef)
}

// TestQ3KPackedExtremes: weights whose values are all -4 or all 3 with scales -32 or 31
// against activations that all quantize to +127 or -127 (the largest sums the int16 steps
// of the kernels see) give the twin's bits for one activation row and several.
func TestQ3KPackedExtremes(t *testing.T) {
	if q3KPVec == nil {
		t.Skip("no packed Q3_K kernels on this CPU (no AVX2, or -tags purego)")
	}
	p := NewPool(1)
	defer p.Close()
	const n, k, m = 8, 512, 4
	w := &tensor.Tensor{Name: "w", DType: tensor.Q3_K, Shape: []int{n, k}, Data: make([]byte, n*110*k/256)}
	for b := 0; b < len(w.Data)/110; b++ {
		blk := w.Data[110*b : 110*(b+1)]
		fill := byte(0) // every value -4 (high bits 0, low bits 0), scales 0 - 32
		if b%2 == 1 {
			fill = 0xff // every value 3, scales 63 - 32
		}
		for i := 0; i < 108; i++ {
			blk[i] = fill
		}
		binary.LittleEndian.PutUint16(blk[108:], tensor.F32ToF16(1))
	}
	packed := packQ3KRef(w)
	x := make([]float32, m*k)
	for i := range x {
		x[i] = 1
		if i/k%2 == 1 {
			x[i] = -1
		}
	}
	xq, xd, _ := quantRef(x, m, k)
	ref := make([]float32, m*n)
	q3KPRef(ref, xq, xd, m, n, k, packed)
	for i := 0; i < m; i++ {
		// Row i's exact value: every block of 32 is 32·127·dx·(±1) times 128 (row 0) or 93.
		for j := 0; j < n; j++ {
			want := 0.0
			for b := 0; b < k/32; b++ {
				sbi := j*(k/256) + b/8 // the super-block
				v := 128.0             // (-32)·(-4)
				if sbi%2 == 1 {
					v = 93 // 31·3
				}
				want += v * 32 * float64(xq[i*k+32*b]) * float64(xd[i*k/32+b])
			}
			if math.Abs(float64(ref[i*n+j])-want) > 1e-6*math.Abs(want) {
				t.Fatalf("twin: activation row %d, weight row %d = %g, exact %g", i, j, ref[i*n+j], want)
			}
		}
	}
	checkRowsAndTiles(t, ref, x, m, n, k, func(out, x []float32, m int) { p.matMulQ3KPacked(out, x, m, n, k, packed) })
}

// BenchmarkMatMulQ3KPacked compares Q3_K products on weights as stored (the fused kernels
// of kquant.go: dotQ3KAVX and its 1×4 tiles) and laid out by Pack (dotQ3KP_vec8;
// q3KPUnpackAVX with the packed Q6_K tiles), with packed Q6_K alongside, at the 1B
// model's MLP shapes for 1, 16 and 128 activation rows.
func BenchmarkMatMulQ3KPacked(b *testing.B) {
	if !q3KPackedOn() {
		b.Skip("Pack does not lay out Q3_K on this CPU")
	}
	benchMatMulPacked(b, tensor.Q3_K, tensor.Q6_K)
}

// BenchmarkPackQ3KGroup lays out a 2048×2048 Q3_K matrix in groups of 8 rows on one
// thread (packQ3KGroup), the work Pool.Pack does for each such matrix at load time.
func BenchmarkPackQ3KGroup(b *testing.B) {
	const n, k = 2048, 2048
	rs := 110 * k / 256
	data := make([]byte, n*rs)
	for i := range data {
		data[i] = byte(i * 7)
	}
	dst := make([]byte, n*rs)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for g := 0; g < n/8; g++ {
			packQ3KGroup(dst[g*8*rs:(g+1)*8*rs], data, rs, 8*g, 8, k/256)
		}
	}
}

// TestQ3KPaths: where the packed Q3_K kernels serve Q3_K, the dispatch table names
// dotQ3KP_vec8 for one activation row and the packed Q6_K tiles for several (kp512Q6KTile
// with AVX-512 VNNI, dotQ6KP without), Pack lays out Q3_K, and the rows as stored keep the
// fused kernels; without the packed kernels (no AVX2, -tags purego), Pack leaves Q3_K as it is.
func TestQ3KPaths(t *testing.T) {
	w := randBlocks(rand.New(rand.NewPCG(97, 98)), tensor.Q3_K, 16, 512)
	if !q3KPackedOn() {
		if _, _, _, ok := packable(w); ok {
			t.Fatal("packed Q3_K kernels off, yet Pack lays out Q3_K")
		}
		t.Skip("no packed Q3_K kernels on this CPU (no AVX2, or -tags purego)")
	}
	many := "AVX2 dotQ6KPS 8×4 (packed)"
	if kp512Q3KOn() {
		many = "AVX-512 VNNI " + tile("kp512Q6KTile", 16, kp512Q6KC, "(packed)")
	} else if vnniQ3KOn() {
		many = "AVX-VNNI " + tile("vnniQ6KTile", 16, vnniQ6KC, "(packed)")
	}
	for _, tc := range []struct {
		packed bool
		m      int
		want   string
	}{{true, 1, "AVX2 dotQ3KP_vec8 (packed)"}, {true, 16, many}, {false, 1, "AVX2 fused block dot (kquant)"}} {
		if got := MatMulPath(tensor.Q3_K, tc.packed, tc.m).String(); got != tc.want {
			t.Errorf("MatMulPath(q3_K, packed %v, m=%d) = %q, want %q", tc.packed, tc.m, got, tc.want)
		}
	}
	if n, k, size, ok := packable(w); !ok || n != 16 || k != 512 || size != q3KPBytes(16, 512) {
		t.Fatalf("packable(16×512 Q3_K) = %d, %d, %d, %v; want 16, 512, %d, true", n, k, size, ok, q3KPBytes(16, 512))
	}
}

// checkRowsAndTiles checks that mul (out = x·Wᵀ for m activation rows of k values and n
// weight rows) gives ref's bits one activation row at a time and with all m rows at once.
func checkRowsAndTiles(t *testing.T, ref, x []float32, m, n, k int, mul func(out, x []float32, m int)) {
	t.Helper()
	got := make([]float32, m*n)
	for i := 0; i < m; i++ {
		mul(got[i*n:(i+1)*n], x[i*k:(i+1)*k], 1)
	}
	for i := range got {
		if got[i] != ref[i] {
			t.Fatalf("output %d: %g one row at a time, twin %g", i, got[i], ref[i])
		}
	}
	mul(got, x, m)
	for i := range got {
		if got[i] != ref[i] {
			t.Fatalf("output %d: %g on the tiles, twin %g", i, got[i], ref[i])
		}
	}
}
