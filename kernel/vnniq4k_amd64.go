//go:build !purego

package kernel

// The AVX-VNNI tiles of vnniq4k.go need AVX2, FMA, F16C and AVX-VNNI (avxVNNI). They
// also take kp512Rows's prefetch of each next piece (PREFETCHT0 only, any amd64 CPU).
func init() {
	if !avxVNNI {
		return
	}
	vnniQ4KTiles = []kp512TileFn{nil, vnniQ4KTile1, vnniQ4KTile2, vnniQ4KTile3}
	kp512Prefetch = kp512Prefetch512
}
