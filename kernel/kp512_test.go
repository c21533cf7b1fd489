package kernel

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/decilm/decilm/tensor"
)

// kp512GoTiles returns the plain Go tiles (kp512Q4KTileGo or kp512Q6KTileGo) as
// kp512TileFn values for kp512Rows, and the plain unpacker.
func kp512GoTiles(q6 bool) ([]kp512TileFn, func(dst, grp *byte, sc int)) {
	bs, xr, tile, unpack, gsb := q4KPBlock, kp512Q4KRow, kp512Q4KTileGo, q4KPUnpackGo, q4KPSB
	if q6 {
		bs, xr, tile, unpack, gsb = q6KPBlock, kp512Q6KRow, kp512Q6KTileGo, q6KPUnpackGo, q6KPSB
	}
	tiles := make([]kp512TileFn, kp512MaxC+1)
	for c := 1; c <= kp512MaxC; c++ {
		tiles[c] = func(a, b *byte, x *byte, nb int, out *float32, os int) {
			tile(c, unsafe.Slice(a, nb*bs), unsafe.Slice(b, nb*bs), unsafe.Slice(x, nb*c*xr), nb,
				unsafe.Slice(out, (c-1)*os/4+16), os/4)
		}
	}
	return tiles, func(dst, grp *byte, sc int) {
		unpack(unsafe.Slice(dst, 8*sc*bs), unsafe.Slice(grp, sc*gsb), sc)
	}
}

// kp512MatMulGo is matMulQ4KP512 or matMulQ6KTiles on the plain Go unpackers and tiles.
func (p *Pool) kp512MatMulGo(dt tensor.DType, out, x []float32, m, n, k int, w []byte) {
	s := new(quantScratch)
	p.quantizeRows(s, x, m, k)
	nb := k / 32
	q6 := dt == tensor.Q6_K
	tiles, unpack := kp512GoTiles(q6)
	if q6 {
		xp := make([]byte, m*nb*kp512Q6KRow)
		p.kp512Prep(xp, s.q, s.d, nil, m, nb, kp512Q6KC)
		p.kp512Rows(out, m, n, k, w, q6KPSB, unpack, q6KPBlock, xp, kp512Q6KRow, kp512Q6KC, tiles)
		return
	}
	xp := make([]byte, m*nb*kp512Q4KRow)
	p.kp512Prep(xp, s.q, s.d, q4KSums(s, m*nb), m, nb, kp512Q4KC)
	p.kp512Rows(out, m, n, k, w, q4KPSB, unpack, q4KPBlock, xp, kp512Q4KRow, kp512Q4KC, tiles)
}

// TestKP512Go checks the kp512 driver (kp512Rows, kp512PrepX) with the plain Go
// unpackers and tiles, on every CPU, on ragged shapes (n not a multiple of 8 or 16, k of
// one to nine super-blocks, past one kp512KB piece, m past one mBlockQuant block and not
// a multiple of C; odd m in kp512Rows's piece-major order, even m pair-major): against the plain Go twin of the packed kernels (q4KPRef, q6KPRef),
// and, where the CPU has the one-row kernels (dotQ4KP_vec8, dotQ6KP_vec8), bit for bit
// against them row by row.
func TestKP512Go(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		for _, k := range []int{256, 512, 1280, 2304} {
			for _, n := range []int{1, 9, 16, 40} {
				w, dec := randWeight(t, rng, dt, n, k)
				packed := packKRef(w)
				for _, m := range []int{2, 7, 17, 130} {
					if m == 130 && (k > 512 || n > 16) {
						continue // bounded run time: the Go tiles are slow
					}
					x := randVec(rng, m*k)
					got := make([]float32, m*n)
					for i := range got {
						got[i] = 1e30 // kp512Rows overwrites out
					}
					if m%2 == 1 { // kp512Rows's other order: piece-major
						old := kp512XRowsMax
						kp512XRowsMax = 0
						p.kp512MatMulGo(dt, got, x, m, n, k, packed)
						kp512XRowsMax = old
					} else {
						p.kp512MatMulGo(dt, got, x, m, n, k, packed)
					}
					xq, xd, deq := quantRef(x, m, k)
					ref := make([]float32, m*n)
					kpRef(dt, ref, xq, xd, m, n, k, packed)
					name := fmt.Sprintf("%s n=%d k=%d m=%d", dt, n, k, m)
					checkClose(t, name+" Go tiles against the plain Go twin", got, ref, quantScale(t, w, deq, dec, m), 1e-5)
					if q4KPVec == nil {
						continue
					}
					for i := 0; i < m; i++ {
						one := make([]float32, n)
						p.matMulKPacked(dt, one, x[i*k:(i+1)*k], 1, n, k, packed)
						for j := range one {
							if got[i*n+j] != one[j] {
								t.Fatalf("%s: Go tiles row %d output %d = %g, the one-row kernel %g", name, i, j, got[i*n+j], one[j])
							}
						}
					}
				}
			}
		}
	}
}

// TestKP512RowInvariance checks MatMul on packed Q4_K and Q6_K tensors: each row of a
// product with m activation rows (the kp512 tiles where kp512On holds, the AVX2 tiles
// elsewhere) has the bits of the same row alone (the one-row kernels), for m = 2, 3, 7,
// 16, 17 and 130 and n not a multiple of 16; and MatMulPath names the kp512 tiles where
// they serve.
func TestKP512RowInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	p := NewPool(2)
	defer p.Close()
	for _, dt := range []tensor.DType{tensor.Q4_K, tensor.Q6_K} {
		if !packs(dt) {
			if useAsm && kp512On(dt == tensor.Q6_K) {
				t.Fatalf("%s: kp512 tiles on without packing", dt)
			}
			continue
		}
		path := MatMulPath(dt, true, 2)
		if kp512On(dt == tensor.Q6_K) != (path.ISA == "AVX-512 VNNI") {
			t.Fatalf("%s: MatMulPath with several rows = %v, kp512On = %v", dt, path, kp512On(dt == tensor.Q6_K))
		}
		for _, k := range []int{256, 512, 768, 2304} {
			for _, n := range []int{7, 17, 24, 72} {
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
					if m == 17 { // kp512Rows's other order: piece-major
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

// TestSum16 checks kp512PrepX's sum16 against a plain sum on random and extreme values
// (all -128, all 127, alternating).
func TestSum16(t *testing.T) {
	rng := rand.New(rand.NewPCG(89, 90))
	for i := 0; i < 1000; i++ {
		var b [16]byte
		for j := range b {
			switch i {
			case 0:
				b[j] = 0x80
			case 1:
				b[j] = 0x7f
			case 2:
				b[j] = byte(0x7f + j%2)
			default:
				b[j] = byte(rng.Uint32())
			}
		}
		var want int32
		for _, v := range b {
			want += int32(int8(v))
		}
		if got := sum16(b[:]); got != want {
			t.Fatalf("sum16(%v) = %d, want %d", b, got, want)
		}
	}
}
