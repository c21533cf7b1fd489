package tensor

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDecodeMatchesGGML decodes blocks written by llama.cpp's llama-quantize (and, for
// Q8_K, its quantize_row_q8_K_ref) and compares every value, bit for bit, with what
// llama.cpp's own dequantize_row_* made of the same bytes (testdata/ggml/README.md).
func TestDecodeMatchesGGML(t *testing.T) {
	files, err := filepath.Glob("testdata/ggml/*.q")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[DType]bool{}
	for _, qf := range files {
		name := strings.TrimSuffix(filepath.Base(qf), ".q")
		t.Run(name, func(t *testing.T) {
			d, err := ParseDType(name)
			if err != nil {
				t.Fatal(err)
			}
			seen[d] = true
			q, err := os.ReadFile(qf)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.ReadFile(strings.TrimSuffix(qf, ".q") + ".f32")
			if err != nil {
				t.Fatal(err)
			}
			n := len(f) / 4
			if rb, err := d.RowBytes(n); err != nil || rb != len(q) {
				t.Fatalf("%d values of %s take %d bytes (%v); the dump has %d", n, d, rb, err, len(q))
			}
			got := make([]float32, n)
			if err := DecodeRow(got, q, d); err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range got {
				want := binary.LittleEndian.Uint32(f[4*i:])
				if math.Float32bits(got[i]) != want {
					if bad < 5 {
						t.Errorf("value %d: got %g (%#08x), llama.cpp %g (%#08x)", i, got[i], math.Float32bits(got[i]), math.Float32frombits(want), want)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d values differ", bad, n)
			}
		})
	}
	for d := DType(0); d < nDTypes; d++ {
		if d.Quantized() && !seen[d] {
			t.Errorf("no llama.cpp reference for %s in testdata/ggml", d)
		}
	}
}

// TestDecodeAnyBytes decodes random bytes of every block type: every bit pattern is a
// valid block (the grid indices cannot leave their tables), so nothing may panic.
func TestDecodeAnyBytes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for d := DType(0); d < nDTypes; d++ {
		if !d.Quantized() {
			continue
		}
		n := 3 * d.BlockSize()
		src := make([]byte, 3*d.BlockBytes())
		dst := make([]float32, n)
		for it := 0; it < 200; it++ {
			r.Read(src)
			if err := DecodeRow(dst, src, d); err != nil {
				t.Fatalf("%s: %v", d, err)
			}
		}
		if err := DecodeRow(dst, src[:len(src)-1], d); err == nil {
			t.Errorf("%s: a short source decoded without error", d)
		}
	}
}

// TestUnpackerMatchesDecode checks that sc·q + mn of every unpacked group equals what
// DecodeRow gives (exactly; for IQ1_S and IQ1_M, whose scale is applied in another order,
// within one float32 rounding), on random blocks and on llama.cpp's.
func TestUnpackerMatchesDecode(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for d := DType(0); d < nDTypes; d++ {
		f := Unpacker(d)
		if f == nil {
			continue
		}
		bs := d.BlockSize()
		blk := make([]byte, d.BlockBytes())
		q, sc, mn := make([]int8, bs), make([]float32, bs/16), make([]float32, bs/16)
		dec := make([]float32, bs)
		for it := 0; it < 300; it++ {
			r.Read(blk)
			f(q, sc, mn, blk)
			if err := DecodeRow(dec, blk, d); err != nil {
				t.Fatal(err)
			}
			for i, want := range dec {
				got := sc[i/16]*float32(q[i]) + mn[i/16]
				if got == want || (math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					continue
				}
				if (d == IQ1_S || d == IQ1_M) && math.Abs(float64(got-want)) <= 1.2e-7*math.Abs(float64(want)) {
					continue
				}
				if math.IsInf(float64(want), 0) || math.IsNaN(float64(want)) {
					continue // an infinite scale: the order of operations decides inf against NaN
				}
				t.Fatalf("%s: value %d: unpacked %g·%d + %g = %g, decoded %g", d, i, sc[i/16], q[i], mn[i/16], got, want)
			}
		}
	}
}
