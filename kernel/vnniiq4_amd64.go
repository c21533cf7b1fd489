//go:build !purego

package kernel

// The AVX-VNNI IQ4_XS kernels of vnniiq4.go are set where the CPU has AVX-VNNI (avxVNNI),
// whatever else it has; kp512iq4.go's kernels serve first where they are set.
func init() {
	if !avxVNNI {
		return
	}
	vnniIQ4XSUnpack = vnniIQ4XSUnpack2
	vnniIQ4XSVec = vnniIQ4XSVec8
	vnniIQ4XSTiles = []kp512TileFn{nil, vnniIQ4XSTile1, vnniIQ4XSTile2, vnniIQ4XSTile3}
}
