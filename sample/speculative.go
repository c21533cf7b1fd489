package sample

import "math"

// Dist is a processed next-token distribution: what a [Sampler] draws from after logit
// bias, penalties, temperature, top-k, top-p and min-p (steps 1-8 of the package
// comment), as probabilities that sum to 1. P is dense over the vocabulary; Support
// lists the tokens with P > 0, most likely first is not promised. In greedy mode (zero
// temperature) it is a point mass on the token Sample would return.
//
// Speculative decoding needs it: a drafted token x is accepted with probability
// min(1, p(x)/q(x)) where p is the target's Dist and q the drafter's ([Sampler.Verify]).
// The zero value is an empty distribution, ready to be filled by [Sampler.Dist].
type Dist struct {
	P       []float64
	Support []int32
}

// Prob returns the probability of token id (0 outside the vocabulary).
func (d *Dist) Prob(id int) float64 {
	if id < 0 || id >= len(d.P) {
		return 0
	}
	return d.P[id]
}

// reset sizes d for a vocabulary of n tokens, all with probability 0.
func (d *Dist) reset(n int) {
	if cap(d.P) < n {
		d.P = make([]float64, n)
		d.Support = d.Support[:0]
		return
	}
	for _, id := range d.Support {
		if int(id) < len(d.P) {
			d.P[id] = 0
		}
	}
	d.P = d.P[:n]
	d.Support = d.Support[:0]
}

// Greedy reports whether the sampler decodes greedily (temperature 0): its distributions
// are point masses and Verify and Draw use no randomness.
func (s *Sampler) Greedy() bool { return s.o.Temperature == 0 }

// Dist fills d with the distribution Sample draws from for these logits and history:
// Sample(logits, history) returns token i with probability d.P[i]. It fails where Sample
// would, and does not use the random stream.
func (s *Sampler) Dist(d *Dist, logits []float32, history []int) error {
	c, greedy, err := s.filter(logits, history)
	if err != nil {
		return err
	}
	d.reset(len(logits))
	if greedy >= 0 {
		d.P[greedy] = 1
		d.Support = append(d.Support, int32(greedy))
		return nil
	}
	z := 0.0
	for i := range c {
		z += c[i].w
	}
	for _, x := range c {
		if x.w > 0 {
			d.P[x.id] = x.w / z
			d.Support = append(d.Support, x.id)
		}
	}
	return nil
}

// Draw samples a token from d with the sampler's random stream (in greedy mode, d's most
// likely token, without randomness). d must not be empty.
func (s *Sampler) Draw(d *Dist) int {
	if s.Greedy() {
		return argmax(d)
	}
	u := s.rng.float64()
	for _, id := range d.Support {
		u -= d.P[id]
		if u < 0 {
			return int(id)
		}
	}
	return int(d.Support[len(d.Support)-1]) // u ran past 1 by rounding
}

// argmax returns d's most likely token, ties going to the lowest id.
func argmax(d *Dist) int {
	best, bp := -1, -1.0
	for _, id := range d.Support {
		if p := d.P[id]; p > bp || (p == bp && int(id) < best) {
			best, bp = int(id), p
		}
	}
	return best
}

// Verify applies the speculative-sampling rule (Leviathan et al. 2023, Chen et al. 2023)
// to a token x that a drafter drew from q, given the target distribution p at the same
// position: x is accepted with probability min(1, p(x)/q(x)); otherwise a replacement is
// drawn from the residual norm(max(0, p − q)). Either way the returned token is
// distributed exactly as a draw from p. A nil q is a point mass on x (a drafter that
// proposes tokens deterministically, such as prompt lookup), so x is accepted with
// probability p(x) and the replacement comes from p without x.
//
// In greedy mode p is a point mass and Verify accepts x exactly when it is p's token,
// using no randomness, so greedy speculative decoding returns what greedy decoding does.
// The random stream is the sampler's own.
func (s *Sampler) Verify(p, q *Dist, x int) (tok int, accepted bool) {
	if s.Greedy() {
		best := argmax(p)
		return best, best == x
	}
	px := p.Prob(x)
	qx := 1.0
	if q != nil {
		qx = q.Prob(x)
	}
	if px > 0 {
		if px >= qx {
			return x, true
		}
		if s.rng.float64() < px/qx {
			return x, true
		}
	}
	// Rejected: draw from max(0, p - q), normalised.
	qp := func(id int32) float64 {
		if q == nil {
			if int(id) == x {
				return 1
			}
			return 0
		}
		return q.Prob(int(id))
	}
	z := 0.0
	for _, id := range p.Support {
		z += math.Max(0, p.P[id]-qp(id))
	}
	if !(z > 0) {
		// Rounding only: p ≤ q everywhere means p = q, where x is always accepted.
		return s.Draw(p), false
	}
	u := s.rng.float64() * z
	last := -1
	for _, id := range p.Support {
		r := math.Max(0, p.P[id]-qp(id))
		if r > 0 {
			last = int(id)
			u -= r
			if u < 0 {
				return int(id), false
			}
		}
	}
	return last, false
}
