package tensor

import (
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// encodeTypes are the block types EncodeRowWeighted searches scales for.
var encodeTypes = []DType{Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS}

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// weightedSSE decodes rows of type d from q and returns Σ w·(x − x̂)² (w nil: 1).
func weightedSSE(t *testing.T, x []float32, q []byte, d DType, cols int, w []float32) float64 {
	t.Helper()
	rb, err := d.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, cols)
	var e float64
	for r := 0; r < len(x)/cols; r++ {
		if err := DecodeRow(got, q[r*rb:(r+1)*rb], d); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			diff := float64(x[r*cols+i] - v)
			wi := 1.0
			if w != nil {
				wi = float64(w[i])
			}
			e += wi * diff * diff
		}
	}
	return e
}

func encodeRows(t *testing.T, x []float32, d DType, cols int, imp []float32) []byte {
	t.Helper()
	rb, err := d.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, rb*len(x)/cols)
	for r := 0; r < len(x)/cols; r++ {
		if err := EncodeRowWeighted(out[r*rb:(r+1)*rb], x[r*cols:(r+1)*cols], d, imp); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestEncodeMatchesLlamaCppError quantizes the rows llama.cpp's ggml_quantize_chunk
// quantized for testdata/quant (see its README) and requires an error no larger than
// llama.cpp's: the plain squared error without an importance matrix, the squared error
// weighted by the importances with one (the quantity both minimise).
func TestEncodeMatchesLlamaCppError(t *testing.T) {
	const cols = 512
	x := readF32(t, "testdata/quant/input.f32")
	imp := readF32(t, "testdata/quant/imatrix.f32")
	for _, d := range encodeTypes {
		for _, withImp := range []bool{false, true} {
			name, w := d.String(), []float32(nil)
			if withImp {
				name, w = name+".imatrix", imp
			}
			t.Run(name, func(t *testing.T) {
				ref, err := os.ReadFile(filepath.Join("testdata/quant", name+".q"))
				if err != nil {
					t.Fatal(err)
				}
				ours := encodeRows(t, x, d, cols, w)
				if len(ours) != len(ref) {
					t.Fatalf("%d bytes, llama.cpp %d", len(ours), len(ref))
				}
				eo, er := weightedSSE(t, x, ours, d, cols, w), weightedSSE(t, x, ref, d, cols, w)
				same := 0
				for i := range ours {
					if ours[i] == ref[i] {
						same++
					}
				}
				t.Logf("error %.6g, llama.cpp %.6g (ratio %.5f); %d of %d bytes equal", eo, er, eo/er, same, len(ours))
				if eo > er*(1+1e-4)+1e-12 {
					t.Errorf("error %.6g exceeds llama.cpp's %.6g by %.3f%%", eo, er, 100*(eo/er-1))
				}
			})
		}
	}
}

// levels returns the integer codes a group of type d may use, as Unpacker reports them.
func levels(d DType) []int {
	var r [2]int
	switch d {
	case Q2_K:
		r = [2]int{0, 3}
	case Q3_K:
		r = [2]int{-4, 3}
	case Q5_K:
		r = [2]int{0, 31}
	default:
		return nil
	}
	var v []int
	for k := r[0]; k <= r[1]; k++ {
		v = append(v, k)
	}
	return v
}

// testRows returns rows of several shapes of distribution: Gaussian, heavy-tailed, one-signed,
// with zero and constant groups, and with outliers.
func testRows(rng *rand.Rand, rows, cols int) []float32 {
	x := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		for i := range row {
			switch r % 5 {
			case 0:
				row[i] = float32(rng.NormFloat64() * 0.02)
			case 1:
				row[i] = float32(rng.NormFloat64() / (0.05 + rng.Float64()) * 0.01)
			case 2:
				row[i] = float32(math.Abs(rng.NormFloat64()))
			case 3:
				row[i] = float32(rng.NormFloat64())
				if i%64 < 16 {
					row[i] = 0
				} else if i%64 < 32 {
					row[i] = 0.25
				}
			case 4:
				row[i] = float32(rng.NormFloat64() * 1e-3)
				if rng.Intn(50) == 0 {
					row[i] *= 30
				}
			}
		}
	}
	return x
}

// TestEncodeNearestLevel checks, for the types that redo their codes under the final
// scales, that every value got the code nearest to it among the type's levels.
func TestEncodeNearestLevel(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	const cols = 512
	x := testRows(rng, 10, cols)
	imp := make([]float32, cols)
	for i := range imp {
		imp[i] = float32(rng.ExpFloat64())
	}
	// (IQ4_NL and IQ4_XS, as ggml, pick their codes under the scales before their rounding
	// to f16, which for tiny scales is coarse: their bytes are checked against llama.cpp's
	// instead, in TestEncodeMatchesLlamaCppError.)
	for _, d := range []DType{Q2_K, Q3_K, Q5_K} {
		for _, w := range [][]float32{nil, imp} {
			q := encodeRows(t, x, d, cols, w)
			un, lv := Unpacker(d), levels(d)
			bs, bb := d.BlockSize(), d.BlockBytes()
			codes := make([]int8, bs)
			sc, mn := make([]float32, bs/16), make([]float32, bs/16)
			for b := 0; b < len(x)/bs; b++ {
				un(codes, sc, mn, q[b*bb:(b+1)*bb])
				for i, c := range codes {
					v := x[b*bs+i]
					s, m := sc[i/16], mn[i/16]
					got := abs32(v - (s*float32(c) + m))
					for _, k := range lv {
						if alt := abs32(v - (s*float32(k) + m)); alt < got*(1-1e-5)-1e-12 {
							t.Fatalf("%s (importances %v): value %d = %g has code %d (error %g) but code %d errs %g", d, w != nil, b*bs+i, v, c, got, k, alt)
						}
					}
				}
			}
		}
	}
}

// TestEncodeErrorBounds bounds the relative RMS error of Gaussian rows per type, known-good
// bounds 5% over what the encoders reach (llama.cpp's quantizers give the same errors), and
// requires more bits to give less error.
func TestEncodeErrorBounds(t *testing.T) {
	bounds := []struct {
		d     DType
		bound float64
	}{
		{Q6_K, 0.0188}, {Q5_K, 0.0385}, {Q5_1, 0.0400}, {Q5_0, 0.0457}, {Q4_K, 0.0755}, {IQ4_XS, 0.0812},
		{IQ4_NL, 0.0807}, {Q4_1, 0.0828}, {Q4_0, 0.0918}, {Q3_K, 0.161}, {Q2_K, 0.315}, {Q8_0, 0.0057},
	}
	rng := rand.New(rand.NewSource(2))
	const cols = 1024
	x := make([]float32, 16*cols)
	var ss float64
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		ss += float64(x[i]) * float64(x[i])
	}
	rel := map[DType]float64{}
	for _, b := range bounds {
		e := weightedSSE(t, x, encodeRows(t, x, b.d, cols, nil), b.d, cols, nil)
		rel[b.d] = math.Sqrt(e / ss)
		t.Logf("%s: relative RMS error %.5f (bound %.4f)", b.d, rel[b.d], b.bound)
		if rel[b.d] > b.bound {
			t.Errorf("%s: relative RMS error %.5f, bound %.4f", b.d, rel[b.d], b.bound)
		}
	}
	for _, pair := range [][2]DType{{Q8_0, Q6_K}, {Q6_K, Q5_K}, {Q5_K, Q4_K}, {Q4_K, Q3_K}, {Q3_K, Q2_K}} {
		if rel[pair[0]] >= rel[pair[1]] {
			t.Errorf("%s errs %.5f, not less than %s's %.5f", pair[0], rel[pair[0]], pair[1], rel[pair[1]])
		}
	}
}

// TestEncodeImportanceHelps checks that an importance matrix moves the error to the columns
// that matter: the importance-weighted error is lower with it than without.
func TestEncodeImportanceHelps(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	const cols = 512
	x := testRows(rng, 5, cols)
	imp := make([]float32, cols)
	for i := range imp {
		imp[i] = float32(math.Exp(2 * rng.NormFloat64()))
	}
	for _, d := range encodeTypes {
		plain := weightedSSE(t, x, encodeRows(t, x, d, cols, nil), d, cols, imp)
		with := weightedSSE(t, x, encodeRows(t, x, d, cols, imp), d, cols, imp)
		t.Logf("%s: weighted error %.5g without importances, %.5g with", d, plain, with)
		if with >= plain {
			t.Errorf("%s: weighted error %.5g with importances, not below %.5g without", d, with, plain)
		}
	}
}

func TestEncodeRowWeightedErrors(t *testing.T) {
	row := make([]float32, 256)
	dst := make([]byte, 144)
	nan := slices.Clone(row)
	nan[7] = float32(math.NaN())
	neg := make([]float32, 256)
	neg[3] = -1
	for _, c := range []struct {
		name string
		dst  []byte
		src  []float32
		imp  []float32
		want string
	}{
		{"short importances", dst, row, make([]float32, 10), "importances"},
		{"NaN value", dst, nan, nil, "element 7"},
		{"negative importance", dst, row, neg, "importance 3"},
		{"short destination", dst[:100], row, nil, "need 144"},
		{"ragged row", dst, row[:200], nil, "200"},
	} {
		err := EncodeRowWeighted(c.dst, c.src, Q4_K, c.imp)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if Encodable(Q8_K) || !Encodable(Q3_K) || !Encodable(F16) {
		t.Error("Encodable: wrong answer for Q8_K, Q3_K or F16")
	}
	if err := EncodeRow(make([]byte, 292), row, Q8_K); err == nil {
		t.Error("EncodeRow wrote Q8_K, which it cannot")
	}
}

// BenchmarkEncodeRow measures the encoders on Gaussian rows of 4096 values.
func BenchmarkEncodeRow(b *testing.B) {
	rng := rand.New(rand.NewSource(4))
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	for _, d := range encodeTypes {
		b.Run(d.String(), func(b *testing.B) {
			rb, _ := d.RowBytes(len(x))
			dst := make([]byte, rb)
			b.SetBytes(int64(4 * len(x)))
			for i := 0; i < b.N; i++ {
				if err := EncodeRowWeighted(dst, x, d, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
