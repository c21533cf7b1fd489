package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// q4KPRef is the plain Go twin of the packed Q4_K kernels (dotQ4KP_vec8, the dotQ4KP
// tiles): it reads the layout of packQ4KGroup and sums each output as they do, block after
// block, acc = float(Σq·x)·(d·sc·dx) + acc, then acc = -(dmin·m)·(dx·Σx) + acc. Go has no
// float32 FMA: both steps go through math.FMA in float64 and round once more to float32,
// which can differ from the kernels' single rounding in the last bit.
func q4KPRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * q4KPSB
	le := binary.LittleEndian
	fma := func(a, b, c float32) float32 { return float32(math.FMA(float64(a), float64(b), float64(c))) }
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*q4KPSB:]
				jb := b % 8
				var blk [12]byte // the row's scale bytes
				for e := range blk {
					blk[e] = sb[32+8*e+r]
				}
				sc, mn := q4KScaleMin(jb, blk[:])
				d := tensor.F16ToF32(le.Uint16(sb[2*r:]))
				dmin := tensor.F16ToF32(le.Uint16(sb[16+2*r:]))
				var s, sx int32
				for l := 0; l < 32; l++ {
					v := sb[128+256*(jb/2)+32*(l/4)+4*r+l%4]
					if jb%2 == 1 {
						v >>= 4
					}
					x := int32(xq[i*k+32*b+l])
					s += int32(v&15) * x
					sx += x
				}
				dx := xd[i*nb+b]
				acc = fma(float32(s), d*float32(sc)*dx, acc)
				acc = fma(-(dmin * float32(mn)), dx*float32(sx), acc)
			}
			out[i*n+j] = acc
		}
	}
}

// q6KPRef is the plain Go twin of the packed Q6_K kernels (dotQ6KP_vec8, the dotQ6KP
// tiles): it reads the layout of packQ6KGroup and sums each output as they do, block after
// block, acc = float(Σ sc·(u-32)·x)·(d·dx) + acc (through math.FMA in float64, so it can
// differ from the kernels' single rounding in the last bit).
func q6KPRef(out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	nb, nsb := k/32, k/256
	gs := nsb * q6KPSB
	le := binary.LittleEndian
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			g, r := j/8, j%8
			var acc float32
			for b := 0; b < nb; b++ {
				sb := packed[g*gs+b/8*q6KPSB:]
				bb := b % 8
				h, t := bb/4, bb%4
				var s int32
				for l := 0; l < 32; l++ {
					ql := sb[144+32*(16*h+8*(t%2)+l/4)+4*r+l%4]
					qh := sb[1168+32*(8*h+l/4)+4*r+l%4]
					u := int32(ql>>(4*(t/2))&15 | (qh>>(2*t)&3)<<4)
					sc := int32(int8(sb[16+16*bb+2*r+l/16]))
					s += sc * (u - 32) * int32(xq[i*k+32*b+l])
				}
				d := tensor.F16ToF32(le.Uint16(sb[2*r:]))
				acc = float32(math.FMA(float64(s), float64(d*xd[i*nb+b]), float64(acc)))
			}
			out[i*n+j] = acc
		}
	}
}

// kpRef is q4KPRef or q6KPRef, by dt.
func kpRef(dt tensor.DType, out []float32, xq []int8, xd []float32, m, n, k int, packed []byte) {
	if dt == tensor.Q4_K {
		q4KPRef(out, xq, xd, m, n, k, packed)
	} else {
		q6KPRef(out, xq, xd, m, n, k, packed)
	}
}

// packKRef lays out an n×k Q4_K or Q6_K matrix with packQ4KGroup or packQ6KGroup, as
// Pack does.
func packKRef(w *tensor.Tensor) []byte {
	n, k := w.Shape[0], w.Shape[1]
	nsb, rs := k/256, w.RowSize()
	size, pack := q4KPBytes(n, k), packQ4KGroup
	gsb := q4KPSB
	if w.DType == tensor.Q6_K {
		size, pack, gsb = q6KPBytes(n, k), packQ6KGroup, q6KPSB
	}
	out := make([]byte, size)
	for g := 0; g < (n+7)/8; g++ {
		pack(out[g*nsb*gsb:(g+1)*nsb*gsb], w.Data, rs, 8*g, min(8, n-8*g), nsb)
	}
	return out
}

// matMulKPacked is matMulQ4KPacked or matMulQ6KPacked, by dt.
func (p *Pool) matMulKPacked(dt tensor.DType, out, x []float32, m, n, k int, w []byte) {
	if dt == tensor.Q4_K {
		p.matMulQ4KPacked(out, x, m, n, k, w)
	} else {
		p.matMulQ6KPacked(out, x, m, n, k, w)
	}
}

// TestPackKLayout checks the packed Q4_K and Q6_K layouts themselves, on every CPU: read
// back by q4KPRef or q6KPRef they give the plain Go product of the rows as stored
// (dotQ4KGeneric, dotQ6KGeneric), and the padding rows of a short last group are zero.
func TestPackKLayout(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		for _, k := range []int{256, 768} {
			for _, n := range []int{1, 7, 8, 19} {
				w, dec := randWeight(t, rng, dt, n, k)
				packed := packKRef(w)
				const m = 3
				x := randVec(rng, m*k)
				xq, xd, deq := quantRef(x, m, k)
				got := make([]float32, m*n)
				want := make([]float32, m*n)
				kpRef(dt, got, xq, xd, m, n, k, packed)
				matMulQuantGeneric(nil, want, xq, xd, m, n, k, w.Data, w.RowSize(), dt)
				checkClose(t, fmt.Sprintf("%s n=%d k=%d", dt, n, k), got, want, quantScale(t, w, deq, dec, m), 1e-5)
				if n%8 != 0 {
					ref := make([]float32, m*(n+7)/8*8)
					kpRef(dt, ref, xq, xd, m, (n+7)/8*8, k, packed)
					for i := 0; i < m; i++ {
						for j := n; j < (n+7)/8*8; j++ {
							if v := ref[i*((n+7)/8*8)+j]; v != 0 {
								t.Fatalf("%s n=%d k=%d: padding row %d gives %g, want 0", dt, n, k, j, v)
							}
						}
					}
				}
			}
		}
	}
}

// TestMatMulKPacked: the packed Q4_K and Q6_K kernels (dotQ4KP_vec8 and dotQ6KP_vec8 for
// one activation row, q4KPUnpackAVX or q6KPUnpackAVX and the tiles for several) agree
// with their plain Go twins q4KPRef and q6KPRef, and give each activation row the same bits whatever the number of rows in
// the call, on shapes with ragged edges: rows not a multiple of 8, k of one super-block
// and past one kBlockQuant piece (9 super-blocks), m past one mBlockQuant block and odd.
// Where Pack lays out the type on this CPU, MatMul on the packed tensor gives the same
// bits.
func TestMatMulKPacked(t *testing.T) {
	if q4KPVec == nil || q6KPVec == nil {
		t.Skip("no packed Q4_K and Q6_K kernels on this CPU (no AVX2)")
	}
	rng := rand.New(rand.NewPCG(63, 64))
	p := NewPool(2)
	defer p.Close()
	const M = 130
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		for _, k := range []int{256, 768, 2304} {
			for _, n := range []int{1, 7, 8, 19, 40} {
				w, dec := randWeight(t, rng, dt, n, k)
				packed := packKRef(w)
				x := randVec(rng, M*k)
				// Each row alone: the one-row kernel.
				one := make([]float32, M*n)
				for i := 0; i < M; i++ {
					p.matMulKPacked(dt, one[i*n:(i+1)*n], x[i*k:(i+1)*k], 1, n, k, packed)
				}
				xq, xd, deq := quantRef(x, M, k)
				ref := make([]float32, M*n)
				kpRef(dt, ref, xq, xd, M, n, k, packed)
				name := fmt.Sprintf("%s n=%d k=%d", dt, n, k)
				checkClose(t, name+" one row against the plain Go twin", one, ref, quantScale(t, w, deq, dec, M), 1e-5)
				for _, m := range []int{2, 3, 7, 16, 17, M} {
					for _, i0 := range []int{0, M - m} {
						got := make([]float32, m*n)
						p.matMulKPacked(dt, got, x[i0*k:(i0+m)*k], m, n, k, packed)
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
						t.Fatalf("%s: Pack's byte %d = %d, packKRef's %d", name, i, pw.Packed[i], packed[i])
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
}

// BenchmarkMatMulKPacked compares Q4_K and Q6_K products on weights as stored (dotQ4KAVX,
// dotQ6KAVX and their 1×4 tiles) and laid out by Pack (dotQ4KP_vec8, dotQ6KP_vec8 and
// their 8×2 and 8×3 tiles) at the 1B model's shapes, for 1, 16 and 128 activation rows,
// alternating the two in each round; and Q4_0 likewise (dotQ4I; dotQ4P_vec16 and the
// dotQ4I 8×2 tiles on packed groups), the speed the k-quant types are measured against.
func BenchmarkMatMulKPacked(b *testing.B) {
	if !q4KPackedOn() || !q6KPackedOn() || !q4PackedOn() {
		b.Skip("Pack does not lay out Q4_K, Q6_K and Q4_0 for AVX2 on this CPU (run with GODEBUG=cpu.avx512f=off on an AVX-512 one)")
	}
	p := NewPool(0)
	defer p.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q4_0} {
		for _, sh := range [][2]int{{2048, 2048}, {5632, 2048}, {2048, 5632}} {
			n, k := sh[0], sh[1]
			w := typedWeight(b, rng, dt, n, k)
			pw := *w
			p.Pack([]*tensor.Tensor{&pw})
			for _, m := range []int{1, 16, 128} {
				x := randVec(rng, m*k)
				out := make([]float32, m*n)
				for _, c := range []struct {
					name string
					w    *tensor.Tensor
				}{{"stored", w}, {"packed", &pw}} {
					b.Run(fmt.Sprintf("%s/%dx%d/m=%d/%s", dt, n, k, m, c.name), func(b *testing.B) {
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
}

// BenchmarkPackKGroup lays out a 2048×2048 Q4_K or Q6_K matrix in groups of 8 rows on one
// thread (packQ4KGroup, packQ6KGroup), the work Pool.Pack does for each such matrix at
// load time; Q4_0's packGroup alongside for comparison.
func BenchmarkPackKGroup(b *testing.B) {
	const n, k = 2048, 2048
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q4_0} {
		b.Run(dt.String(), func(b *testing.B) {
			rs, _ := dt.RowBytes(k)
			data := make([]byte, n*rs)
			for i := range data {
				data[i] = byte(i * 7)
			}
			dst := make([]byte, 2*n*rs)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				switch dt {
				case tensor.Q4_K:
					for g := 0; g < n/8; g++ {
						packQ4KGroup(dst[g*8*rs:(g+1)*8*rs], data, rs, 8*g, 8, k/256)
					}
				case tensor.Q6_K:
					for g := 0; g < n/8; g++ {
						packQ6KGroup(dst[g*8*rs:(g+1)*8*rs], data, rs, 8*g, 8, k/256)
					}
				default:
					gs, _ := packLayout(dt, k)
					for g := 0; g < n/16; g++ {
						packGroup(dst[g*gs:(g+1)*gs], data, rs, 16*g, 16, k, dt)
					}
				}
			}
		})
	}
}
