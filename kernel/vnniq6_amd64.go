//go:build !purego

package kernel

// The AVX-VNNI tiles of vnniq6.go need AVX2, FMA, F16C and AVX-VNNI (avxVNNI); kp512Rows
// fetches each next piece with kp512Prefetch512 (PREFETCHT0, any x86-64 CPU) for them as
// for the AVX-512 tiles.
func init() {
	if !avxVNNI {
		return
	}
	kp512Prefetch = kp512Prefetch512
	vnniQ6KTiles = []kp512TileFn{nil, vnniQ6KTile1, vnniQ6KTile2, vnniQ6KTile3}
}
