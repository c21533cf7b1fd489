package kernel

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/decilm/decilm/tensor"
)

// kp512IQ4XSUnpack2Go is the plain version of kp512IQ4XSUnpack2: nsb super-blocks of two
// packed IQ4_XS groups (packIQ4XSGroup; ga rows 0..7, gb rows 8..15) into dst in its
// format (kp512IQ4XSBlock bytes a block of 32: value e of row r plus 128 at
// 64(e/4)+4r+e%4, then d·(ls-32) of row r as float32 at 512+4r).
func kp512IQ4XSUnpack2Go(dst, ga, gb []byte, nsb int) {
	for s := 0; s < nsb; s++ {
		for j := 0; j < 8; j++ {
			o := dst[(8*s+j)*kp512IQ4XSBlock:]
			for r := 0; r < 16; r++ {
				sb := ga[s*iq4XSPSB:]
				if r >= 8 {
					sb = gb[s*iq4XSPSB:]
				}
				for e := 0; e < 32; e++ {
					o[64*(e/4)+4*r+e%4] = byte(iq4XSPValue(sb, r%8, j, e) + 128)
				}
				binary.LittleEndian.PutUint32(o[512+4*r:], math.Float32bits(iq4XSPScale(sb, r%8, j)))
			}
		}
	}
}

// kp512IQ4XSMatMulGo is matMulIQ4XSP512 on the plain Go unpacker and tiles.
func (p *Pool) kp512IQ4XSMatMulGo(out, x []float32, m, n, k int, w []byte) {
	s := new(quantScratch)
	p.quantizeRows(s, x, m, k)
	nb := k / 32
	tiles := make([]kp512TileFn, kp512MaxC+1)
	for c := 1; c <= kp512MaxC; c++ {
		tiles[c] = func(a, b *byte, x *byte, nb int, out *float32, os int) {
			kp512IQ4XSTileGo(c, unsafe.Slice(a, nb*kp512IQ4XSBlock), nil, unsafe.Slice(x, nb*c*kp512Q4KRow), nb,
				unsafe.Slice(out, (c-1)*os/4+16), os/4)
		}
	}
	pair := func(dst, a, b *byte, sc int) {
		kp512IQ4XSUnpack2Go(unsafe.Slice(dst, 8*sc*kp512IQ4XSBlock), unsafe.Slice(a, sc*iq4XSPSB), unsafe.Slice(b, sc*iq4XSPSB), sc)
	}
	xp := make([]byte, m*nb*kp512Q4KRow)
	p.kp512Prep(xp, s.q, s.d, iq4XSOffsets(s, m*nb), m, nb, kp512IQ4XSC)
	p.kp512RowsPair(out, m, n, k, w, iq4XSPSB, nil, pair, kp512IQ4XSBlock, xp, kp512Q4KRow, kp512IQ4XSC, tiles)
}

// TestKP512IQ4XSGo checks, on every CPU (purego included), the IQ4_XS kp512 arithmetic
// through its driver (kp512Rows, kp512PrepX with iq4XSOffsets) on the plain Go unpacker
// and tile, bit for bit against the plain Go twin of the packed kernels (iq4XSPRef), on
// ragged shapes: n not a multiple of 8 or 16, k of one to nine super-blocks (past one
// kp512KB piece), m = 2, 3, 7, 16, 17 (not a multiple of C) and 130 (past one mBlockQuant
// block). Where the CPU has kp512IQ4XSUnpack2 or vnniIQ4XSUnpack2, it checks that their
// bytes are the Go unpacker's (two groups, and a lone last group as both).
func TestKP512IQ4XSGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{256, 512, 768, 2304} {
		for _, n := range []int{1, 9, 16, 40} {
			w := randBlocks(rng, tensor.IQ4_XS, n, k)
			packed := packIQ4XSRef(w)
			for _, unpack := range []func(dst, a, b *byte, nsb int){kp512IQ4XSUnpack, vnniIQ4XSUnpack} {
				if unpack == nil {
					continue
				}
				nsb := k / 256
				ng := (n + 7) / 8
				for g := 0; g < ng; g++ {
					h := min(g+1, ng-1) // a lone last group as both
					want := make([]byte, nsb*8*kp512IQ4XSBlock)
					got := make([]byte, len(want))
					kp512IQ4XSUnpack2Go(want, packed[g*nsb*iq4XSPSB:], packed[h*nsb*iq4XSPSB:], nsb)
					unpack(&got[0], &packed[g*nsb*iq4XSPSB], &packed[h*nsb*iq4XSPSB], nsb)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("n=%d k=%d groups %d, %d: %s byte %d = %d, the Go unpacker's %d", n, k, g, h, funcName(unpack), i, got[i], want[i])
						}
					}
				}
			}
			for _, m := range []int{2, 3, 7, 16, 17, 130} {
				if m == 130 && (k > 512 || n > 16) {
					continue // bounded run time: the Go tiles are slow
				}
				x := randVec(rng, m*k)
				got := make([]float32, m*n)
				for i := range got {
					got[i] = 1e30 // kp512Rows overwrites out
				}
				p.kp512IQ4XSMatMulGo(got, x, m, n, k, packed)
				xq, xd, _ := quantRef(x, m, k)
				ref := make([]float32, m*n)
				iq4XSPRef(ref, xq, xd, m, n, k, packed)
				for i := range got {
					if got[i] != ref[i] {
						t.Fatalf("n=%d k=%d m=%d: row %d output %d = %g on the Go tiles, the plain Go twin %g", n, k, m, i/n, i%n, got[i], ref[i])
					}
				}
			}
		}
	}
}

// TestKP512IQ4XSRowInvariance checks MatMul on packed IQ4_XS tensors: each row of a
// product with m activation rows (the kp512 IQ4_XS tiles where kp512IQ4XSOn holds, the
// AVX2 tiles or plain Go elsewhere) has the bits of the same row alone, for m = 2, 3, 7,
// 16, 17 and 130, n not a multiple of 16 and k past one kp512KB piece; and MatMulPath
// names the kp512 tile exactly where kp512IQ4XSOn holds, kp512IQ4XSVec8 where
// kp512IQ4XSVecOn does.
func TestKP512IQ4XSRowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(93, 94))
	p := NewPool(2)
	defer p.Close()
	path := MatMulPath(tensor.IQ4_XS, packs(tensor.IQ4_XS), 2)
	if kp512IQ4XSOn() != (path.Kernel == tile("kp512IQ4XSTile", 16, kp512IQ4XSC, "(packed)")) {
		t.Fatalf("MatMulPath with several rows = %v, kp512IQ4XSOn = %v", path, kp512IQ4XSOn())
	}
	if one := MatMulPath(tensor.IQ4_XS, packs(tensor.IQ4_XS), 1); kp512IQ4XSVecOn() != (one.Kernel == "kp512IQ4XSVec8 (packed)") {
		t.Fatalf("MatMulPath with one row = %v, kp512IQ4XSVecOn = %v", one, kp512IQ4XSVecOn())
	}
	if vnni := vnniIQ4XSOn() && !kp512IQ4XSOn(); vnni != (path.Kernel == tile("vnniIQ4XSTile", 16, vnniIQ4XSC, "(packed)")) {
		t.Fatalf("MatMulPath with several rows = %v, AVX-VNNI tiles serving = %v", path, vnni)
	}
	if vnni, one := vnniIQ4XSVecOn() && !kp512IQ4XSVecOn(), MatMulPath(tensor.IQ4_XS, packs(tensor.IQ4_XS), 1); vnni != (one.Kernel == "vnniIQ4XSVec8 (packed)") {
		t.Fatalf("MatMulPath with one row = %v, vnniIQ4XSVec8 serving = %v", one, vnni)
	}
	for _, k := range []int{256, 512, 768, 2304} {
		for _, n := range []int{7, 17, 24, 72} {
			w := randBlocks(rng, tensor.IQ4_XS, n, k)
			pw := *w
			if packs(tensor.IQ4_XS) && (p.Pack([]*tensor.Tensor{&pw}) == 0 || pw.Packed == nil) {
				t.Fatalf("n=%d k=%d: Pack did not lay out the matrix", n, k)
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
				if err := p.MatMul(got, x[i0*k:(i0+m)*k], m, &pw); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != one[i0*n+i] {
						t.Fatalf("n=%d k=%d m=%d: row %d output %d = %g, alone %g", n, k, m, i/n, i%n, got[i], one[i0*n+i])
					}
				}
			}
		}
	}
}

// TestKP512IQ4XSTiles checks every assembly tile kp512IQ4XSTile1..12 and vnniIQ4XSTile1..7
// (where the CPU has them) against their plain Go twin, bit for bit, on random buffers in kp512IQ4XSUnpack2's format (every table value,
// the extremes -127 and 113 in whole half-blocks, scales of both signs) and activations (-127..127, whole blocks of
// ±127), for 1 to 17 blocks, outputs starting from random values, with a row stride past
// the 16 outputs.
func TestKP512IQ4XSTiles(t *testing.T) {
	if kp512IQ4XSTiles == nil && vnniIQ4XSTiles == nil {
		t.Log("no AVX-512 VNNI or AVX-VNNI tiles on this CPU (or -tags purego): only the plain tiles run (TestKP512IQ4XSGo)")
		return
	}
	rng := rand.New(rand.NewPCG(95, 96))
	le := binary.LittleEndian
	for _, nb := range []int{1, 3, 8, 17} {
		buf := make([]byte, nb*kp512IQ4XSBlock)
		for blk := 0; blk < nb; blk++ {
			o := buf[blk*kp512IQ4XSBlock:]
			for e := 0; e < 512; e++ {
				v := iq4NLValues[rng.IntN(16)]
				switch (blk + e/256) % 5 {
				case 1:
					v = -127
				case 2:
					v = 113
				}
				o[e] = byte(v + 128)
			}
			for r := 0; r < 16; r++ {
				le.PutUint32(o[512+4*r:], math.Float32bits(float32(rng.IntN(64)-32)*rng.Float32()*1e-3))
			}
		}
		for c := 1; c < max(len(kp512IQ4XSTiles), len(vnniIQ4XSTiles)); c++ {
			x := make([]byte, nb*c*kp512Q4KRow)
			for blk := 0; blk < nb*c; blk++ {
				o := x[blk*kp512Q4KRow:]
				var s int32
				for e := 0; e < 32; e++ {
					v := int8(rng.IntN(255) - 127)
					switch blk % 4 {
					case 1:
						v = 127
					case 2:
						v = -127
					}
					o[e] = byte(v)
					s += int32(v)
				}
				le.PutUint32(o[32:], math.Float32bits(rng.Float32()*0.05))
				le.PutUint32(o[36:], math.Float32bits(float32(-128*s)))
			}
			const os = 21
			want := make([]float32, c*os)
			for i := range want {
				want[i] = rng.Float32()*2 - 1
			}
			start := append([]float32(nil), want...)
			kp512IQ4XSTileGo(c, buf, nil, x, nb, want, os)
			for _, tiles := range [][]kp512TileFn{kp512IQ4XSTiles, vnniIQ4XSTiles} {
				if c >= len(tiles) {
					continue
				}
				got := append([]float32(nil), start...)
				tiles[c](&buf[0], nil, &x[0], nb, &got[0], 4*os)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("nb=%d %s: output %d (row %d, weight row %d) = %g, the Go twin %g", nb, funcName(tiles[c]), i, i/os, i%os, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestKP512IQ4XSVec checks kp512IQ4XSVec8 and vnniIQ4XSVec8 (one activation row, where the
// CPU has them) bit for bit against the
// AVX2 one-row kernel dotIQ4XSP_vec8 and, from zero, against the plain Go twin
// iq4XSPRef, on random packed groups of 1 to 9 super-blocks (a short last group among
// them), outputs starting from random values, and on weights all -127 or all 113 against
// activations all ±127.
func TestKP512IQ4XSVec(t *testing.T) {
	for _, vec := range []func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32){kp512IQ4XSVec, vnniIQ4XSVec} {
		if vec == nil || iq4XSPVec == nil {
			t.Log("a one-row kernel (kp512IQ4XSVec8, vnniIQ4XSVec8) is not on this CPU (or -tags purego)")
			continue
		}
		checkIQ4XSVec(t, vec)
	}
}

// checkIQ4XSVec is TestKP512IQ4XSVec for the one-row kernel vec.
func checkIQ4XSVec(t *testing.T, vec func(w *byte, xq *int8, xd *float32, xs *float32, nsb int, out *float32)) {
	rng := rand.New(rand.NewPCG(97, 98))
	for _, k := range []int{256, 512, 1280, 2304} {
		for _, n := range []int{5, 8} {
			for trial := 0; trial < 3; trial++ {
				w := randBlocks(rng, tensor.IQ4_XS, n, k)
				if trial == 2 { // the extremes: every index 0 (-127) or 15 (113)
					for b := 0; b < len(w.Data)/136; b++ {
						q := byte(0x00)
						if b%2 == 1 {
							q = 0xff
						}
						for i := 8; i < 136; i++ {
							w.Data[136*b+i] = q
						}
					}
				}
				packed := packIQ4XSRef(w)
				x := randVec(rng, k)
				if trial == 2 {
					for i := range x {
						x[i] = float32(1 - 2*(i/32%2))
					}
				}
				xq, xd, _ := quantRef(x, 1, k)
				s := &quantScratch{q: xq}
				xs := iq4XSOffsets(s, k/32)
				ref := make([]float32, n)
				iq4XSPRef(ref, xq, xd, 1, n, k, packed)
				var got [8]float32
				vec(&packed[0], &xq[0], &xd[0], &xs[0], k/256, &got[0])
				for j := 0; j < n; j++ {
					if got[j] != ref[j] {
						t.Fatalf("%s k=%d n=%d trial %d: row %d = %g, the plain Go twin %g", funcName(vec), k, n, trial, j, got[j], ref[j])
					}
				}
				var a, b [8]float32
				for j := range a {
					a[j] = rng.Float32()*2 - 1
					b[j] = a[j]
				}
				vec(&packed[0], &xq[0], &xd[0], &xs[0], k/256, &a[0])
				iq4XSPVec(&packed[0], &xq[0], &xd[0], k/256, &b[0])
				if a != b {
					t.Fatalf("%s k=%d n=%d trial %d: from random outputs %v, dotIQ4XSP_vec8 %v", funcName(vec), k, n, trial, a, b)
				}
			}
		}
	}
}
