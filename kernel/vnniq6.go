package kernel

// Q6_K's block format on AVX-VNNI (issue 16): CPUs with AVX2 and AVX-VNNI but no AVX-512
// VNNI (Intel Alder Lake and later client cores; AMD Zen 5 with AVX-512 off) multiply
// packed Q6_K, packed Q3_K and IQ2_XS weights with several activation rows by the
// vnniQ6KTile tiles (vnniq6_amd64.s, internal/asmgenvnni/q6k.go): the ymm version of
// kp512Q6KTile, with its arguments and the same drivers, activation layout and twin. The
// weights are unpacked into the q6KPBlock format by the AVX2 unpackers (q6KPUnpackAVX,
// q3KPUnpackAVX, iq2XSUnpackAVX2), 16 rows at a time (8 at a, 8 at b), and multiplied
// with vnniQ6KC activation rows a call laid out by kp512PrepX (kp512Rows for the packed
// groups, kp512PieceRows for IQ2_XS's decoded pieces). Per block of 32, row and
// activation row, two half sums each start at -32·Σx of their 16 activations (-64·Σx for
// IQ2_XS: iq2XSPrep) and take 4 VPDPBUSD (VEX), are multiplied by their scales
// (VPMULLD) and added, all exact in int32, and then
//
//	acc = float32(sc_lo·S_lo + sc_hi·S_hi)·(d·dx) + acc      (d·dx rounded, fused)
//
// as kp512Q6KTileGo, the AVX-512 tiles and each type's one-row kernel (dotQ6KP_vec8,
// dotQ3KP_vec8, dotIQ2XSP_vec8) compute it: a row's results are the same bits for every m
// and on AVX2, AVX-VNNI and AVX-512 VNNI CPUs. One activation row keeps those one-row
// kernels.
//
// The tile: 16 weight rows × C activation rows need 4C int32 sums, the two weight vectors
// (a and b) and the broadcast activation bytes in the 16 ymm registers, so C ≤ 3; the
// float accumulators stay in out (one fused multiply-add from memory and a store per
// block). Each broadcast of 4 activation bytes serves 2 VPDPBUSD (the two groups), each
// weight vector C. C = 3 against 2 (BenchmarkVNNIQ6K, 5632×2048, cpu-GFLOP/s medians of
// 5, same session, load 6-7): IQ2_XS m=16 165 → 180, m=128 226 → 260; Q6_K m=16 203 →
// 217, m=128 239 → 258.
//
// Where they replace: Q6_K and Q3_K the AVX2 dotQ6KPS 8×4 tiles (int16 half sums, 2
// VPMADDUBSW and 2 VPMADDWD a half block), IQ2_XS the dotIQ2XSP 8×C tiles (VPMADDUBSW and
// VPMADDWD for every 4 bytes). No one-row kernel: with one activation row VPDPBUSD would
// replace each VPMADDUBSW, but the half scales then take a VPMULLD where VPMADDWD applies
// them now, so dotIQ2XSP_vec8, dotQ6KP_vec8 and dotQ3KP_vec8 stay (not measured).
//
// Measured (BenchmarkVNNIQ6K, GODEBUG=cpu.avx512f=off, -cpu 1 -count 5 -benchtime 5x, one
// thread, medians of cpu-GFLOP/s from the thread's CPU time; Zen 5 shared by several
// processes, load about 6 on 2 vCPUs: rough), the AVX2 tiles (this path switched off in
// the same run) → these tiles, and packed Q4_0 on its AVX2 tiles (dotQ4I 8×2):
//
//	              IQ2_XS m=16   m=128       Q6_K m=16    m=128       Q3_K m=16    m=128       Q4_0 m=16  m=128
//	5632×2048     139 → 176     170 → 259   170 → 208    198 → 255   172 → 227    193 → 263   180        201
//	2048×5632     134 → 162     164 → 246   163 → 208    184 → 247   154 → 212    185 → 253   159        184
//
// End to end (decilm bench, 1b preset, --threads 2, load 5-7 on the 2 vCPUs: wall t/s
// very rough), the process's user CPU seconds (/usr/bin/time; loading alone: IQ2_XS 0.13,
// Q6_K 0.87, Q3_K_M 0.62, Q4_0 0.76), GODEBUG=cpu.avx512f=off (these tiles) /
// cpu.avx512f=off,cpu.avxvnni=off (the AVX2 tiles) / Q4_0, one after the other: pp128
// three times (-p 128 -n 0 -r 3) IQ2_XS 5.06 / 7.04 / 6.26, Q6_K 5.09 / 6.65 / 6.53,
// Q3_K_M 6.01 / 6.77 / 6.62; 16 sequences (-p 0 -n 32 -b 16 -r 1, before iq2XSFetching)
// IQ2_XS 11.33 / 12.74 / 8.98, Q6_K 8.97 / 10.44 / 9.74, Q3_K_M 9.14 / 11.85 / 10.06. So
// IQ2_XS prefill takes 0.81× Q4_0's CPU time (1.12× before) and its batches 1.26× (1.42×
// before). In the IQ2_XS 16-sequence profile the tiles take 37%, iq2XSUnpackAVX2 20-23%,
// dotIQ2XSP_vec8 17% (the one-row steps), the Q5_K output tiles and Q2_K's 1×4 about 9%.
//
// Again after merging main's AVX-VNNI Q4_K/Q5_K and IQ4_XS tiles (which the IQ2_XS model's
// attn_v and output take too; load about 4, two rounds alternating), decilm bench wall
// t/s, AVX-VNNI / Q4_0 / AVX2 only (cpu.avxvnni=off): pp128 (-p 128 -n 0 -r 3) 109.3 /
// 91.9 / 78.5 and 111.2 / 88.7 / 66.8, user CPU s 4.86 / 6.23 / 6.85 and 4.89 / 6.42 /
// 7.53; 16 sequences (-p 0 -n 32 -b 16 -r 1) 67.4 / 58.4 / 49.8 and 61.2 / 59.0 / 49.3
// t/s, user CPU s 9.51 / 10.15 / 12.93 and 11.16 / 10.58 / 12.09. So IQ2_XS now runs
// prefill at 1.19-1.25× Q4_0's speed (0.75-0.85× before) and 16 sequences at 1.04-1.15×
// (0.84-0.85×), on this loaded machine: rough.

// vnniQ6KC is the most activation rows a vnniQ6KTile takes.
const vnniQ6KC = 3

// vnniQ6KTiles are the AVX-VNNI tiles, [c] for c activation rows (nil where the CPU lacks
// AVX2, FMA, F16C or AVX-VNNI, and under purego; vnniq6_amd64.go).
var vnniQ6KTiles []kp512TileFn

// vnniQ6KOn reports whether the AVX-VNNI tiles serve packed Q6_K weights with several
// activation rows: the packed AVX2 kernels serve Q6_K and the AVX-512 tiles do not.
func vnniQ6KOn() bool { return vnniQ6KTiles != nil && q6KPackedOn() && !kp512On(true) }

// vnniQ3KOn reports whether the AVX-VNNI tiles serve packed Q3_K weights with several
// activation rows.
func vnniQ3KOn() bool { return vnniQ6KTiles != nil && q3KPackedOn() && !kp512Q3KOn() }

// vnniIQ2XSOn reports whether the AVX-VNNI tiles serve IQ2_XS weights with several
// activation rows: IQ2_XS takes the AVX2 path (iq2XSAVX2On), whose unpacker they read.
func vnniIQ2XSOn() bool { return vnniQ6KTiles != nil && iq2XSAVX2On() }

// matMulQ6KTiles multiplies m > 1 activation rows quantized in s with the n weight rows
// of w, packed in groups of 8 (gsb bytes a super-block of a group) that unpack turns into
// the q6KPBlock format, on tiles (C activation rows a call, kp512Q6KRow activation bytes
// per row and block): packed Q6_K and Q3_K on the AVX-512 VNNI tiles or the AVX-VNNI ones.
func (p *Pool) matMulQ6KTiles(out []float32, s *quantScratch, m, n, k int, w []byte, gsb int, unpack func(dst, w *byte, nsb int), tiles []kp512TileFn, C int) {
	nb := k / 32
	xpp := kp512XPool.Get().(*[]byte)
	defer kp512XPool.Put(xpp)
	xp := kp512Buf(xpp, m*nb*kp512Q6KRow)
	p.kp512Prep(xp, s.q, s.d, nil, m, nb, C)
	p.kp512Rows(out, m, n, k, w, gsb, unpack, q6KPBlock, xp, kp512Q6KRow, C, tiles)
}

// iq2XSFetching returns unpack that first fetches the rows' next piece into the cache
// (kp512PieceRows' order: the same rows' next kp512KB super-blocks, or past the rows' end
// the first piece of the rows 16 on), as the VBMI unpacker of the AVX-512 path does. The
// 16-sequence run of the 1b IQ2_XS model (decilm bench -p 0 -n 32 -b 16,
// GODEBUG=cpu.avx512f=off, pprof, two alternating pairs, load 5-7: rough) spent 2.52 and
// 2.95 s in iq2XSUnpackAVX2 and these fetches against 2.75 and 3.24 s in it without them.
func iq2XSFetching(unpack func(dst, data []byte, rs, j, rows, s0, sc int)) func(dst, data []byte, rs, j, rows, s0, sc int) {
	if kp512Prefetch == nil {
		return unpack
	}
	return func(dst, data []byte, rs, j, rows, s0, sc int) {
		ns, nj := s0+sc, j
		if ns*74 >= rs {
			ns, nj = 0, j+16
		}
		for r, n := 0, len(data)/rs; r < 8 && nj+r < n; r++ {
			kp512Prefetch(&data[(nj+r)*rs+ns*74], (min(sc*74, rs-ns*74)+126)/64)
		}
		unpack(dst, data, rs, j, rows, s0, sc)
	}
}
