//go:build !purego

package kernel

import "golang.org/x/sys/cpu"

// The AVX-512 VNNI IQ4_XS kernels of kp512iq4.go serve packed IQ4_XS weights (the tiles
// with several activation rows, kp512IQ4XSVec8 with one) where the CPU has AVX-512 F, BW,
// VL and VNNI.
func init() {
	x := &cpu.X86
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI) {
		return
	}
	kp512IQ4XSUnpack = kp512IQ4XSUnpack2
	kp512IQ4XSVec = kp512IQ4XSVec8
	kp512IQ4XSTiles = []kp512TileFn{nil, kp512IQ4XSTile1, kp512IQ4XSTile2, kp512IQ4XSTile3, kp512IQ4XSTile4, kp512IQ4XSTile5,
		kp512IQ4XSTile6, kp512IQ4XSTile7, kp512IQ4XSTile8, kp512IQ4XSTile9, kp512IQ4XSTile10, kp512IQ4XSTile11, kp512IQ4XSTile12}
}
