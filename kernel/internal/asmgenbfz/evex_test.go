package main

import (
	"bytes"
	"testing"
)

// TestEVEX: the encoder gives the bytes GNU as (binutils 2.x, `as --64`, read back with
// objdump -d) writes for the same instructions, with registers from every bank of 8.
func TestEVEX(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"vdpbf16ps zmm1, zmm2, zmm3", vdpbf16ps(1, 2, 3), []byte{0x62, 0xf2, 0x6e, 0x48, 0x52, 0xcb}},
		{"vdpbf16ps zmm0, zmm17, zmm31", vdpbf16ps(0, 17, 31), []byte{0x62, 0x92, 0x76, 0x40, 0x52, 0xc7}},
		{"vdpbf16ps zmm13, zmm24, zmm8", vdpbf16ps(13, 24, 8), []byte{0x62, 0x52, 0x3e, 0x40, 0x52, 0xe8}},
		{"vdpbf16ps zmm30, zmm0, zmm0", vdpbf16ps(30, 0, 0), []byte{0x62, 0x62, 0x7e, 0x48, 0x52, 0xf0}},
		{"vfmadd231ps zmm1, zmm2, zmm3", vfmadd231ps(1, 2, 3), []byte{0x62, 0xf2, 0x6d, 0x48, 0xb8, 0xcb}},
		{"vfmadd231ps zmm18, zmm9, zmm25", vfmadd231ps(18, 9, 25), []byte{0x62, 0x82, 0x35, 0x48, 0xb8, 0xd1}},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s: % x, want % x", c.name, c.got, c.want)
		}
	}
}
