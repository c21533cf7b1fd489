//go:build !purego

package kernel

//go:generate go run ./internal/asmgenkp512 -out kp512_amd64.s -stubs kp512_stubs_amd64.go -pkg kernel

import "golang.org/x/sys/cpu"

// The AVX-512 VNNI tiles of kp512.go serve packed Q4_K and Q6_K weights with several
// activation rows where the CPU has AVX-512 F, BW, VL and VNNI (and the AVX2 unpackers).
func init() {
	x := &cpu.X86
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI) {
		return
	}
	kp512Prefetch = kp512Prefetch512
	kp512Q6KUnpack = kp512Q6KUnpack512
	kp512Q4KTiles = []kp512TileFn{nil, kp512Q4KTile1, kp512Q4KTile2, kp512Q4KTile3, kp512Q4KTile4, kp512Q4KTile5, kp512Q4KTile6,
		kp512Q4KTile7, kp512Q4KTile8, kp512Q4KTile9, kp512Q4KTile10, kp512Q4KTile11, kp512Q4KTile12}
	kp512Q6KTiles = []kp512TileFn{nil, kp512Q6KTile1, kp512Q6KTile2, kp512Q6KTile3, kp512Q6KTile4, kp512Q6KTile5, kp512Q6KTile6,
		kp512Q6KTile7, kp512Q6KTile8}
}
