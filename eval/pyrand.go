package eval

import "math"

// pyRandom reproduces CPython's random.Random (a 32-bit Mersenne Twister, MT19937) for
// integer seeds, so that few-shot sampling and bootstrap resampling draw the same numbers
// as lm-evaluation-harness does with random.Random(seed). Only the methods the harness
// uses are provided: random, getrandbits (k <= 32), sample and choices without weights.
type pyRandom struct {
	mt  [624]uint32
	idx int
}

// newPyRandom returns a generator seeded like random.Random(seed) for a seed below 2^32.
// CPython seeds with init_by_array over the 32-bit words of |seed| (at least one word).
func newPyRandom(seed uint32) *pyRandom {
	r := &pyRandom{}
	r.initByArray([]uint32{seed})
	return r
}

func (r *pyRandom) initGenrand(s uint32) {
	r.mt[0] = s
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = 624
}

func (r *pyRandom) initByArray(key []uint32) {
	r.initGenrand(19650218)
	i, j := 1, 0
	k := max(624, len(key))
	for ; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1664525)) + key[j] + uint32(j)
		i++
		j++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
		if j >= len(key) {
			j = 0
		}
	}
	for k = 623; k > 0; k-- {
		r.mt[i] = (r.mt[i] ^ ((r.mt[i-1] ^ (r.mt[i-1] >> 30)) * 1566083941)) - uint32(i)
		i++
		if i >= 624 {
			r.mt[0] = r.mt[623]
			i = 1
		}
	}
	r.mt[0] = 0x80000000
}

func (r *pyRandom) twist() {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	mt := &r.mt
	kk := 0
	for ; kk < 624-397; kk++ {
		y := (mt[kk] & upper) | (mt[kk+1] & lower)
		mt[kk] = mt[kk+397] ^ (y >> 1) ^ (matrixA * (y & 1))
	}
	for ; kk < 623; kk++ {
		y := (mt[kk] & upper) | (mt[kk+1] & lower)
		mt[kk] = mt[kk+397-624] ^ (y >> 1) ^ (matrixA * (y & 1))
	}
	y := (mt[623] & upper) | (mt[0] & lower)
	mt[623] = mt[396] ^ (y >> 1) ^ (matrixA * (y & 1))
	r.idx = 0
}

func (r *pyRandom) uint32() uint32 {
	if r.idx >= 624 {
		r.twist()
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// random returns a float in [0, 1) with 53 random bits, as random.random() does.
func (r *pyRandom) random() float64 {
	a := r.uint32() >> 5
	b := r.uint32() >> 6
	return (float64(a)*67108864.0 + float64(b)) * (1.0 / 9007199254740992.0)
}

// getrandbits returns k random bits, 0 < k <= 32.
func (r *pyRandom) getrandbits(k int) uint32 {
	return r.uint32() >> (32 - k)
}

// randbelow returns an int in [0, n) for 0 < n < 2^32, as Random._randbelow_with_getrandbits.
func (r *pyRandom) randbelow(n int) int {
	k := 0
	for v := n; v > 0; v >>= 1 {
		k++
	}
	x := int(r.getrandbits(k))
	for x >= n {
		x = int(r.getrandbits(k))
	}
	return x
}

// sample returns k distinct indices into a population of n, in selection order, as
// random.sample(range(n), k) does (both of CPython's algorithms, chosen the same way).
// It requires 0 <= k <= n.
func (r *pyRandom) sample(n, k int) []int {
	result := make([]int, k)
	setsize := 21
	if k > 5 {
		setsize += int(math.Pow(4, math.Ceil(math.Log(float64(k*3))/math.Log(4))))
	}
	if n <= setsize {
		pool := make([]int, n)
		for i := range pool {
			pool[i] = i
		}
		for i := 0; i < k; i++ {
			j := r.randbelow(n - i)
			result[i] = pool[j]
			pool[j] = pool[n-i-1]
		}
		return result
	}
	selected := make(map[int]bool, k)
	for i := 0; i < k; i++ {
		j := r.randbelow(n)
		for selected[j] {
			j = r.randbelow(n)
		}
		selected[j] = true
		result[i] = j
	}
	return result
}

// choiceIndex returns one index drawn like one element of random.choices(range(n), k=...):
// floor(random() * n).
func (r *pyRandom) choiceIndex(n int) int {
	return int(math.Floor(r.random() * float64(n)))
}
