package kernel

import (
	"encoding/binary"

	"github.com/decilm/decilm/tensor"
)

// Q8Block is the size in bytes of one q8_0 block of a KV-cache row: a float16 scale and
// 32 int8 values, ggml's block_q8_0 (tensor.Q8_0's layout).
const Q8Block = 34

// The AVX2/F16C versions of the KV-cache kernels (kv_amd64.s); nil where the CPU or the
// build (purego) lacks them.
var (
	dotRowsF16Vec  func(q *float32, k *uint16, stride, n, rows int, scale float32, out *float32)
	axpyRowsF16Vec func(a *float32, x *uint16, stride, rows int, y *float32, n int)
	dotRowsQ8Vec   func(q *float32, k *byte, stride, nb, rows int, scale float32, out *float32)
	axpyRowsQ8Vec  func(a *float32, x *byte, stride, rows int, y *float32, nb int)
)

// EncodeF16 rounds src to float16 into dst (len(src) values, ties to even as
// tensor.F32ToF16): a KV-cache row written once and read by DotRowsF16 and AxpyRowsF16.
func EncodeF16(dst []uint16, src []float32) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] = tensor.F32ToF16(v)
	}
}

// EncodeQ8 quantizes src (a multiple of 32 values) to q8_0 blocks in dst
// (len(src)/32·Q8Block bytes) as ggml's quantize_row_q8_0_ref does (tensor.EncodeRow):
// a KV-cache row written once and read by DotRowsQ8 and AxpyRowsQ8.
func EncodeQ8(dst []byte, src []float32) error {
	return tensor.EncodeRow(dst[:len(src)/32*Q8Block], src, tensor.Q8_0)
}

// DotRowsF16 is DotRows over keys stored as float16 bits: out[t] = Σ q[i]·k_t[i] · scale
// with k_t = keys[t*stride:], widened exactly to float32. The fast version sums in another
// order than the plain one (within float rounding); both give each score independently
// of how many rows are asked for.
func DotRowsF16(out, q []float32, keys []uint16, stride int, scale float32) {
	rows, n := len(out), len(q)
	if rows == 0 {
		return
	}
	if n > 0 {
		_ = keys[(rows-1)*stride+n-1] // bounds check before the assembly runs
	}
	if dotRowsF16Vec == nil || n == 0 || n&7 != 0 || stride < n {
		dotRowsF16Generic(out, q, keys, stride, scale)
		return
	}
	dotRowsF16Vec(&q[0], &keys[0], stride, n, rows, scale, &out[0])
}

func dotRowsF16Generic(out, q []float32, keys []uint16, stride int, scale float32) {
	n := len(q)
	for t := range out {
		k := keys[t*stride : t*stride+n]
		var s0, s1, s2, s3 float32
		i := 0
		for ; i+4 <= n; i += 4 {
			s0 += q[i] * tensor.F16ToF32(k[i])
			s1 += q[i+1] * tensor.F16ToF32(k[i+1])
			s2 += q[i+2] * tensor.F16ToF32(k[i+2])
			s3 += q[i+3] * tensor.F16ToF32(k[i+3])
		}
		for ; i < n; i++ {
			s0 += q[i] * tensor.F16ToF32(k[i])
		}
		out[t] = ((s0 + s1) + (s2 + s3)) * scale
	}
}

// AxpyRowsF16 is AxpyRows over values stored as float16 bits: it adds
// a[t]·x[t*stride+i] to y[i] for t < len(a), in order, and i < len(y).
func AxpyRowsF16(y, a []float32, x []uint16, stride int) {
	rows, n := len(a), len(y)
	if rows == 0 || n == 0 {
		return
	}
	_ = x[(rows-1)*stride+n-1]
	if axpyRowsF16Vec == nil || n&7 != 0 || stride < n {
		axpyRowsF16Generic(y, a, x, stride)
		return
	}
	axpyRowsF16Vec(&a[0], &x[0], stride, rows, &y[0], n)
}

func axpyRowsF16Generic(y, a []float32, x []uint16, stride int) {
	for t, w := range a {
		xr := x[t*stride : t*stride+len(y)]
		for i, h := range xr {
			y[i] += w * tensor.F16ToF32(h)
		}
	}
}

// DotRowsQ8 is DotRows over keys stored as q8_0 rows: out[t] = Σ_b d_b·(Σ_i
// q[32b+i]·k_b[i]) · scale over the len(q)/32 blocks of the row at keys[t*stride:]
// (stride in bytes; len(q) a multiple of 32), the query kept in float32.
func DotRowsQ8(out, q []float32, keys []byte, stride int, scale float32) {
	rows, nb := len(out), len(q)/32
	if rows == 0 {
		return
	}
	if len(q)%32 != 0 {
		panic("kernel: DotRowsQ8 needs a multiple of 32 values")
	}
	_ = keys[(rows-1)*stride+nb*Q8Block-1]
	if dotRowsQ8Vec == nil || nb == 0 || stride < nb*Q8Block {
		dotRowsQ8Generic(out, q, keys, stride, scale)
		return
	}
	dotRowsQ8Vec(&q[0], &keys[0], stride, nb, rows, scale, &out[0])
}

func dotRowsQ8Generic(out, q []float32, keys []byte, stride int, scale float32) {
	nb := len(q) / 32
	for t := range out {
		row := keys[t*stride : t*stride+nb*Q8Block]
		var tot [2]float32
		for b := 0; b < nb; b++ {
			blk := row[b*Q8Block : (b+1)*Q8Block]
			d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			qb := q[b*32 : b*32+32]
			var s float32
			for i, v := range blk[2:] {
				s += qb[i] * float32(int8(v))
			}
			tot[b&1] += d * s
		}
		out[t] = (tot[0] + tot[1]) * scale
	}
}

// AxpyRowsQ8 is AxpyRows over values stored as q8_0 rows: it adds (a[t]·d_b)·x_b[i] to
// y[32b+i] for t < len(a), in order, over the len(y)/32 blocks of the row at
// x[t*stride:] (stride in bytes; len(y) a multiple of 32).
func AxpyRowsQ8(y, a []float32, x []byte, stride int) {
	rows, nb := len(a), len(y)/32
	if rows == 0 || nb == 0 {
		return
	}
	if len(y)%32 != 0 {
		panic("kernel: AxpyRowsQ8 needs a multiple of 32 values")
	}
	_ = x[(rows-1)*stride+nb*Q8Block-1]
	if axpyRowsQ8Vec == nil || stride < nb*Q8Block {
		axpyRowsQ8Generic(y, a, x, stride)
		return
	}
	axpyRowsQ8Vec(&a[0], &x[0], stride, rows, &y[0], nb)
}

func axpyRowsQ8Generic(y, a []float32, x []byte, stride int) {
	nb := len(y) / 32
	for t, w := range a {
		row := x[t*stride : t*stride+nb*Q8Block]
		for b := 0; b < nb; b++ {
			blk := row[b*Q8Block : (b+1)*Q8Block]
			c := w * tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			yb := y[b*32 : b*32+32]
			for i, v := range blk[2:] {
				yb[i] += c * float32(int8(v))
			}
		}
	}
}
