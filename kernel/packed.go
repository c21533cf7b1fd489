package kernel

import (
	"encoding/binary"
	"unsafe"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// Packed weights. GGUF stores a Q8_0 or Q4_0 row as blocks of 32 values, each with its
// float16 scale in front (34 or 18 bytes), rows one after the other. That is a poor
// layout for a CPU's matrix units, which want many rows' values side by side: read as it
// is, every group of 16 rows is 16 streams of unaligned 34-byte blocks, and the scales
// must be picked out of them first. Pack lays such weights out again once, at load time
// (as llama.cpp's AMX back end does), in groups of 16 rows, each group one sequential
// stream: the group's scales (16 float16 per block, the whole run padded to a multiple of
// 64 bytes), then its values block after block, in the layout the tile unit's B operand
// takes (packGroup). The kernels that read it compute every output with the same
// operations as the other quantized paths, so packing changes speed, not results.
//
// packedMatMuls runs the products of jobs, which share x (m rows of k values), on packed
// weights; it is set at start-up where the CPU has AMX and AVX-512 VNNI
// (amx_linux_amd64.go), and nil elsewhere.
var packedMatMuls func(p *Pool, x []float32, m, k int, jobs []pkJob)

// pkJob is one weight of a packed product: out = x · wᵀ, w the packed data of n rows.
type pkJob struct {
	out []float32
	n   int
	w   []byte
	dt  tensor.DType
}

// packLayout returns the size in bytes of one packed group of 16 rows of k values (k a
// multiple of 32) and the offset of its values after its scales, in the layout of the
// AMX and AVX-512 VNNI kernels (packedMatMuls).
func packLayout(dt tensor.DType, k int) (gs, qoff int) {
	nb := k / 32
	qoff = (32*nb + 63) &^ 63
	return qoff + nb*packValueBytes(dt), qoff
}

// packValueBytes returns the bytes of one block of 32 values of a packed group's 16 rows.
func packValueBytes(dt tensor.DType) int {
	if dt == tensor.Q4_0 {
		return 256
	}
	return 512
}

// grpLayout says where a packed group keeps block b: its 16 scales (float16) at
// sstride·b, its values at qoff + qstride·b; size is the group's size in bytes.
type grpLayout struct{ size, qoff, sstride, qstride int }

// groupLayout returns the layout of Pack's groups on this CPU for rows of k values. The
// AMX and AVX-512 VNNI kernels (packedMatMuls) take all the scales first, then all the
// values (packLayout). The AVX2 kernels (dotQ4P_vec16) take each block's scales right in
// front of its values, 288 bytes a block for Q4_0, so that a group is one sequential
// stream that the hardware prefetcher follows from one group to the next: with the scales
// apart, a one-row product read 13.6 GB/s of thread CPU time from memory, against 21.8
// for the packed Q4_K groups, which are one stream (BenchmarkMatVecAVX2DRAM, -cpu 1).
func groupLayout(dt tensor.DType, k int) grpLayout {
	nb, qb := k/32, packValueBytes(dt)
	if packedMatMuls == nil {
		return grpLayout{nb * (32 + qb), 32, 32 + qb, 32 + qb}
	}
	gs, qoff := packLayout(dt, k)
	return grpLayout{gs, qoff, 32, qb}
}

// packable reports whether Pack lays out w, and if so returns its rows, row length and
// packed size.
func packable(w *tensor.Tensor) (n, k, size int, ok bool) {
	if w == nil || w.Packed != nil || len(w.Shape) != 2 {
		return 0, 0, 0, false
	}
	n, k = w.Shape[0], w.Shape[1]
	if n <= 0 || k <= 0 {
		return 0, 0, 0, false
	}
	rs, err := w.DType.RowBytes(k)
	if err != nil || len(w.Data) < n*rs {
		return 0, 0, 0, false
	}
	switch w.DType {
	case tensor.Q8_0, tensor.Q4_0:
		if (packedMatMuls == nil && !(w.DType == tensor.Q4_0 && q4PackedOn()) && !(w.DType == tensor.Q8_0 && q8PackedOn())) || k%32 != 0 {
			return 0, 0, 0, false
		}
		return n, k, (n + 15) / 16 * groupLayout(w.DType, k).size, true
	case tensor.Q4_K:
		if !q4KPackable(k) {
			return 0, 0, 0, false
		}
		return n, k, q4KPBytes(n, k), true
	case tensor.Q6_K:
		if !q6KPackable(k) {
			return 0, 0, 0, false
		}
		return n, k, q6KPBytes(n, k), true
	case tensor.Q5_K:
		if !q5KPackable(k) {
			return 0, 0, 0, false
		}
		return n, k, q5KPBytes(n, k), true
	case tensor.Q3_K:
		if !q3KPackable(k) {
			return 0, 0, 0, false
		}
		return n, k, q3KPBytes(n, k), true
	case tensor.IQ4_XS:
		if !iq4XSPackable(k) {
			return 0, 0, 0, false
		}
		return n, k, iq4XSPBytes(n, k), true
	case tensor.BF16:
		if bf16PanelsOn() {
			return n, k, bf16PanelBytes(n, k), true
		}
		if floatAligned(w.Data) && !mmap.HugePages() {
			return 0, 0, 0, false
		}
		return n, k, n * rs, true
	case tensor.F32, tensor.F16:
		if floatAligned(w.Data) && !mmap.HugePages() {
			return 0, 0, 0, false
		}
		return n, k, n * rs, true
	}
	return 0, 0, 0, false
}

// floatAligned reports whether float weights at data start on a 64-byte boundary. The
// float kernels read rows in 64-byte pieces from the start of the matrix; on a matrix
// that starts elsewhere (as tensors in a safetensors file may: its writers align the data
// to 8 bytes only) every piece straddles two cache lines, which costs a fifth of the
// speed of a matrix-vector product. Pack copies such a matrix to an aligned place, and
// every float matrix where the system has huge pages: a matrix-vector product streaming
// from them ran 1.6x as fast here as from the file's mapping (BENCHMARKS.md).
func floatAligned(data []byte) bool {
	return len(data) == 0 || uintptr(unsafe.Pointer(&data[0]))%64 == 0
}

// Pack lays out the Q8_0 and Q4_0 matrices among ws again for the running CPU's packed
// kernels (see packedMatMuls; they need AMX; on a CPU with AVX2 and neither AMX nor
// AVX-512 VNNI, for matMulQ4Packed and matMulQ8Packed), Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS matrices in groups of 8 rows
// at the same size where the packed AVX2 kernels serve them (q3KPackedOn, q4KPackedOn, q5KPackedOn, q6KPackedOn,
// iq4XSPackedOn: packQ3KGroup, packQ4KGroup, packQ5KGroup, packQ6KGroup, packIQ4XSGroup), BF16 matrices in panels of 16 rows where the panel kernels
// serve BF16 (bf16PanelsOn, packBF16Panel: AVX2, or AVX-512 pair panels), in place of the
// rows (the panels are the only copy MatMul reads), and copies other F32, F16 and BF16 matrices to
// 64-byte-aligned memory where they are not aligned or the system has huge pages (see
// floatAligned), setting their Packed field, so that MatMul reads Packed instead of Data. All of them
// go into one new buffer, backed by huge pages where the system allows. Other tensors,
// tensors already packed or listed twice, and quantized ones on a CPU without the packed
// kernels are left as they are. Pages of Data that
// packing read are given back to the operating system when Data is part of a
// memory-mapped file (they are read again if Data is used). Pack returns the number of
// bytes it allocated.
func (p *Pool) Pack(ws []*tensor.Tensor) int64 {
	type job struct {
		w       *tensor.Tensor
		n, k    int
		off, sz int
	}
	var jobs []job
	seen := map[*tensor.Tensor]bool{}
	total := 0
	for _, w := range ws {
		n, k, size, ok := packable(w)
		if !ok || seen[w] {
			continue
		}
		seen[w] = true
		jobs = append(jobs, job{w, n, k, total, size})
		total += (size + 63) &^ 63
	}
	if total == 0 {
		return 0
	}
	raw := make([]byte, total+64)
	buf := raw[(64-int(uintptr(unsafe.Pointer(&raw[0]))%64))%64:][:total]
	mmap.AdviseHuge(buf)
	for _, j := range jobs {
		dst := buf[j.off : j.off+j.sz : j.off+j.sz]
		w, k := j.w, j.k
		rs, _ := w.DType.RowBytes(k)
		switch {
		case w.DType == tensor.BF16 && bf16PanelsOn():
			p.Run((j.n+bf16Panel-1)/bf16Panel, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					ps := bf16PanelStride(k)
					packBF16Panel(dst[g*ps:(g+1)*ps], w.Data, rs, j.n, k, g)
				}
			})
		case w.DType == tensor.Q4_K:
			nsb := k / 256
			p.Run((j.n+7)/8, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packQ4KGroup(dst[g*nsb*q4KPSB:(g+1)*nsb*q4KPSB], w.Data, rs, 8*g, min(8, j.n-8*g), nsb)
				}
			})
		case w.DType == tensor.Q6_K:
			nsb := k / 256
			p.Run((j.n+7)/8, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packQ6KGroup(dst[g*nsb*q6KPSB:(g+1)*nsb*q6KPSB], w.Data, rs, 8*g, min(8, j.n-8*g), nsb)
				}
			})
		case w.DType == tensor.Q5_K:
			nsb := k / 256
			p.Run((j.n+7)/8, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packQ5KGroup(dst[g*nsb*q5KPSB:(g+1)*nsb*q5KPSB], w.Data, rs, 8*g, min(8, j.n-8*g), nsb)
				}
			})
		case w.DType == tensor.Q3_K:
			nsb := k / 256
			p.Run((j.n+7)/8, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packQ3KGroup(dst[g*nsb*q3KPSB:(g+1)*nsb*q3KPSB], w.Data, rs, 8*g, min(8, j.n-8*g), nsb)
				}
			})
		case w.DType == tensor.IQ4_XS:
			nsb := k / 256
			p.Run((j.n+7)/8, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packIQ4XSGroup(dst[g*nsb*iq4XSPSB:(g+1)*nsb*iq4XSPSB], w.Data, rs, 8*g, min(8, j.n-8*g), nsb)
				}
			})
		case w.DType != tensor.Q8_0 && w.DType != tensor.Q4_0:
			p.Run(j.n, func(lo, hi int) { copy(dst[lo*rs:hi*rs], w.Data[lo*rs:hi*rs]) })
		default:
			gs := groupLayout(w.DType, k).size
			p.Run((j.n+15)/16, func(lo, hi int) {
				for g := lo; g < hi; g++ {
					packGroup(dst[g*gs:(g+1)*gs], w.Data, rs, 16*g, min(16, j.n-16*g), k, w.DType)
				}
			})
		}
		w.Packed = dst
		mmap.Release(w.Data)
	}
	return int64(len(raw))
}

// RowBytes returns the bytes of w's rows in their stored layout: w.Packed where Pack
// copied them unchanged (F32 and F16, and BF16 where it does not lay it out in panels),
// else w.Data.
func RowBytes(w *tensor.Tensor) []byte {
	switch {
	case w.Packed == nil, w.DType == tensor.BF16 && bf16PanelsOn():
		return w.Data
	case w.DType == tensor.F32, w.DType == tensor.F16, w.DType == tensor.BF16:
		return w.Packed
	}
	return w.Data
}

// packGroup lays out rows j..j+rows-1 (rows ≤ 16) of a Q8_0 or Q4_0 matrix with rows of
// k values, rs bytes each, into dst, which must be zero (the rest of the group stays so),
// where groupLayout puts each block's scales and values:
//
//   - scales: for block b, the 16 rows' float16 scales;
//   - Q8_0 values: for block b, 512 bytes; byte 4·(16·q+r)+i is value 4q+i of block b of
//     row r (q < 8, i < 4);
//   - Q4_0 values: for block b, 256 bytes; byte 64·z+4·r+i holds, as Q4_0 stores them
//     (value + 8), value 8z+i of block b of row r in its low nibble and value 8z+4+i in
//     its high nibble (z < 4, i < 4).
func packGroup(dst, data []byte, rs, j, rows, k int, dt tensor.DType) {
	nb := k / 32
	gl := groupLayout(dt, k)
	bb := dt.BlockBytes()
	le := binary.LittleEndian
	var src [16][]byte
	for r := 0; r < rows; r++ {
		src[r] = data[(j+r)*rs : (j+r+1)*rs]
	}
	// Block after block, so that dst is written front to back.
	for b := 0; b < nb; b++ {
		sc := dst[gl.sstride*b : gl.sstride*b+32]
		for r := 0; r < rows; r++ {
			sc[2*r], sc[2*r+1] = src[r][b*bb], src[r][b*bb+1]
		}
		if dt == tensor.Q8_0 {
			o := (*[512]byte)(dst[gl.qoff+gl.qstride*b:])
			for r := 0; r < rows; r++ {
				blk := (*[32]byte)(src[r][b*bb+2:])
				for q := 0; q < 8; q++ {
					le.PutUint32(o[4*(16*q+r):], le.Uint32(blk[4*q:]))
				}
			}
			continue
		}
		// Q4_0: byte i of a block's 16 holds value i (low nibble) and i+16 (high), so
		// values 8z+i and 8z+4+i (i < 4) are the low (z < 2) or high (z ≥ 2) nibbles of
		// bytes 8z'+i and 8z'+4+i, z' = z mod 2.
		const lo4 = 0x0f0f0f0f
		o := (*[256]byte)(dst[gl.qoff+gl.qstride*b:])
		for r := 0; r < rows; r++ {
			blk := (*[16]byte)(src[r][b*bb+2:])
			for z := 0; z < 2; z++ {
				a, c := le.Uint32(blk[8*z:]), le.Uint32(blk[8*z+4:])
				le.PutUint32(o[64*z+4*r:], a&lo4|(c&lo4)<<4)
				le.PutUint32(o[64*(z+2)+4*r:], a>>4&lo4|c&^lo4)
			}
		}
	}
}
