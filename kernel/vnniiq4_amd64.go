//go:build !purego

package kernel

// The AVX-VNNI IQ4_XS kernels of vnniiq4.go are set where the CPU has AVX-VNNI (avxVNNI),
// whatever else it has; kp512iq4.go's kernels serve first where they are set. The tiles
// take kp512RowsPair's prefetch of the next pair of groups (kp512Prefetch512, PREFETCHT0
// only), which vnniq4k_amd64.go sets where avxVNNI holds. Measured (matMulIQ4XSP512 on
// these tiles, -cpu 1 -count 5 -benchtime 20x, load 7-8, cpu-GFLOP/s medians) without →
// with it, two runs: 5632×2048 m=16 229 → 266 and 276 → 273, m=128 311 → 316 and 299 →
// 312; 2048×5632 m=16 259 → 268 and 248 → 256, m=128 300 → 305 and 287 → 294.
func init() {
	if !avxVNNI {
		return
	}
	vnniIQ4XSUnpack = vnniIQ4XSUnpack2
	vnniIQ4XSVec = vnniIQ4XSVec8
	vnniIQ4XSTiles = []kp512TileFn{nil, vnniIQ4XSTile1, vnniIQ4XSTile2, vnniIQ4XSTile3}
}
