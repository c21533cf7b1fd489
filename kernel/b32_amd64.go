//go:build !purego

package kernel

//go:generate go run ./internal/asmgenb32 -out b32_amd64.s -stubs b32_stubs_amd64.go -pkg kernel

import "golang.org/x/sys/cpu"

// The tiles of b32.go need AVX-512 F, BW (VPSHUFB, VPMOVDW on zmm), VL and VNNI
// (VPDPBUSD); CPUs with AVX-512 but not VNNI keep the AVX2 fused kernels and their order.
func init() {
	x := &cpu.X86
	if !(x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI) {
		return
	}
	b32Tiles[0] = []b32TileFn{nil, b32Q41Tile1, b32Q41Tile2, b32Q41Tile3, b32Q41Tile4, b32Q41Tile5, b32Q41Tile6, b32Q41Tile7, b32Q41Tile8, b32Q41Tile9, b32Q41Tile10, b32Q41Tile11, b32Q41Tile12, b32Q41Tile13, b32Q41Tile14, b32Q41Tile15, b32Q41Tile16}
	b32Tiles[1] = []b32TileFn{nil, b32Q50Tile1, b32Q50Tile2, b32Q50Tile3, b32Q50Tile4, b32Q50Tile5, b32Q50Tile6, b32Q50Tile7, b32Q50Tile8, b32Q50Tile9, b32Q50Tile10, b32Q50Tile11, b32Q50Tile12, b32Q50Tile13, b32Q50Tile14, b32Q50Tile15, b32Q50Tile16}
	b32Tiles[2] = []b32TileFn{nil, b32Q51Tile1, b32Q51Tile2, b32Q51Tile3, b32Q51Tile4, b32Q51Tile5, b32Q51Tile6, b32Q51Tile7, b32Q51Tile8, b32Q51Tile9, b32Q51Tile10, b32Q51Tile11, b32Q51Tile12, b32Q51Tile13, b32Q51Tile14, b32Q51Tile15, b32Q51Tile16}
	b32Tiles[3] = []b32TileFn{nil, b32IQ4NLTile1, b32IQ4NLTile2, b32IQ4NLTile3, b32IQ4NLTile4, b32IQ4NLTile5, b32IQ4NLTile6, b32IQ4NLTile7, b32IQ4NLTile8, b32IQ4NLTile9, b32IQ4NLTile10, b32IQ4NLTile11, b32IQ4NLTile12, b32IQ4NLTile13, b32IQ4NLTile14, b32IQ4NLTile15, b32IQ4NLTile16}
}
