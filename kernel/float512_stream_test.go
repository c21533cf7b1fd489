//go:build amd64 && !purego

package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"unsafe"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// BenchmarkMatMulFloat512Stream runs the F32 matrix products of a few decoder layers of a
// 1B model (hidden size 2048, feed-forward 5632: 174 MB of weights a layer, 700 MB in
// all, more than the caches hold) on two threads for m = 1, 2, 8 and 16 activation rows,
// as generation and batched generation do, reporting the weights' bandwidth in GB/s. The
// weights lie in one 64-byte-aligned buffer backed by huge pages where the system allows
// (as Pool.Pack lays them out) or, for the "small" cases, in ordinary pages.
func BenchmarkMatMulFloat512Stream(b *testing.B) {
	skipNoFloat512(b)
	const layers = 4
	shapes := [][2]int{{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048}, {5632, 2048}, {5632, 2048}, {2048, 5632}}
	total := 0
	for _, s := range shapes {
		total += layers * 4 * s[0] * s[1]
	}
	x := make([]float32, 16*5632)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	out := make([]float32, 16*5632)
	p := NewPool(2)
	defer p.Close()
	for _, huge := range []bool{true, false} {
		raw := make([]byte, total+4096)
		buf := raw[(4096-int(uintptr(unsafe.Pointer(&raw[0]))%4096))%4096:][:total]
		if huge {
			mmap.AdviseHuge(buf)
		}
		type mat struct {
			n, k int
			data []byte
		}
		var mats []mat
		seed := uint32(1)
		off := 0
		for range layers {
			for _, s := range shapes {
				n, k := s[0], s[1]
				data := buf[off : off+4*n*k]
				off += 4 * n * k
				for i := 0; i < n*k; i++ {
					seed = seed*1664525 + 1013904223
					binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(int32(seed>>16)-32768)/32768))
				}
				mats = append(mats, mat{n, k, data})
			}
		}
		pages := "huge"
		if !huge {
			pages = "small"
		}
		for _, m := range []int{1, 2, 8, 16} {
			b.Run(fmt.Sprintf("%s/m=%d", pages, m), func(b *testing.B) {
				for b.Loop() {
					for _, w := range mats {
						p.matMulFloat(out[:m*w.n], x[:m*w.k], m, w.n, w.k, w.data, 4*w.k, tensor.F32)
					}
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(float64(total)/sec/1e9, "GB/s")
			})
		}
	}
}

// BenchmarkMatMulFloat512Hot is the F32 product of m = 16 activation rows with weights
// that stay in the L2 cache ([128, 2048]) on one thread: the kernels' arithmetic speed.
func BenchmarkMatMulFloat512Hot(b *testing.B) {
	skipNoFloat512(b)
	const m, n, k = 16, 128, 2048
	data := make([]byte, 4*n*k)
	for i := 0; i < n*k; i++ {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(float32(i%13)-6))
	}
	x := make([]float32, m*k)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	out := make([]float32, m*n)
	var p *Pool
	for b.Loop() {
		p.matMulFloat(out, x, m, n, k, data, 4*k, tensor.F32)
	}
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(2*float64(m*n*k)/sec/1e9, "GFLOP/s")
}

// BenchmarkF32RowsCache times the F32 rows kernels alone on one thread with 16 activation
// rows and 64 weight rows of 2048 (512 KiB, in L2), per 64-byte line of weights: the
// arithmetic's share (16 FMAs a line) of what BenchmarkMatMulFloat512Stream's m = 16
// figure adds memory time to.
func BenchmarkF32RowsCache(b *testing.B) {
	skipNoFloat512(b)
	const n, k = 64, 2048
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	x := make([]float32, 16*k)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	out := make([]float32, 16*n)
	p := NewPool(1)
	defer p.Close()
	data := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), 4*n*k)
	for b.Loop() {
		matMulF32Rows(p, out, x, 16, n, k, data, 4*k)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n*k/16), "ns/line")
}
