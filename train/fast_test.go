package train

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/decilm/decilm/kernel"
)

// TestLoRAFastMatchesPlain compares the MatMul-based LoRA products with their plain twins
// (loraForward, loraBackward in float64) on random shapes with ragged edges.
func TestLoRAFastMatchesPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	pool := kernel.NewPool(2)
	defer pool.Close()
	var sc loraScratch
	for _, sh := range [][4]int{{1, 1, 1, 1}, {3, 17, 5, 2}, {70, 37, 41, 16}, {9, 64, 96, 8}, {130, 20, 9, 3}} {
		m, in, out, r := sh[0], sh[1], sh[2], sh[3]
		name := fmt.Sprintf("m=%d in=%d out=%d r=%d", m, in, out, r)
		x, a, b := randVec(rng, m*in, 1), randVec(rng, r*in, 1), randVec(rng, out*r, 1)
		y0, dy := randVec(rng, m*out, 1), randVec(rng, m*out, 1)
		dx0, da0, db0 := randVec(rng, m*in, 1), randVec(rng, r*in, 1), randVec(rng, out*r, 1)
		const s = 0.75

		y, u := append([]float64(nil), y0...), make([]float64, m*r)
		loraForward(y, u, x, a, b, m, in, out, r, s)
		dx, da, db := append([]float64(nil), dx0...), append([]float64(nil), da0...), append([]float64(nil), db0...)
		loraBackward(dx, da, db, make([]float64, m*r), dy, x, u, a, b, m, in, out, r, s)

		y32, u32 := to32(y0), make([]float32, m*r)
		x32, a32, b32 := to32(x), to32(a), to32(b)
		if err := loraForwardFast(pool, &sc, y32, u32, x32, a32, b32, m, in, out, r, s); err != nil {
			t.Fatal(err)
		}
		close32(t, name+" y", y32, y, 1e-6)
		close32(t, name+" u", u32, u, 1e-6)
		dx32, da32, db32 := to32(dx0), to32(da0), to32(db0)
		if err := loraBackwardFast(pool, &sc, dx32, da32, db32, to32(dy), x32, u32, a32, b32, m, in, out, r, s); err != nil {
			t.Fatal(err)
		}
		close32(t, name+" dx", dx32, dx, 1e-6)
		close32(t, name+" dA", da32, da, 1e-6)
		close32(t, name+" dB", db32, db, 1e-6)
	}
}

func TestTranspose(t *testing.T) {
	pool := kernel.NewPool(2)
	defer pool.Close()
	for _, sh := range [][2]int{{1, 1}, {1, 40}, {33, 1}, {31, 65}, {64, 64}, {100, 7}} {
		rows, cols := sh[0], sh[1]
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(i)
		}
		dst := make([]float32, rows*cols)
		transpose(pool, dst, src, rows, cols)
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				if dst[c*rows+r] != src[r*cols+c] {
					t.Fatalf("%dx%d: [%d,%d] = %v, want %v", rows, cols, c, r, dst[c*rows+r], src[r*cols+c])
				}
			}
		}
	}
}
