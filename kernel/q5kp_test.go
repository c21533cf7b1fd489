package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// q5KPValue returns value l (l < 32) of sub-block jb of row r of the packed Q5_K
// super-block sb (packQ5KGroup's layout): 0..31.
func q5KPValue(sb []byte, r, jb, l int) int32 {
	at := 32*(l/4) + 4*r + l%4
	v := sb[128+256*(jb/2)+at]
	if jb%2 == 0 {
		return int32(v & 31)
	}
	h := sb[1152+at] >> (2 * (jb / 2)) & 3
	return int32(v>>5 | h<<3)
}

// q5KPScales returns d·sc_j and dmin·m_j of row r of the packed Q5_K super-block sb,
// rounded to float32 as the kernels round them.
func q5KPScales(sb []byte, r, jb int) (dsc, dm float32) {
	le := binary.LittleEndian
	var blk [12]byte // the row's scale bytes
	for e := range blk {
		blk[e] = sb[32+8*e+r]
	}
	sc, mn := q4KScaleMin(jb, blk[:])
	d := tensor.F16ToF32(le.Uint16(sb[2*r:]))
	dmin := tensor.F16ToF32(le.Uint16(sb[16+2*r:]))
	return float32(d * float32(sc)), float32(dmin * float32(mn))
}

// q5KPRef is the plain Go twin of the packed Q5_K kernels (dotQ5KP_vec8, the dotQ5KP
// tiles): it reads the layout of packQ5KGroup and sums each output as they do, block after
// block, acc = float(Σq·x)·(d·sc·dx) + acc, then acc = -(dmin·m)·(dx·Σx) + acc, each
// with one rounding (fmaF32), so that the kernels must match it bit for bit.
func q5KPRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * q5KPSB
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*q5KPSB:]
				jb := b % 8
				var s, sx int32
				for l := 0; l < 32; l++ {
					x := int32(xq[i*k+32*b+l])
					s += q5KPValue(sb, r, jb, l) * x
					sx += x
				}
				dsc, dm := q5KPScales(sb, r, jb)
				dx := xd[i*nb+b]
				acc = fmaF32(float32(s), float32(dx*dsc), acc)
				acc = fmaF32(-dm, float32(dx*float32(sx)), acc)
			}
			out[i*n+j] = acc
		}
	}
}

// packQ5KRef lays out an n×k Q5_K matrix with packQ5KGroup, as Pack does.
func packQ5KRef(w *tensor.Tensor) []byte {
	n, k := w.Shape[0], w.Shape[1]
	nsb, rs := k/256, w.RowSize()
	out := make([]byte, q5KPBytes(n, k))
	for g := 0; g < (n+7)/8; g++ {
		packQ5KGroup(out[g*nsb*q5KPSB:(g+1)*nsb*q5KPSB], w.Data, rs, 8*g, min(8, n-8*g), nsb)
	}
	return out
}

// TestPackQ5KLayout checks the packed Q5_K layout on every CPU: each row decoded from the
// packed groups (d·sc·q - dmin·m) has the bits of tensor.DecodeRow on the row as stored;
// the padding rows of a short last group are zero; and the twin q5KPRef on the packed
// groups agrees with a float64 product of the decoded weights and the activations as
// QuantizeQ8 rounds them, within float rounding.
func TestPackQ5KLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, k := range []int{256, 768} {
		for _, n := range []int{1, 7, 8, 19} {
			w := randBlocks(rng, tensor.Q5_K, n, k)
			packed := packQ5KRef(w)
			nsb, rs := k/256, w.RowSize()
			name := fmt.Sprintf("n=%d k=%d", n, k)
			dec := make([]float32, n*k)
			for j := 0; j < (n+7)/8*8; j++ {
				g, r := j/8, j%8
				var want []float32
				if j < n {
					want = dec[j*k : (j+1)*k]
					if err := tensor.DecodeRow(want, w.Data[j*rs:(j+1)*rs], tensor.Q5_K); err != nil {
						t.Fatal(err)
					}
				}
				for b := 0; b < k/32; b++ {
					sb := packed[(g*nsb+b/8)*q5KPSB:]
					dsc, dm := q5KPScales(sb, r, b%8)
					for l := 0; l < 32; l++ {
						v := float32(dsc*float32(q5KPValue(sb, r, b%8, l))) - dm
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
				q5KPRef(out, xq, xd, m, n, k, packed)
			})
		}
	}
}

// TestMatMulQ5KPacked: the packed Q5_K kernels (dotQ5KP_vec8 for one activation row,
// q5KPUnpackAVX and the dotQ5KP tiles for several) give the bits of their plain Go twin
// q5KPRef, and each activation row the same bits whatever the number of rows in the
// call, on shapes with ragged edges: rows not a multiple of 8, k of one super-block and
// past one kBlockQuant piece (9 super-blocks), m past one mBlockQuant block and odd.
// Where Pack lays out Q5_K on this CPU, it writes packQ5KGroup's bytes and MatMul on the
// packed tensor gives the same bits.
func TestMatMulQ5KPacked(t *testing.T) {
	checkPackedKernels(t, tensor.Q5_K, 73, q5KPVec != nil, packQ5KRef, "packQ5KGroup", (*Pool).matMulQ5KPacked, q5KPRef)
}

// checkPackedKernels is the body of TestMatMulQ5KPacked and TestMatMulIQ4XSPacked for
// weights of type dt packed by pack (packer: its name in messages), multiplied by mm (the
// type's packed MatMul) and by twin (its plain-Go twin); seed picks the random data.
func checkPackedKernels(t *testing.T, dt tensor.DType, seed uint64, vec bool, pack func(*tensor.Tensor) []byte, packer string,
	mm func(p *Pool, out, x []float32, m, n, k int, w []byte), twin func(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte)) {
	t.Helper()
	if !vec {
		t.Skipf("the packed %v kernels under test are not on this CPU (no AVX2, or no AVX-VNNI for the AVX-VNNI tiles, or -tags purego)", dt)
	}
	rng := rand.New(rand.NewPCG(seed, seed+1))
	p := NewPool(2)
	defer p.Close()
	const M = 130
	for _, k := range []int{256, 512, 768, 2304} {
		for _, n := range []int{1, 7, 8, 19, 40} {
			w := randBlocks(rng, dt, n, k)
			packed := pack(w)
			x := randVec(rng, M*k)
			one := make([]float32, M*n)
			for i := 0; i < M; i++ {
				mm(p, one[i*n:(i+1)*n], x[i*k:(i+1)*k], 1, n, k, packed)
			}
			xq, xd, _ := quantRef(x, M, k)
			ref := make([]float32, M*n)
			twin(ref, xq, xd, M, n, k, packed)
			name := fmt.Sprintf("%v n=%d k=%d", dt, n, k)
			for i := range ref {
				if one[i] != ref[i] {
					t.Fatalf("%s: one row: output %d = %g, the plain Go twin %g", name, i, one[i], ref[i])
				}
			}
			for _, m := range []int{2, 3, 7, 16, 17, M} {
				for _, i0 := range []int{0, M - m} {
					got := make([]float32, m*n)
					mm(p, got, x[i0*k:(i0+m)*k], m, n, k, packed)
					for i := range got {
						if got[i] != one[i0*n+i] {
							t.Fatalf("%s: row %d of %d (from row %d): output %d = %g, alone %g", name, i/n, m, i0, i%n, got[i], one[i0*n+i])
						}
					}
				}
			}
			if !packs(dt) {
				continue
			}
			pw := *w
			if p.Pack([]*tensor.Tensor{&pw}) == 0 || pw.Packed == nil {
				t.Fatalf("%s: Pack did not lay out the matrix", name)
			}
			for i := range packed {
				if pw.Packed[i] != packed[i] {
					t.Fatalf("%s: Pack's byte %d = %d, %s's %d", name, i, pw.Packed[i], packer, packed[i])
				}
			}
			for _, m := range []int{1, 5} {
				got := make([]float32, m*n)
				if err := p.MatMul(got, x[:m*k], m, &pw); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != one[i] {
						t.Fatalf("%s m=%d: MatMul on the packed tensor: output %d = %g, want %g", name, m, i, got[i], one[i])
					}
				}
			}
		}
	}
}

// TestQ5KPackedExtremes: weights whose values are all 31 against activations that all
// quantize to +127 or -127 (the largest block sums, 32·31·127 = 125984 in magnitude, which
// the int16 sums of the packed Q4_K tiles could not hold) give the twin's bits and the
// exact value within float32 rounding, for one activation row and several.
func TestQ5KPackedExtremes(t *testing.T) {
	if q5KPVec == nil {
		t.Skip("no packed Q5_K kernels on this CPU (no AVX2, or -tags purego)")
	}
	p := NewPool(1)
	defer p.Close()
	const n, k, m = 8, 512, 4
	rs := 176 * k / 256
	w := &tensor.Tensor{Name: "w", DType: tensor.Q5_K, Shape: []int{n, k}, Data: make([]byte, n*rs)}
	for b := 0; b < len(w.Data)/176; b++ {
		blk := w.Data[176*b : 176*(b+1)]
		binary.LittleEndian.PutUint16(blk[0:], tensor.F32ToF16(1))
		binary.LittleEndian.PutUint16(blk[2:], 0) // dmin 0: the result is d·sc·dx·Σq·x
		for i := 4; i < 16; i++ {
			blk[i] = 0x41 // sc = 1 for every sub-block (bytes 0..7: 1, 8..11: 1 | 4<<4, high bits 1)
		}
		for i := 16; i < 176; i++ {
			blk[i] = 0xff // every value 31
		}
	}
	packed := packQ5KRef(w)
	x := make([]float32, m*k)
	for i := range x {
		x[i] = 1
		if i/k%2 == 1 {
			x[i] = -1
		}
	}
	xq, xd, _ := quantRef(x, m, k)
	ref := make([]float32, m*n)
	q5KPRef(ref, xq, xd, m, n, k, packed)
	dec := make([]float32, k)
	if err := tensor.DecodeRow(dec, w.Data[:rs], tensor.Q5_K); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < m; i++ {
		var s float64
		for l := 0; l < k; l++ {
			s += float64(dec[l]) * float64(xq[i*k+l]) * float64(xd[i*k/32+l/32])
		}
		if math.Abs(float64(ref[i*n])-s) > 1e-6*math.Abs(s) {
			t.Fatalf("twin: row %d = %g, exact %g", i, ref[i*n], s)
		}
	}
	got := make([]float32, m*n)
	p.matMulQ5KPacked(got, x, m, n, k, packed)
	for i := 0; i < m; i++ {
		p.matMulQ5KPacked(got[i*n:(i+1)*n], x[i*k:(i+1)*k], 1, n, k, packed)
		for j := 0; j < n; j++ {
			if got[i*n+j] != ref[i*n+j] {
				t.Fatalf("activation row %d, weight row %d: %g one row at a time, twin %g", i, j, got[i*n+j], ref[i*n+j])
			}
		}
	}
	p.matMulQ5KPacked(got, x, m, n, k, packed)
	for i := range got {
		if got[i] != ref[i] {
			t.Fatalf("output %d: %g on the tiles, twin %g", i, got[i], ref[i])
		}
	}
}

// BenchmarkMatMulQ5KPacked compares Q5_K products on weights as stored (the fused block
// kernels of kquant.go) and laid out by Pack (dotQ5KP_vec8 and the dotQ5KP tiles), with
// packed Q4_K alongside (dotQ4KP_vec8, the dotQ4KP tiles), at the 1B model's MLP shapes
// for 1, 16 and 128 activation rows.
func BenchmarkMatMulQ5KPacked(b *testing.B) {
	if !q5KPackedOn() || !q4KPackedOn() {
		b.Skip("Pack does not lay out Q5_K and Q4_K for AVX2 on this CPU")
	}
	benchMatMulPacked(b, tensor.Q5_K, tensor.Q4_K)
}

// benchMatMulPacked compares dt's products on weights as stored (random blocks) and laid
// out by Pack, with a packed matrix of type ref alongside, at the 1B model's MLP shapes
// (5632×2048, 2048×5632) for 1, 16 and 128 activation rows, in GFLOP/s.
func benchMatMulPacked(b *testing.B, dt, ref tensor.DType) {
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, sh := range [][2]int{{5632, 2048}, {2048, 5632}} {
		n, k := sh[0], sh[1]
		w := randBlocks(rng, dt, n, k)
		pw := *w
		p.Pack([]*tensor.Tensor{&pw})
		wr, _ := randWeight(b, rng, ref, n, k)
		pr := *wr
		p.Pack([]*tensor.Tensor{&pr})
		for _, m := range []int{1, 16, 128} {
			x := randVec(rng, m*k)
			out := make([]float32, m*n)
			for _, c := range []struct {
				name string
				w    *tensor.Tensor
			}{{dt.String() + "-stored", w}, {dt.String() + "-packed", &pw}, {ref.String() + "-packed", &pr}} {
				b.Run(fmt.Sprintf("%dx%d/m=%d/%s", n, k, m, c.name), func(b *testing.B) {
					for b.Loop() {
						if err := p.MatMul(out, x, m, c.w); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(m*n*k)/(b.Elapsed().Seconds()/float64(b.N))/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// BenchmarkPackQ5KGroup lays out a 2048×2048 Q5_K or IQ4_XS matrix in groups of 8 rows on
// one thread (packQ5KGroup, packIQ4XSGroup), the work Pool.Pack does for each such matrix
// at load time (BenchmarkPackKGroup has Q4_K and Q6_K's).
func BenchmarkPackQ5KGroup(b *testing.B) {
	const n, k = 2048, 2048
	for _, dt := range []tensor.DType{tensor.Q5_K, tensor.IQ4_XS} {
		b.Run(dt.String(), func(b *testing.B) {
			rs, _ := dt.RowBytes(k)
			data := make([]byte, n*rs)
			for i := range data {
				data[i] = byte(i * 7)
			}
			dst := make([]byte, n*rs)
			pack := packQ5KGroup
			if dt == tensor.IQ4_XS {
				pack = packIQ4XSGroup
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for g := 0; g < n/8; g++ {
					pack(dst[g*8*rs:(g+1)*8*rs], data, rs, 8*g, 8, k/256)
				}
			}
		})
	}
}

// checkTwinFloat64 checks a packed type's plain-Go twin (out = the n×k weights, decoded as
// dec, times m activation rows quantized by QuantizeQ8) against the float64 product of the
// dequantized operands for 3 random activation rows.
func checkTwinFloat64(t *testing.T, name string, rng *rand.Rand, dec []float32, n, k int, twin func(out []float32, xq []int8, xd []float32, m int)) {
	t.Helper()
	const m = 3
	x := randVec(rng, m*k)
	xq, xd, deq := quantRef(x, m, k)
	got := make([]float32, m*n)
	twin(got, xq, xd, m)
	want := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for l := 0; l < k; l++ {
				s += float64(deq[i*k+l]) * float64(dec[j*k+l])
			}
			want[i*n+j] = float32(s)
		}
	}
	checkClose(t, name+" twin against float64", got, want, absDots(deq, dec, m, n, k), 1e-5)
}
