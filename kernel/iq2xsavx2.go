package kernel

import "github.com/decilm/decilm/tensor"

// IQ2_XS on AVX2-only CPUs (issue 16, item 2): every number of activation rows in the
// order of the VNNI path (iq2xs.go, dotIQ2XS32Generic), so a row's result is the same
// bits for any m and the same as on AVX-512 VNNI CPUs. 8 weight rows' pieces of
// kBlockQuant values are decoded once per mBlockQuant activation rows into the q6KPBlock
// format (iq2XSUnpackAVX2: u = w + 64, the half scales 2s+1, d/8; iq2XSUnpack8 is its
// plain twin) and multiplied with all of them by the dotIQ2XSP tiles, iq2XSPC activation
// rows a call (one for one row). The Q6_K AVX2 tiles (dotQ6KP) cannot take these blocks:
// they add two VPMADDUBSW results in int16, 2·2·107·127 > 32767 for IQ2_XS's u; the
// dotIQ2XSP tiles take each to VPMADDWD on its own and start each half block's sum at
// -64·(2s+1)·Σx (q6KSums, shifted by 6 instead of the Q6_K tiles' 5). Per block of 32
// and row, T exact in int32, then acc = float32(T)·(dx·d/8) + acc, one fused
// multiply-add: dotIQ2XS32Generic's arithmetic. One activation row takes dotIQ2XSP_vec8
// instead, 8 weight rows a call, which decodes in registers and sums in the same order.
//
// This replaces dotIQ2XSAVX (one row, its own order: eight float lanes per super-block,
// times d/8, summed at the end) and the 1×4 tiles of that order on CPUs with AVX2, FMA,
// F16C, BMI1 and BMI2 but not AVX-512 VNNI (AVX-512 F/BW/VL without VNNI included:
// dotIQ2XSAVX512 gave dotIQ2XSAVX's bits, so it is dropped with it).
//
// Why these kernels: the AVX2 Q6_K tiles (dotQ6KPS, as Q3_K takes them) would overflow (above);
// a one-row kernel that went through the decoded buffer and the 8×1 tile ran at 0.55 of
// dotIQ2XSAVX's speed (the unpacker alone costs what dotIQ2XSAVX does), so dotIQ2XSP_vec8
// decodes in registers, 8 rows a call so that the 8 rows' chains of fused multiply-adds
// share one vector. Steps, L2-resident, against dotIQ2XSAVX in the same runs: a store
// of each row's block vectors and the reduction across rows afterwards, the rows
// unrolled: 0.6 of its speed (a loop over the rows instead: no change); each row's 8 block
// vectors reduced by VPHADDD in registers, one store a row: 0.75 (VPUNPCK+VPADDD instead
// of VPHADDD: no change); the sign constants in registers instead of memory operands (the
// kernel waits on loads, 11 a block before): about 1.0. The unpacker took the loop over
// the rows and the constants in registers too (22 → 14 ns a row super-block).
//
// Measured (BenchmarkIQ2XSAVX2, GODEBUG=cpu.avx512f=off, -cpu 1 -count 5 -benchtime 20x,
// one thread, medians of cpu-GFLOP/s from the thread's CPU time; Zen 5 shared by several
// processes, load about 11 on 2 vCPUs: rough), this path / the kernels it replaces
// (dotIQ2XSAVX, the 1×C tiles), in the same run:
//
//	              m=1            m=16           m=128
//	5632×2048     40.4 / 40.5    131 / 72       158 / 70
//	2048×5632     38.0 / 39.0    126 / 74       157 / 71
//
// and Q4_0 on its AVX2 path in an earlier run of the same benchmark (load 11-12): m=16
// 165 and 150, m=128 187 and 175 (this path then: 114 and 126, 145 and 145). The
// unpacker alone (BenchmarkIQ2XSUnpack, L2-resident): 13.5-15.1 ns a row super-block
// (iq2XSUnpackAVX512 13-19 in the same run); dotIQ2XSP_vec8 alone on L2-resident 2048-wide
// rows 12.4-13.9 ns a row super-block, dotIQ2XSAVX 12.7-16.5.
//
// End to end (decilm bench, 1b-iq2_xs.gguf: IQ2_XS with attn_v Q4_K, two ffn_down Q2_K,
// output Q5_K; GODEBUG=cpu.avx512f=off, --threads 2, load 7-10 on the 2 vCPUs: wall t/s
// very rough), main / this path / 1b-q4_0.gguf, one after the other: pp128 (-p 128 -n 0
// -r 2) 14.8 / 41.8 / 69.1 t/s, the process's user CPU s 12.98 / 5.57 / 5.10; 16
// sequences (-p 0 -n 32 -b 16 -r 1) 16.1 / 27.4-28.0 / 41.4-46.4 t/s, user CPU 15.05
// against Q4_0's 11.87; tg32 (-p 0 -n 32 -r 3, three rounds alternating) main 11.7,
// 14.6, 10.9 and this path 16.1, 13.9, 9.4 t/s (user CPU 5.6-7.2 s both): no difference
// the load lets one see.

// iq2XSPC is the most activation rows a dotIQ2XSP tile takes.
const iq2XSPC = 4

// The AVX2 kernels of this path (iq2xsavx2_amd64.go; nil where the CPU lacks AVX2, FMA,
// F16C, BMI1 or BMI2, and under purego): the unpacker and the tiles by activation rows.
var (
	iq2XSUnpackAVX2Vec func(dst, w *byte, off *int64, nsb int, grid *uint64)
	iq2XSPTiles        [iq2XSPC + 1]q6KPTileFn
	// iq2XSPVec8 writes out[0..8) for 8 rows (row r at w+off[r]) and one activation
	// row in the tiles' order (dotIQ2XSP_vec8), prefetching pf bytes ahead of each row.
	iq2XSPVec8 func(w *byte, off *int64, xq *int8, xd *float32, nsb int, grid *uint64, out *float32, pf int)
)

// iq2XSAVX2On reports whether IQ2_XS takes this path: the AVX2 kernels are there and the
// VNNI path (iq2XSVNNIOn) is not.
func iq2XSAVX2On() bool { return iq2XSPTiles[1] != nil && !iq2XSVNNIOn() }

// iq2XSUnpack8AVX2 is iq2XSUnpack8 on iq2XSUnpackAVX2Vec, which always decodes 8 rows:
// lanes rows..7 get copies of row rows-1 (they are not read back).
func iq2XSUnpack8AVX2(dst, data []byte, rs, j, rows, s0, sc int) {
	var off [8]int64
	for r := range off {
		off[r] = int64(min(r, rows-1) * rs)
	}
	_ = dst[sc*8*q6KPBlock-1]
	_ = data[(j+rows-1)*rs+(s0+sc)*74-1]
	iq2XSUnpackAVX2Vec(&dst[0], &data[j*rs+s0*74], &off[0], sc, &tensor.IQ2XSGrid()[0])
}

// matMulIQ2XSAVX2 is MatMul for IQ2_XS weights (n rows of rs bytes, k values) on this
// path, on x quantized into s: the threads split the weight rows 8 at a time; each 8
// rows' pieces of kBlockQuant values, in order along the rows, are decoded by unpack
// (iq2XSUnpack8AVX2, or iq2XSUnpack8 in the tests) once per mBlockQuant activation rows
// and multiplied with all of them, iq2XSPC rows a tile call. The tiles add to out block
// after block, so each output sums its blocks in order across the pieces.
func (p *Pool) matMulIQ2XSAVX2(out []float32, s *quantScratch, m, n, k int, data []byte, rs int, unpack func(dst, data []byte, rs, j, rows, s0, sc int)) {
	nb, nsb := k/32, k/256
	xq, xd := s.q, s.d
	if m == 1 && iq2XSPVec8 != nil {
		grid := &tensor.IQ2XSGrid()[0]
		p.runGrain(n, 8, func(lo, hi int) {
			var off [8]int64
			for j := lo; j < hi; j += 8 {
				r := min(8, hi-j)
				for a := range off {
					off[a] = int64(min(a, r-1) * rs)
				}
				_ = data[(j+r)*rs-1]
				if r == 8 {
					iq2XSPVec8(&data[j*rs], &off[0], &xq[0], &xd[0], nsb, grid, &out[j], 8*rs)
					continue
				}
				var tmp [8]float32
				iq2XSPVec8(&data[j*rs], &off[0], &xq[0], &xd[0], nsb, grid, &tmp[0], 8*rs)
				copy(out[j:hi], tmp[:r])
			}
		})
		return
	}
	if vnniQ6KTiles != nil { // AVX-VNNI (vnniq6.go; the caller chose this AVX2 path), next piece fetched
		p.iq2XSTiles(out, s, m, n, k, data, rs, vnniQ6KTiles, vnniQ6KC, iq2XSFetching(unpack))
		return
	}
	xc := q6KSums(s, m*nb)
	const kb, C = kBlockQuant / 256, iq2XSPC
	p.runGrain(n, 8, func(lo, hi int) {
		bp := kpBufPool.Get().(*[kBlockQuant / 32 * q6KPBlock]byte)
		defer kpBufPool.Put(bp)
		buf := bp[:]
		var tmp [C * 8]float32
		for i0 := 0; i0 < m; i0 += mBlockQuant {
			i1 := min(m, i0+mBlockQuant)
			for i := i0; i < i1; i++ {
				clear(out[i*n+lo : i*n+hi])
			}
			for j := lo; j < hi; j += 8 {
				r := min(8, hi-j)
				for s0 := 0; s0 < nsb; s0 += kb {
					sc := min(kb, nsb-s0)
					unpack(buf, data, rs, j, r, s0, sc)
					for i := i0; i < i1; i += C {
						c := min(C, i1-i)
						tile := iq2XSPTiles[c]
						x, d, e := &xq[i*k+s0*256], &xd[i*nb+s0*8], &xc[i*nb+s0*8]
						if r == 8 {
							tile(&buf[0], x, k, d, 4*nb, e, 8*sc, &out[i*n+j], 4*n)
							continue
						}
						for a := 0; a < c; a++ {
							copy(tmp[8*a:8*a+r], out[(i+a)*n+j:(i+a)*n+hi])
						}
						tile(&buf[0], x, k, d, 4*nb, e, 8*sc, &tmp[0], 32)
						for a := 0; a < c; a++ {
							copy(out[(i+a)*n+j:(i+a)*n+hi], tmp[8*a:8*a+r])
						}
					}
				}
			}
		}
	})
}
