//go:build !purego

package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestVNNIQ4KTiles checks every AVX-VNNI tile (vnniQ4KTile1..3) against the plain Go twin
// of the Q4_K tiles (kp512Q4KTileGo), bit for bit, on random unpacked buffers (values up
// to 15 as Q4_K's and up to 31 as Q5_K's, any scales the format holds, outputs starting
// from random values) for 1 to 17 blocks, with a row stride past the 16 outputs.
func TestVNNIQ4KTiles(t *testing.T) {
	if vnniQ4KTiles == nil {
		t.Log("no AVX-VNNI on this CPU: the tiles are not installed")
		return
	}
	rng := rand.New(rand.NewPCG(91, 92))
	le := binary.LittleEndian
	for _, vmax := range []int{16, 32} {
		for _, nb := range []int{1, 3, 8, 17} {
			bufs := [2][]byte{make([]byte, nb*q4KPBlock), make([]byte, nb*q4KPBlock)}
			for _, buf := range bufs {
				for blk := 0; blk < nb; blk++ {
					o := buf[blk*q4KPBlock:]
					for e := 0; e < 256; e++ {
						o[e] = byte(rng.IntN(vmax))
					}
					for r := 0; r < 8; r++ {
						le.PutUint32(o[256+4*r:], math.Float32bits(float32(rng.IntN(64))*rng.Float32()*1e-3))
						le.PutUint32(o[288+4*r:], math.Float32bits(float32(rng.IntN(64))*rng.Float32()*1e-3))
					}
				}
			}
			for c := 1; c < len(vnniQ4KTiles); c++ {
				x := make([]byte, nb*c*kp512Q4KRow)
				for blk := 0; blk < nb*c; blk++ {
					o := x[blk*kp512Q4KRow:]
					var s int32
					for e := 0; e < 32; e++ {
						v := int8(rng.IntN(256) - 128)
						o[e] = byte(v)
						s += int32(v)
					}
					dx := rng.Float32() * 0.05
					le.PutUint32(o[32:], math.Float32bits(dx))
					le.PutUint32(o[36:], math.Float32bits(dx*float32(s)))
				}
				const os = 21
				want := make([]float32, c*os)
				for i := range want {
					want[i] = rng.Float32()*2 - 1
				}
				got := append([]float32(nil), want...)
				kp512Q4KTileGo(c, bufs[0], bufs[1], x, nb, want, os)
				vnniQ4KTiles[c](&bufs[0][0], &bufs[1][0], &x[0], nb, &got[0], 4*os)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("values<%d nb=%d c=%d: output %d (row %d, weight row %d) = %g, the Go twin %g", vmax, nb, c, i, i/os, i%os, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestVNNIQ4KRowInvariance checks MatMul on packed Q4_K and Q5_K tensors with the AVX-VNNI
// tiles serving several activation rows (the kp512 tiles switched off for the test where
// the CPU has them): each row of a product with m = 2, 3, 7, 16, 17 and 130 activation
// rows, n not a multiple of 16, has the bits of the same row alone (the one-row kernels
// dotQ4KP_vec8 and dotQ5KP_vec8), in both of kp512Rows's orders; and MatMulPath names the
// tiles.
func TestVNNIQ4KRowInvariance(t *testing.T) {
	if vnniQ4KTiles == nil {
		t.Log("no AVX-VNNI on this CPU: the tiles are not installed")
		return
	}
	t4 := kp512Q4KTiles
	kp512Q4KTiles = nil
	defer func() { kp512Q4KTiles = t4 }()
	rng := rand.New(rand.NewPCG(93, 94))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q5_K} {
		if !packs(dt) {
			t.Fatalf("%s: the AVX-VNNI tiles are installed but Pack does not lay out the type", dt)
		}
		if path := MatMulPath(dt, true, 2); path.ISA != "AVX-VNNI" {
			t.Fatalf("%s: MatMulPath with several rows = %v, want the AVX-VNNI tiles", dt, path)
		}
		for _, k := range []int{256, 768, 2304} {
			for _, n := range []int{7, 17, 40} {
				w, _ := randWeight(t, rng, dt, n, k)
				pw := *w
				if p.Pack([]*tensor.Tensor{&pw}) == 0 || pw.Packed == nil {
					t.Fatalf("%s: Pack did not lay out the matrix", dt)
				}
				const M = 130
				x := randVec(rng, M*k)
				one := make([]float32, M*n)
				for i := 0; i < M; i++ {
					if err := p.MatMul(one[i*n:(i+1)*n], x[i*k:(i+1)*k], 1, &pw); err != nil {
						t.Fatal(err)
					}
				}
				for _, m := range []int{2, 3, 7, 16, 17, M} {
					got := make([]float32, m*n)
					i0 := M - m
					old := kp512XRowsMax
					if m%2 == 1 { // kp512Rows's other order: piece-major
						kp512XRowsMax = 0
					}
					err := p.MatMul(got, x[i0*k:(i0+m)*k], m, &pw)
					kp512XRowsMax = old
					if err != nil {
						t.Fatal(err)
					}
					for i := range got {
						if got[i] != one[i0*n+i] {
							t.Fatalf("%s n=%d k=%d m=%d: row %d output %d = %g, alone %g", dt, n, k, m, i/n, i%n, got[i], one[i0*n+i])
						}
					}
				}
			}
		}
	}
}
