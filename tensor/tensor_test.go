package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// f16Ref: float32 bit patterns and their float16 conversion by numpy 1.24
// (np.float32(x).astype(np.float16)), round to nearest even with overflow to infinity.
var f16Ref = [][2]uint32{
	{0xb209c551, 0x8000},
	{0xb5b1c0a1, 0x8016},
	{0xb626ac34, 0x802a},
	{0x39dc6f34, 0x0ee3},
	{0x3f9169f9, 0x3c8b},
	{0x3f8c6c98, 0x3c63},
	{0xc40a296e, 0xe051},
	{0xc737eed2, 0xf9bf},
	{0x3200a230, 0x0000},
	{0x35db6ab8, 0x001b},
	{0x36370d52, 0x002e},
	{0xbaa1a7a5, 0x950d},
	{0xbf7550de, 0xbbab},
	{0x41800064, 0x4c00},
	{0x434ae1e8, 0x5a57},
	{0xc7cafc0c, 0xfc00},
	{0xb0660ff6, 0x8000},
	{0xb59c2024, 0x8014},
	{0xb6d32770, 0x806a},
	{0xb9ffdb08, 0x8fff},
	{0xbf369bb5, 0xb9b5},
	{0x40b114c4, 0x4589},
	{0xc27c5809, 0xd3e3},
	{0xc70a25e0, 0xf851},
	{0x318cc020, 0x0000},
	{0x355ec339, 0x000e},
	{0xb789d3a9, 0x8114},
	{0xb98699bc, 0x8c35},
	{0xbf7b1242, 0xbbd9},
	{0xbfdda381, 0xbeed},
	{0xc4a12d66, 0xe509},
	{0x449b2d8e, 0x64d9},
	{0xafd04771, 0x8000},
	{0xb4a363dd, 0x8005},
	{0xb72fd01a, 0x80b0},
	{0xb9cfb7c4, 0x8e7e},
	{0xbf8bb0aa, 0xbc5e},
	{0xc158d55a, 0xcac7},
	{0x4360c926, 0x5b06},
	{0xc7820080, 0xfc00},
	{0x477fe000, 0x7bff},
	{0x477ff000, 0x7c00},
	{0x477feffd, 0x7bff},
	{0x4e6e6b28, 0x7c00},
	{0xce6e6b28, 0xfc00},
	{0x337ffae5, 0x0001},
	{0x32fffae5, 0x0000},
	{0x33006b66, 0x0001},
	{0x00000000, 0x0000},
	{0x80000000, 0x8000},
	{0x3eaaaaab, 0x3555},
	{0x387fffd5, 0x0400},
	{0x387fda40, 0x03ff},
}

// bf16Ref: float32 bit patterns and their bfloat16 conversion by PyTorch 1.13
// (tensor.to(torch.bfloat16)), round to nearest even.
var bf16Ref = [][2]uint32{
	{0x0daae0b8, 0x0dab},
	{0x3ae8d928, 0x3ae9},
	{0xc0236922, 0xc023},
	{0xc309f70e, 0xc30a},
	{0x714cb811, 0x714d},
	{0x0ddb65c6, 0x0ddb},
	{0x3a2b62ff, 0x3a2b},
	{0x3fbfa18f, 0x3fc0},
	{0x4390fa92, 0x4391},
	{0x70dea7af, 0x70df},
	{0x0c6803c9, 0x0c68},
	{0xba8cc0b8, 0xba8d},
	{0xbf58bcad, 0xbf59},
	{0x43bdcac9, 0x43be},
	{0xf0ea56c7, 0xf0ea},
	{0x0dce522e, 0x0dce},
	{0x3aa9654c, 0x3aa9},
	{0x3fe63ea1, 0x3fe6},
	{0xc1d09738, 0xc1d1},
	{0x718bb80f, 0x718c},
	{0x8d92fb41, 0x8d93},
	{0xba55fdf4, 0xba56},
	{0x3da68237, 0x3da7},
	{0x438cb726, 0x438d},
	{0xf1a174e1, 0xf1a1},
	{0x8e0c69bc, 0x8e0c},
	{0x39ba29d1, 0x39ba},
	{0xbf5cb85c, 0xbf5d},
	{0x44970b6d, 0x4497},
	{0x709f5b1f, 0x709f},
	{0x7f7f0000, 0x7f7f},
	{0x3f800001, 0x3f80},
	{0x3f808000, 0x3f80},
	{0x3f810000, 0x3f81},
	{0x3f818000, 0x3f82},
	{0xc0200000, 0xc020},
}

func TestF32ToF16MatchesNumpy(t *testing.T) {
	for _, c := range f16Ref {
		f := math.Float32frombits(c[0])
		if got := F32ToF16(f); uint32(got) != c[1] {
			t.Errorf("F32ToF16(%g) = %#04x, numpy %#04x", f, got, c[1])
		}
	}
}

func TestF32ToBF16MatchesTorch(t *testing.T) {
	for _, c := range bf16Ref {
		f := math.Float32frombits(c[0])
		if got := F32ToBF16(f); uint32(got) != c[1] {
			t.Errorf("F32ToBF16(%g) = %#04x, torch %#04x", f, got, c[1])
		}
	}
}

// TestF16RoundTrip: every finite half converts to float32 and back unchanged, and the
// widening is exact (checked against the definition).
func TestF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		exp := (h >> 10) & 0x1f
		man := float64(h & 0x3ff)
		var want float64
		switch exp {
		case 0:
			want = man * math.Pow(2, -24)
		case 0x1f:
			continue // inf and NaN
		default:
			want = (1 + man/1024) * math.Pow(2, float64(exp-15))
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, f, want)
		}
		if back := F32ToF16(f); back != uint16(h) {
			t.Fatalf("round trip %#04x -> %g -> %#04x", h, f, back)
		}
	}
}

// TestQuantizeBounds: Q8_0 and Q4_0 round trips stay within half a quantization step of
// each block's scale, and the scale is the block's absolute maximum over 127 (q8_0) or its
// signed extreme over -8 (q4_0), as in ggml's reference quantizers.
func TestQuantizeBounds(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 32*17)
	for i := range x {
		x[i] = float32(rng.NormFloat64()) * float32(1+i%7)
	}
	for _, d := range []DType{Q8_0, Q4_0} {
		n, _ := d.RowBytes(len(x))
		buf := make([]byte, n)
		if err := EncodeRow(buf, x, d); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := DecodeRow(y, buf, d); err != nil {
			t.Fatal(err)
		}
		for b := 0; b < len(x)/32; b++ {
			var amax float64
			for _, v := range x[b*32 : b*32+32] {
				amax = math.Max(amax, math.Abs(float64(v)))
			}
			step := amax / 127
			if d == Q4_0 {
				step = amax / 8
			}
			for i := b * 32; i < b*32+32; i++ {
				// f16 rounding of the scale adds a relative 2^-11 per unit of q.
				tol := step*0.5 + amax*1e-3 + 1e-6
				if d == Q4_0 {
					tol = step + amax*1e-3
				}
				if e := math.Abs(float64(x[i] - y[i])); e > tol {
					t.Fatalf("%s element %d: %g -> %g (error %g > %g)", d, i, x[i], y[i], e, tol)
				}
			}
		}
	}
}

func TestRowBytesAndValidate(t *testing.T) {
	if _, err := Q8_0.RowBytes(33); err == nil {
		t.Error("33 elements of q8_0 must be an error")
	}
	tt := &Tensor{Name: "w", DType: BF16, Shape: []int{2, 3}, Data: make([]byte, 11)}
	if err := tt.Validate(); err == nil {
		t.Error("11 bytes for a 2x3 bf16 tensor must be an error")
	}
	tt.Data = make([]byte, 12)
	if err := tt.Validate(); err != nil || tt.Rows() != 2 || tt.Cols() != 3 || tt.RowSize() != 6 {
		t.Errorf("valid tensor: %v rows %d cols %d", err, tt.Rows(), tt.Cols())
	}
	if d, err := ParseDType("Q4_0"); err != nil || d != Q4_0 {
		t.Error("ParseDType(Q4_0)")
	}
}
