package sample

import (
	"math"
	"math/bits"
)

// rng is xoshiro256** seeded through SplitMix64. Both algorithms are defined
// purely in terms of 64-bit integer arithmetic, so a seed gives the same
// stream on every platform and Go version (unlike the global math/rand
// source, which is shared and randomly seeded).
type rng struct{ s [4]uint64 }

// newRNG expands seed into the 256-bit xoshiro state with SplitMix64, as the
// xoshiro authors recommend; the state can never be all zero this way.
func newRNG(seed uint64) rng {
	var r rng
	x := seed
	for i := range r.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
	return r
}

// next returns the next 64 random bits.
func (r *rng) next() uint64 {
	s := &r.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// float64 returns a uniform value in [0, 1) with 53 random bits.
func (r *rng) float64() float64 {
	return float64(r.next()>>11) * 0x1p-53
}

// Constants for the exponential: ln 2 split into a high part with trailing
// zero bits (so k*ln2Hi is exact for the k used here) and the remainder.
const (
	log2e = 1.44269504088896338700e+00
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// expTable[j] = 2**(j/64), computed once with expPoly.
var expTable = func() (t [64]float64) {
	for j := range t {
		// 2**(j/64) = 2 * e**((j-64)/64 * ln 2), an argument <= 0.
		t[j] = 2 * expPoly(float64(j-64)/64*math.Ln2)
	}
	return t
}()

// expNeg returns e**x for x <= 0, using plain IEEE-754 operations only:
// every product is rounded by an explicit conversion, which forbids the
// compiler from fusing it into an FMA, and no assembly is involved. The
// result is therefore bit-identical on every platform, which math.Exp (an
// assembly routine on some architectures) does not promise. It reduces x =
// (64m + j)·ln2/64 + r with |r| <= ln2/128 and returns 2**m · 2**(j/64) ·
// e**r, e**r from its Taylor series to degree 5 (truncation < 1e-16).
// Relative error is below 1e-15; values under e**-700 are flushed to zero,
// which cannot change a draw.
func expNeg(x float64) float64 {
	if !(x > -700) { // also catches -Inf and NaN
		return 0
	}
	if x > 0 {
		x = 0
	}
	k := -int64(float64(-x*(64*log2e)) + 0.5) // round(x·64/ln2); truncation is floor here
	kf := float64(k)
	r := float64(x-float64(kf*(ln2Hi/64))) - float64(kf*(ln2Lo/64))
	p := float64(float64(float64(float64(float64(r*(1.0/120))+1.0/24)*r)+1.0/6)*r) + 0.5
	p = float64(float64(float64(p*r)+1)*r) + 1
	scale := math.Float64frombits(uint64((k>>6)+1023) << 52) // 2**m, m >= -1011
	return float64(float64(p*expTable[k&63]) * scale)
}

// expPoly returns e**x for x <= 0 by range reduction to |r| <= ln2/2 and
// the Taylor series of e**r to degree 14 (truncation error < 1e-18). It is
// slower than expNeg and used to build its table.
func expPoly(x float64) float64 {
	if !(x > -700) {
		return 0
	}
	k := math.Floor(float64(x*log2e) + 0.5)
	r := float64(x-float64(k*ln2Hi)) - float64(k*ln2Lo)
	p := 1.0 / 87178291200.0 // 1/14!
	for _, c := range [...]float64{
		1.0 / 6227020800.0, // 1/13!
		1.0 / 479001600.0,
		1.0 / 39916800.0,
		1.0 / 3628800.0,
		1.0 / 362880.0,
		1.0 / 40320.0,
		1.0 / 5040.0,
		1.0 / 720.0,
		1.0 / 120.0,
		1.0 / 24.0,
		1.0 / 6.0,
		1.0 / 2.0,
		1.0,
		1.0,
	} {
		p = float64(p*r) + c
	}
	return float64(p * math.Float64frombits(uint64(int64(k)+1023)<<52))
}
