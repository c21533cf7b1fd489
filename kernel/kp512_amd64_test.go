//go:build !purego

package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// TestKP512Tiles checks every assembly tile (kp512Q4KTile1..12, kp512Q6KTile1..8)
// against its plain Go twin, bit for bit, on random unpacked buffers (any value and scale
// the formats hold, outputs starting from random values) for 1 to 17 blocks, with a
// row stride past the 16 outputs.
func TestKP512Tiles(t *testing.T) {
	if kp512Q4KTiles == nil {
		t.Log("no AVX-512 VNNI on this CPU: only the plain tiles run (TestKP512Go)")
		return
	}
	rng := rand.New(rand.NewPCG(85, 86))
	le := binary.LittleEndian
	for _, q6 := range []bool{false, true} {
		tiles, bs, xr, tile, vmax := kp512Q4KTiles, q4KPBlock, kp512Q4KRow, kp512Q4KTileGo, 16
		if q6 {
			tiles, bs, xr, tile, vmax = kp512Q6KTiles, q6KPBlock, kp512Q6KRow, kp512Q6KTileGo, 64
		}
		for _, nb := range []int{1, 3, 8, 17} {
			bufs := [2][]byte{make([]byte, nb*bs), make([]byte, nb*bs)}
			for _, buf := range bufs {
				for blk := 0; blk < nb; blk++ {
					o := buf[blk*bs:]
					for e := 0; e < 256; e++ {
						o[e] = byte(rng.IntN(vmax))
					}
					for r := 0; r < 8; r++ {
						if q6 {
							lo, hi := uint16(int16(rng.IntN(256)-128)), uint16(int16(rng.IntN(256)-128))
							le.PutUint32(o[256+4*r:], uint32(lo)|uint32(lo)<<16)
							le.PutUint32(o[288+4*r:], uint32(hi)|uint32(hi)<<16)
							le.PutUint32(o[320+4*r:], uint32(lo)|uint32(hi)<<16)
							le.PutUint32(o[352+4*r:], math.Float32bits(rng.Float32()*1e-3))
						} else {
							le.PutUint32(o[256+4*r:], math.Float32bits(float32(rng.IntN(64))*rng.Float32()*1e-3))
							le.PutUint32(o[288+4*r:], math.Float32bits(float32(rng.IntN(64))*rng.Float32()*1e-3))
						}
					}
				}
			}
			for c := 1; c < len(tiles); c++ {
				x := make([]byte, nb*c*xr)
				for blk := 0; blk < nb*c; blk++ {
					o := x[blk*xr:]
					var s [2]int32
					for e := 0; e < 32; e++ {
						v := int8(rng.IntN(255) - 127)
						o[e] = byte(v)
						s[e/16] += int32(v)
					}
					dx := rng.Float32() * 0.05
					le.PutUint32(o[32:], math.Float32bits(dx))
					if q6 {
						le.PutUint32(o[36:], uint32(-32*s[0]))
						le.PutUint32(o[40:], uint32(-32*s[1]))
					} else {
						le.PutUint32(o[36:], math.Float32bits(dx*float32(s[0]+s[1])))
					}
				}
				const os = 21
				want := make([]float32, c*os)
				for i := range want {
					want[i] = rng.Float32()*2 - 1
				}
				got := append([]float32(nil), want...)
				tile(c, bufs[0], bufs[1], x, nb, want, os)
				tiles[c](&bufs[0][0], &bufs[1][0], &x[0], nb, &got[0], 4*os)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("q6=%v nb=%d c=%d: output %d (row %d, weight row %d) = %g, the Go twin %g", q6, nb, c, i, i/os, i%os, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestKP512Q6KUnpack checks kp512Q6KUnpack512 against the plain unpacker (q6KPUnpackGo)
// and the AVX2 one (q6KPUnpackAVX), byte for byte, on random packed Q6_K groups (any
// values and scales, finite d) of 1, 2, 3 and 5 super-blocks, and that it writes nothing
// past them.
func TestKP512Q6KUnpack(t *testing.T) {
	if kp512Q6KUnpack == nil {
		t.Log("no AVX-512 VNNI on this CPU: kp512Q6KUnpack512 is not installed")
		return
	}
	rng := rand.New(rand.NewPCG(87, 88))
	for _, nsb := range []int{1, 2, 3, 5} {
		w := make([]byte, nsb*q6KPSB)
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		for s := 0; s < nsb; s++ {
			for r := 0; r < 8; r++ {
				binary.LittleEndian.PutUint16(w[s*q6KPSB+2*r:], tensor.F32ToF16((rng.Float32()-0.5)*0.1))
			}
		}
		n := nsb * 8 * q6KPBlock
		want := make([]byte, n+64)
		got := make([]byte, n+64)
		for i := n; i < n+64; i++ {
			want[i], got[i] = 0xa5, 0xa5
		}
		q6KPUnpackGo(want, w, nsb)
		kp512Q6KUnpack(&got[0], &w[0], nsb)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("nsb=%d: byte %d (block %d, offset %d) = %#x, the Go twin %#x", nsb, i, i/q6KPBlock, i%q6KPBlock, got[i], want[i])
			}
		}
		if q6KPUnpack != nil {
			avx := make([]byte, n+64)
			copy(avx[n:], want[n:])
			q6KPUnpack(&avx[0], &w[0], nsb)
			for i := range avx {
				if avx[i] != got[i] {
					t.Fatalf("nsb=%d: byte %d = %#x, q6KPUnpackAVX %#x", nsb, i, got[i], avx[i])
				}
			}
		}
	}
}
