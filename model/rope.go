package model

import "math"

// RopeAngles fills cos and sin (HeadDim/2 values each) with the rotary angles of position
// pos in a sequence of length seqLen: angle i is pos·θ^(−2i/d), with the base grown by
// dynamic NTK scaling (RopeBase), the position divided by a linear factor, or frequency i
// divided by its llama3 factor. Forward and the train package's backward pass both use it.
func (c *Config) RopeAngles(cos, sin []float32, pos, seqLen int) {
	base := c.RopeBase(seqLen)
	p := float64(pos)
	rs := &c.RopeScaling
	if rs.Type == "linear" {
		p /= rs.Factor
	}
	d := float64(c.HeadDim)
	for i := range cos {
		freq := 1 / math.Pow(base, float64(2*i)/d)
		if rs.Factors != nil {
			freq /= rs.Factors[i]
		}
		s, co := math.Sincos(p * freq)
		cos[i], sin[i] = float32(co), float32(s)
	}
}
