package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// Each operation's backward is checked in float64 against central finite differences of
// the scalar Σ c·output for random c, on small random shapes; the float32 versions (whose
// inner products go to the kernel package) are checked against the float64 ones.

func randVec(rng *rand.Rand, n int, std float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64() * std
	}
	return v
}

func to32(v []float64) []float32 {
	o := make([]float32, len(v))
	for i, x := range v {
		o[i] = float32(x)
	}
	return o
}

func to64(v []float32) []float64 {
	o := make([]float64, len(v))
	for i, x := range v {
		o[i] = float64(x)
	}
	return o
}

func sum(c, y []float64) float64 {
	var s float64
	for i := range y {
		s += c[i] * y[i]
	}
	return s
}

// checkFD compares grad with central differences of f at x, entry by entry (f may read
// x, which is perturbed in place and restored).
func checkFD(t *testing.T, name string, x []float64, f func() float64, grad []float64) {
	t.Helper()
	const h = 1e-6
	fd := make([]float64, len(x))
	for i := range x {
		x0 := x[i]
		x[i] = x0 + h
		a := f()
		x[i] = x0 - h
		b := f()
		x[i] = x0
		fd[i] = (a - b) / (2 * h)
	}
	if e := relErr(grad, fd); e > 1e-6 || math.IsNaN(e) {
		t.Errorf("%s: gradient is %.3g (relative) from finite differences\n got %.6g\nwant %.6g", name, e, grad, fd)
	}
}

// close32 fails when a float32 result is more than tol (relative) from the float64 one.
func close32(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if e := relErr(to64(got), want); e > tol || math.IsNaN(e) {
		t.Errorf("%s: float32 result is %.3g (relative) from float64's", name, e)
	}
}

func TestRMSNormBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{2, 3, 8, 17, 64} {
		x, w, c := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1)
		y := make([]float64, n)
		f := func() float64 { rmsNorm(y, x, w, 1e-5); return sum(c, y) }
		r := rmsNorm(y, x, w, 1e-5)
		dx := make([]float64, n)
		rmsNormBack(dx, c, x, w, r)
		checkFD(t, fmt.Sprintf("rmsNorm n=%d", n), x, f, dx)
		y32, dx32 := make([]float32, n), make([]float32, n)
		r32 := rmsNorm(y32, to32(x), to32(w), 1e-5)
		rmsNormBack(dx32, to32(c), to32(x), to32(w), r32)
		close32(t, "rmsNorm", y32, y, 1e-6)
		close32(t, "rmsNormBack", dx32, dx, 1e-5)
	}
}

func TestRoPEBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, inter := range []bool{false, true} {
		for _, sh := range [][2]int{{1, 2}, {3, 4}, {2, 16}} {
			heads, hd := sh[0], sh[1]
			x, c := randVec(rng, heads*hd, 1), randVec(rng, heads*hd, 1)
			ang := randVec(rng, hd/2, 2)
			cs, sn, nsn := make([]float64, hd/2), make([]float64, hd/2), make([]float64, hd/2)
			for i, a := range ang {
				cs[i], sn[i], nsn[i] = math.Cos(a), math.Sin(a), -math.Sin(a)
			}
			y := make([]float64, len(x))
			f := func() float64 { copy(y, x); rope(y, heads, hd, cs, sn, inter); return sum(c, y) }
			dx := append([]float64(nil), c...)
			rope(dx, heads, hd, cs, nsn, inter)
			checkFD(t, fmt.Sprintf("rope %dx%d interleaved=%v", heads, hd, inter), x, f, dx)
		}
	}
}

func TestSiLUMulBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, n := range []int{1, 7, 33} {
		g, u, c := randVec(rng, n, 2), randVec(rng, n, 1), randVec(rng, n, 1)
		y := make([]float64, n)
		f := func() float64 { siluMul(y, g, u); return sum(c, y) }
		dg, du := make([]float64, n), make([]float64, n)
		siluMulBack(dg, du, c, g, u)
		checkFD(t, "siluMul d/dgate", g, f, dg)
		checkFD(t, "siluMul d/dup", u, f, du)
	}
}

func TestAttentionBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, sh := range []struct{ t, hd, qs, ks int }{{1, 4, 4, 4}, {5, 4, 4, 4}, {7, 8, 13, 8}, {9, 6, 6, 11}} {
		name := fmt.Sprintf("attention t=%d hd=%d strides %d,%d", sh.t, sh.hd, sh.qs, sh.ks)
		T, hd, qs, ks := sh.t, sh.hd, sh.qs, sh.ks
		q, k, v := randVec(rng, T*qs, 1), randVec(rng, T*ks, 1), randVec(rng, T*ks, 1)
		c := randVec(rng, T*qs, 1)
		scale := 1 / math.Sqrt(float64(hd))
		o, lse, sc := make([]float64, T*qs), make([]float64, T), make([]float64, T)
		f := func() float64 {
			clear(o)
			attnHead(o, lse, q, qs, k, v, ks, T, hd, scale, sc)
			return sum(c, o)
		}
		f()
		dq, dk, dv := make([]float64, T*qs), make([]float64, T*hd), make([]float64, T*hd)
		attnHeadBack(dq, dk, dv, c, q, o, lse, qs, k, v, ks, T, hd, scale, sc)
		// Only the head's own elements of each row count; spread dk, dv to stride ks.
		dk2, dv2 := make([]float64, T*ks), make([]float64, T*ks)
		for i := 0; i < T; i++ {
			copy(dk2[i*ks:i*ks+hd], dk[i*hd:(i+1)*hd])
			copy(dv2[i*ks:i*ks+hd], dv[i*hd:(i+1)*hd])
		}
		checkFD(t, name+" d/dq", q, f, dq)
		checkFD(t, name+" d/dk", k, f, dk2)
		checkFD(t, name+" d/dv", v, f, dv2)

		o32, lse32, sc32 := make([]float32, T*qs), make([]float32, T), make([]float32, T)
		q32, k32, v32 := to32(q), to32(k), to32(v)
		attnHead(o32, lse32, q32, qs, k32, v32, ks, T, hd, float32(scale), sc32)
		close32(t, name+" output", o32, o, 1e-5)
		dq32, dk32, dv32 := make([]float32, T*qs), make([]float32, T*hd), make([]float32, T*hd)
		attnHeadBack(dq32, dk32, dv32, to32(c), q32, o32, lse32, qs, k32, v32, ks, T, hd, float32(scale), sc32)
		close32(t, name+" dq", dq32, dq, 1e-5)
		close32(t, name+" dk", dk32, dk, 1e-5)
		close32(t, name+" dv", dv32, dv, 1e-5)
	}
}

func TestCrossEntropyBackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{1, 2, 10, 100} {
		z := randVec(rng, n, 3)
		tgt := rng.IntN(n)
		f := func() float64 { return crossEntropy(append([]float64(nil), z...), tgt) }
		g := append([]float64(nil), z...)
		loss := crossEntropy(g, tgt)
		checkFD(t, fmt.Sprintf("crossEntropy n=%d", n), z, f, g)
		g32 := to32(z)
		if l32 := crossEntropy(g32, tgt); math.Abs(l32-loss) > 1e-5*(1+loss) {
			t.Errorf("crossEntropy n=%d: float32 loss %v, float64 %v", n, l32, loss)
		}
		close32(t, "crossEntropy gradient", g32, g, 1e-5)
	}
}

func TestLoRABackward(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for _, sh := range [][4]int{{1, 3, 2, 1}, {4, 5, 7, 2}, {3, 16, 9, 4}} {
		m, in, out, r := sh[0], sh[1], sh[2], sh[3]
		name := fmt.Sprintf("lora m=%d in=%d out=%d r=%d", m, in, out, r)
		x, a, b := randVec(rng, m*in, 1), randVec(rng, r*in, 1), randVec(rng, out*r, 1)
		c := randVec(rng, m*out, 1)
		const s = 1.5
		y, u := make([]float64, m*out), make([]float64, m*r)
		f := func() float64 { clear(y); loraForward(y, u, x, a, b, m, in, out, r, s); return sum(c, y) }
		f()
		dx, da, db, du := make([]float64, m*in), make([]float64, r*in), make([]float64, out*r), make([]float64, m*r)
		loraBackward(dx, da, db, du, c, x, u, a, b, m, in, out, r, s)
		checkFD(t, name+" d/dx", x, f, dx)
		checkFD(t, name+" d/dA", a, f, da)
		checkFD(t, name+" d/dB", b, f, db)
	}
}
