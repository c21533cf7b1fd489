package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestVNNIQ6KTiles checks every AVX-VNNI tile (vnniQ6KTile1..3) against the plain Go twin
// kp512Q6KTileGo, bit for bit, on random buffers in the q6KPBlock format (values 0..127,
// which holds Q6_K's 0..63, Q3_K's 28..35 and IQ2_XS's 21..107; any int16 scales), sum
// starts of -32·Σx and of -64·Σx (IQ2_XS), 1, 3, 8 and 17 blocks, outputs starting from
// random values, with a row stride past the 16 outputs.
func TestVNNIQ6KTiles(t *testing.T) {
	if vnniQ6KTiles == nil {
		t.Skip("no AVX-VNNI on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(87, 88))
	le := binary.LittleEndian
	for _, start := range []int32{-32, -64} {
		for _, nb := range []int{1, 3, 8, 17} {
			bufs := [2][]byte{make([]byte, nb*q6KPBlock), make([]byte, nb*q6KPBlock)}
			for _, buf := range bufs {
				for blk := 0; blk < nb; blk++ {
					o := buf[blk*q6KPBlock:]
					for e := 0; e < 256; e++ {
						o[e] = byte(rng.IntN(128))
					}
					for r := 0; r < 8; r++ {
						lo, hi := uint16(int16(rng.IntN(256)-128)), uint16(int16(rng.IntN(256)-128))
						le.PutUint32(o[256+4*r:], uint32(lo)|uint32(lo)<<16)
						le.PutUint32(o[288+4*r:], uint32(hi)|uint32(hi)<<16)
						le.PutUint32(o[320+4*r:], uint32(lo)|uint32(hi)<<16)
						le.PutUint32(o[352+4*r:], math.Float32bits(rng.Float32()*1e-3))
					}
				}
			}
			for c := 1; c < len(vnniQ6KTiles); c++ {
				x := make([]byte, nb*c*kp512Q6KRow)
				for blk := 0; blk < nb*c; blk++ {
					o := x[blk*kp512Q6KRow:]
					var s [2]int32
					for e := 0; e < 32; e++ {
						v := int8(rng.IntN(255) - 127)
						o[e] = byte(v)
						s[e/16] += int32(v)
					}
					le.PutUint32(o[32:], math.Float32bits(rng.Float32()*0.05))
					le.PutUint32(o[36:], uint32(start*s[0]))
					le.PutUint32(o[40:], uint32(start*s[1]))
				}
				const os = 21
				want := make([]float32, c*os)
				for i := range want {
					want[i] = rng.Float32()*2 - 1
				}
				got := append([]float32(nil), want...)
				kp512Q6KTileGo(c, bufs[0], bufs[1], x, nb, want, os)
				vnniQ6KTiles[c](&bufs[0][0], &bufs[1][0], &x[0], nb, &got[0], 4*os)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("start %d·Σx nb=%d c=%d: output %d (row %d, weight row %d) = %g, the Go twin %g", start, nb, c, i, i/os, i%os, got[i], want[i])
					}
				}
			}
		}
	}
}

// vnniQ6KMatMul returns the packed product of Q6_K (q3 false) or Q3_K on the AVX-VNNI
// tiles for several activation rows (matMulQ6KTiles, called directly so that it runs
// wherever the tiles do, AVX-512 or not) and the type's MatMul for one.
func vnniQ6KMatMul(q3 bool) func(p *Pool, out, x []float32, m, n, k int, w []byte) {
	return func(p *Pool, out, x []float32, m, n, k int, w []byte) {
		gsb, unpack, one := q6KPSB, q6KPUnpack, (*Pool).matMulQ6KPacked
		if q3 {
			gsb, unpack, one = q3KPSB, q3KPUnpack, (*Pool).matMulQ3KPacked
		}
		if m == 1 {
			one(p, out, x, m, n, k, w)
			return
		}
		s := new(quantScratch)
		p.quantizeRows(s, x, m, k)
		p.matMulQ6KTiles(out, s, m, n, k, w, gsb, unpack, vnniQ6KTiles, vnniQ6KC)
	}
}

// TestVNNIQ6KPacked: packed Q6_K and Q3_K with several activation rows on the AVX-VNNI
// tiles (q6KPUnpackAVX, q3KPUnpackAVX and vnniQ6KTile) give the bits of the types' plain
// Go twins (q6KPRef, q3KPRef) and of their one-row kernels row by row, on ragged shapes
// (checkPackedKernels: n = 1, 7, 8, 19, 40; k of 1, 2, 3 and 9 super-blocks; m = 2, 3, 7,
// 16, 17, 130), and Q6_K weights and activations at their extremes (q6KExtremes) too.
func TestVNNIQ6KPacked(t *testing.T) {
	on := vnniQ6KTiles != nil && q6KPVec != nil && q3KPVec != nil
	checkPackedKernels(t, tensor.Q6_K, 89, on, packKRef, "packQ6KGroup", vnniQ6KMatMul(false), q6KPRef)
	checkPackedKernels(t, tensor.Q3_K, 91, on, packQ3KRef, "packQ3KGroup", vnniQ6KMatMul(true), q3KPRef)
	rng := rand.New(rand.NewPCG(93, 94))
	p := NewPool(2)
	defer p.Close()
	const m, n, k = 17, 19, 512
	w, _ := randWeight(t, rng, tensor.Q6_K, n, k)
	x := randVec(rng, m*k)
	q6KExtremes(rng, w.Data, x, k)
	packed := packKRef(w)
	xq, xd, _ := quantRef(x, m, k)
	ref, got := make([]float32, m*n), make([]float32, m*n)
	q6KPRef(ref, xq, xd, m, n, k, packed)
	vnniQ6KMatMul(false)(p, got, x, m, n, k, packed)
	for i := range got {
		if got[i] != ref[i] {
			t.Fatalf("extremes: output %d = %g, the twin %g", i, got[i], ref[i])
		}
	}
}

// TestVNNIQ6KPaths: the dispatch table names the AVX-VNNI tiles for several activation
// rows of packed Q6_K, packed Q3_K and IQ2_XS exactly where they are to serve: the CPU
// has them (AVX-VNNI: GODEBUG=cpu.avx512f=off on this Zen 5, an Alder Lake) and the
// type's AVX2 kernels, and no AVX-512 VNNI tiles serve the type.
func TestVNNIQ6KPaths(t *testing.T) {
	vnni := vnniQ6KTiles != nil && kp512Q6KTiles == nil
	for _, tc := range []struct {
		dt     tensor.DType
		packed bool
		want   bool
		note   string
	}{
		{tensor.Q6_K, true, vnni && q6KPackedOn(), "(packed)"},
		{tensor.Q3_K, true, vnni && q3KPackedOn(), "(packed)"},
		{tensor.IQ2_XS, false, vnni && iq2XSPTiles[1] != nil && dotIQ2XS32Vec == nil, "(iq2xs, pieces decoded by iq2XSUnpackAVX2, VNNI order)"},
	} {
		p := Path{"AVX-VNNI", tile("vnniQ6KTile", 16, vnniQ6KC, tc.note)}
		if got := MatMulPath(tc.dt, tc.packed, 16); (got == p) != tc.want {
			t.Errorf("%v: MatMulPath(m=16) = %q; the AVX-VNNI tiles are to serve: %v", tc.dt, got, tc.want)
		}
	}
}
