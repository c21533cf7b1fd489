package tensor

import "testing"

// FuzzDecodeRow decodes arbitrary bytes as any type, and unpacks them where the type has
// an Unpacker: every input gives values or an error, never a panic.
func FuzzDecodeRow(f *testing.F) {
	f.Add(uint8(IQ2_XS), 256, make([]byte, 74))
	f.Add(uint8(Q5_0), 64, []byte("0123456789012345678901234567890123456789012345"))
	f.Add(uint8(TQ1_0), 256, make([]byte, 60))
	f.Fuzz(func(t *testing.T, typ uint8, n int, src []byte) {
		d := DType(typ)
		if n < 0 || n > 1<<12 {
			return
		}
		dst := make([]float32, n)
		err := DecodeRow(dst, src, d)
		if err != nil || !d.Valid() {
			return
		}
		if u := Unpacker(d); u != nil {
			bs, bb := d.BlockSize(), d.BlockBytes()
			q, sc, mn := make([]int8, bs), make([]float32, bs/16), make([]float32, bs/16)
			for b := 0; b < n/bs; b++ {
				u(q, sc, mn, src[b*bb:(b+1)*bb])
			}
		}
	})
}
