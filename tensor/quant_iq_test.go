package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exactTypes are the types whose encoders must give llama.cpp's bytes: each has fixtures
// testdata/quant/T[.imatrix].q and T[.imatrix].gen.q (see testdata/quant/README.md).
var exactTypes = []struct {
	d       DType
	imatrix bool // the fixtures were made with the importances (the type needs them)
}{
	{TQ2_0, false}, {TQ1_0, false}, {IQ2_XS, true}, {IQ2_XXS, true},
	{IQ3_XXS, false}, {IQ3_XXS, true}, {IQ3_S, false}, {IQ3_S, true}, {IQ2_S, true}, {IQ1_S, true}, {IQ1_M, true},
}

// staleGroup gives, for the types whose ggml quantizer stores in an all-zero group of this
// many values a shift left over from an earlier call or row (uninitialised memory for the
// first row of each ggml_quantize_chunk call), the group size: the blocks holding such a
// group are not compared. Real weights have no all-zero groups of 16 or 32.
var staleGroup = map[DType]int{IQ1_S: 32, IQ1_M: 16}

// hasZeroGroup reports whether x has an all-zero run of g values at a multiple of g.
func hasZeroGroup(x []float32, g int) bool {
	for i := 0; i < len(x); i += g {
		zero := true
		for _, v := range x[i : i+g] {
			zero = zero && v == 0
		}
		if zero {
			return true
		}
	}
	return false
}

// genRows are the second fixture input: 24 rows of 256 values of testRows' shapes (seed 16)
// and 256 log-normal importances; TestWriteGenInput writes them for the fixture maker.
func genRows() (x, imp []float32) {
	rng := rand.New(rand.NewSource(16))
	x = testRows(rng, 24, 256)
	imp = make([]float32, 256)
	for i := range imp {
		imp[i] = float32(math.Exp(1.5 * rng.NormFloat64()))
	}
	return x, imp
}

func writeF32(t *testing.T, path string, v []float32) {
	t.Helper()
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWriteGenInput writes genRows' rows and importances to $DECILM_WRITE_GEN_INPUT (a
// directory) as gen.f32 and gen_imatrix.f32, the input of the fixture maker; without the
// variable it only checks that the rows are finite.
func TestWriteGenInput(t *testing.T) {
	x, imp := genRows()
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("row value %d is %g", i, v)
		}
	}
	if dir := os.Getenv("DECILM_WRITE_GEN_INPUT"); dir != "" {
		writeF32(t, filepath.Join(dir, "gen.f32"), x)
		writeF32(t, filepath.Join(dir, "gen_imatrix.f32"), imp)
	}
}

// TestEncodeMatchesLlamaCppBytes requires the encoders of exactTypes to write exactly the
// bytes llama.cpp's ggml_quantize_chunk (what llama-quantize quantizes every tensor with)
// wrote for the same rows: testdata/quant/input.f32 (4 rows of 512) and genRows (24 rows of
// 256), with the importances where the type uses them.
func TestEncodeMatchesLlamaCppBytes(t *testing.T) {
	gx, gimp := genRows()
	inputs := []struct {
		suffix string
		x, imp []float32
		cols   int
	}{
		{"", readF32(t, "testdata/quant/input.f32"), readF32(t, "testdata/quant/imatrix.f32"), 512},
		{".gen", gx, gimp, 256},
	}
	for _, tc := range exactTypes {
		for _, in := range inputs {
			name := tc.d.String()
			var imp []float32
			if tc.imatrix {
				name, imp = name+".imatrix", in.imp
			}
			name += in.suffix
			t.Run(name, func(t *testing.T) {
				ref, err := os.ReadFile(filepath.Join("testdata/quant", name+".q"))
				if err != nil {
					t.Fatal(err)
				}
				ours := encodeRows(t, in.x, tc.d, in.cols, imp)
				if len(ours) != len(ref) {
					t.Fatalf("%d bytes, llama.cpp %d", len(ours), len(ref))
				}
				bb, skipped := tc.d.BlockBytes(), 0
				for b := 0; b < len(ref)/bb; b++ {
					if g := staleGroup[tc.d]; g > 0 && hasZeroGroup(in.x[256*b:256*b+256], g) {
						skipped++
						continue
					}
					if o, r := ours[b*bb:(b+1)*bb], ref[b*bb:(b+1)*bb]; !bytes.Equal(o, r) {
						t.Errorf("block %d differs:\n ours %x\n llama.cpp %x", b, o, r)
						break
					}
				}
				if skipped > 0 {
					t.Logf("%d of %d blocks with an all-zero group not compared", skipped, len(ref)/bb)
				}
			})
		}
	}
}

// TestEncodeIQRoundTrip bounds the relative RMS error of decode(encode(x)) on Gaussian rows
// (uniform importances for the types that need them): bounds a little above what the
// encoders reach, which is what llama.cpp's reach on the same rows.
func TestEncodeIQRoundTrip(t *testing.T) {
	bounds := map[DType]float64{TQ2_0: 0.84, TQ1_0: 0.84, IQ2_XS: 0.31, IQ2_XXS: 0.36, IQ3_XXS: 0.23, IQ3_S: 0.18, IQ2_S: 0.26, IQ1_S: 0.6, IQ1_M: 0.6}
	rng := rand.New(rand.NewSource(5))
	const cols = 1024
	x := make([]float32, 8*cols)
	var ss float64
	for i := range x {
		x[i] = float32(rng.NormFloat64())
		ss += float64(x[i]) * float64(x[i])
	}
	imp := make([]float32, cols)
	for i := range imp {
		imp[i] = 1
	}
	for d, bound := range bounds {
		var w []float32
		if NeedsImportance(d) {
			w = imp
		}
		rel := math.Sqrt(weightedSSE(t, x, encodeRows(t, x, d, cols, w), d, cols, nil) / ss)
		t.Logf("%s: relative RMS error %.5f (bound %.2f)", d, rel, bound)
		if rel > bound {
			t.Errorf("%s: relative RMS error %.5f, bound %.2f", d, rel, bound)
		}
	}
	// A ternary row is stored exactly by the ternary types.
	tern := make([]float32, 256)
	for i := range tern {
		tern[i] = 0.5 * float32(rng.Intn(3)-1)
	}
	for _, d := range []DType{TQ1_0, TQ2_0} {
		if e := weightedSSE(t, tern, encodeRows(t, tern, d, 256, nil), d, 256, nil); e != 0 {
			t.Errorf("%s: a ternary row comes back with squared error %g", d, e)
		}
	}
}

// TestEncodeIQNeedsImportance checks that the lattice types refuse rows without an
// importance matrix.
func TestEncodeIQNeedsImportance(t *testing.T) {
	row := make([]float32, 256)
	for _, d := range []DType{IQ2_XS, IQ2_XXS, IQ2_S, IQ1_S, IQ1_M} {
		if !Encodable(d) || !NeedsImportance(d) {
			t.Errorf("%s: Encodable %v, NeedsImportance %v", d, Encodable(d), NeedsImportance(d))
		}
		dst := make([]byte, d.BlockBytes())
		if err := EncodeRowWeighted(dst, row, d, nil); err == nil || !strings.Contains(err.Error(), "importance") {
			t.Errorf("%s without importances: error %v", d, err)
		}
		if err := EncodeRowWeighted(dst, row, d, make([]float32, 256)); err != nil {
			t.Errorf("%s with importances: %v", d, err)
		}
	}
}

// TestLattices checks the lattice search tables against their definition on every point
// of {0..nlev−1}^dim: a grid point maps to its index; an off-grid point lists, in order of
// distance and then index, every grid point at its nwant smallest distances.
func TestLattices(t *testing.T) {
	for _, c := range []struct {
		name     string
		lat      *lattice
		n, nwant int
	}{{"iq2_xs", latticeIQ2XS(), 512, 2}, {"iq2_xxs", latticeIQ2XXS(), 256, 2}, {"iq2_s", latticeIQ2S(), 1024, 1}, {"iq1_s", latticeIQ1S(), 2048, 3}, {"iq3_xxs", latticeIQ3XXS(), 256, 2}, {"iq3_s", latticeIQ3S(), 512, 3}} {
		lat := c.lat
		if len(lat.levels) != c.n {
			t.Fatalf("%s: %d grid points", c.name, len(lat.levels))
		}
		onGrid := 0
		for code := range lat.onGrid {
			var pos [8]int
			for i, r := 0, code; i < lat.dim; i, r = i+1, r/lat.nlev {
				pos[i] = r % lat.nlev
			}
			dist := func(j int) int {
				d2 := 0
				for i := 0; i < lat.dim; i++ {
					d := 2 * (int(lat.levels[j][i]) - pos[i])
					d2 += d * d
				}
				return d2
			}
			if g := lat.onGrid[code]; g >= 0 {
				onGrid++
				if dist(int(g)) != 0 {
					t.Fatalf("%s: point %v maps to grid point %d at distance %d", c.name, pos, g, dist(int(g)))
				}
				continue
			}
			near := lat.near[code]
			if len(near) == 0 {
				t.Fatalf("%s: point %v has no neighbours", c.name, pos)
			}
			ds := map[int]bool{}
			for i, j := range near {
				ds[dist(int(j))] = true
				if i > 0 && (dist(int(j)) < dist(int(near[i-1])) || dist(int(j)) == dist(int(near[i-1])) && j <= near[i-1]) {
					t.Fatalf("%s: neighbours of %v out of order at %d", c.name, pos, i)
				}
			}
			if len(ds) != c.nwant {
				t.Fatalf("%s: neighbours of %v at %d distances, want %d", c.name, pos, len(ds), c.nwant)
			}
			last := dist(int(near[len(near)-1]))
			for j := range lat.levels {
				if d := dist(j); d <= last && !containsU16(near, uint16(j)) {
					t.Fatalf("%s: grid point %d (distance %d) missing from the neighbours of %v", c.name, j, d, pos)
				}
			}
		}
		if onGrid != c.n {
			t.Errorf("%s: %d points on the grid, want %d", c.name, onGrid, c.n)
		}
	}
}

func containsU16(s []uint16, v uint16) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// BenchmarkEncodeIQ measures the encoders of this file on Gaussian rows of 4096 values
// (unit importances).
func BenchmarkEncodeIQ(b *testing.B) {
	rng := rand.New(rand.NewSource(4))
	x := make([]float32, 4096)
	imp := make([]float32, 4096)
	for i := range x {
		x[i], imp[i] = float32(rng.NormFloat64()), 1
	}
	for _, d := range []DType{TQ1_0, TQ2_0, IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S} {
		b.Run(d.String(), func(b *testing.B) {
			rb, _ := d.RowBytes(len(x))
			dst := make([]byte, rb)
			if err := EncodeRowWeighted(dst, x, d, imp); err != nil { // builds the lattice
				b.Fatal(err)
			}
			b.SetBytes(int64(4 * len(x)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := EncodeRowWeighted(dst, x, d, imp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
