//go:build !purego

package kernel

// The AVX-VNNI tiles of vnniq6.go need AVX2, FMA, F16C and AVX-VNNI (avxVNNI). kp512Rows
// and iq2XSFetching fetch each next piece for them with kp512Prefetch (kp512Prefetch512,
// PREFETCHT0 only), which vnniq4k_amd64.go sets where avxVNNI holds.
func init() {
	if !avxVNNI {
		return
	}
	vnniQ6KTiles = []kp512TileFn{nil, vnniQ6KTile1, vnniQ6KTile2, vnniQ6KTile3}
}
