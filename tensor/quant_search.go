package tensor

import "math"

// This file holds the scale searches the block encoders (quant_k.go) share. They follow the
// ideas of ggml's make_qx_quants, make_qkx2/3_quants and make_qp_quants (llama.cpp
// ggml-quants.c): start from the scale that maps the largest magnitude to the end of the
// integer range, try a fan of nearby scales, and for each choice of integers solve the
// weighted least-squares problem for the best scale (and offset) exactly; keep the choice
// with the smallest weighted error.

// groupMaxEps is the magnitude below which a group counts as all zero.
const groupMaxEps = 1e-15

// nearestInt rounds to the nearest integer, halves to even, as ggml's nearest_int does
// with the FPU's default rounding mode. Callers clamp the result.
func nearestInt(f float32) int {
	r := math.RoundToEven(float64(f))
	if !(r > -1<<30 && r < 1<<30) { // NaN or out of any range we use
		return 0
	}
	return int(r)
}

// symScale chooses the scale of a symmetric group: integers l in [-nmax, nmax-1] with
// x ≈ scale·l, minimising Σ w·(x − scale·l)², w = weights[i] or x² when weights is nil.
// It writes l+nmax to L and returns the scale (0 for an all-zero group, L all 0).
// (make_qx_quants with rmse_type 1.)
func symScale(nmax int, x []float32, L []int8, weights []float32) float32 {
	var mx, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	w := func(i int) float32 {
		if weights != nil {
			return weights[i]
		}
		return x[i] * x[i]
	}
	quant := func(iscale float32, store bool) (sumlx, suml2 float32) {
		for i, v := range x {
			l := min(max(nearestInt(iscale*v), -nmax), nmax-1)
			if store {
				L[i] = int8(l + nmax)
			}
			wi := w(i)
			sumlx += wi * v * float32(l)
			suml2 += wi * float32(l) * float32(l)
		}
		return sumlx, suml2
	}
	sumlx, suml2 := quant(-float32(nmax)/mx, true)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := scale * sumlx
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale := -(float32(nmax) + 0.1*float32(is)) / mx
		slx, sl2 := quant(iscale, false)
		if sl2 > 0 && slx*slx > best*sl2 {
			quant(iscale, true)
			scale = slx / sl2
			best = scale * slx
		}
	}
	return scale
}

// q3Scale is symScale's variant for Q3_K without an importance matrix (make_q3_quants with
// do_rmse): after the first rounding it moves single integers while that lowers the x²-
// weighted error, up to five passes. L receives l+nmax.
func q3Scale(nmax int, x []float32, L []int8) float32 {
	var mx, amax float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := -float32(nmax) / mx
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(max(nearestInt(iscale*v), -nmax), nmax-1)
		L[i] = int8(l)
		w := v * v
		sumlx += w * v * float32(l)
		suml2 += w * float32(l) * float32(l)
	}
	for try := 0; try < 5; try++ {
		changed := false
		for i, v := range x {
			w := v * v
			li := float32(L[i])
			slx := sumlx - w*v*li
			if slx <= 0 {
				continue
			}
			sl2 := suml2 - w*li*li
			nl := min(max(nearestInt(v*sl2/slx), -nmax), nmax-1)
			if nl == int(L[i]) {
				continue
			}
			slx += w * v * float32(nl)
			sl2 += w * float32(nl) * float32(nl)
			if sl2 > 0 && slx*slx*suml2 > sumlx*sumlx*sl2 {
				L[i], sumlx, suml2 = int8(nl), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	return sumlx / suml2
}

// affineScale chooses scale and offset of an asymmetric group: integers l in [0, nmax] with
// x ≈ scale·l − off, off ≥ 0, minimising Σ w·|err| (mad) or Σ w·err² over the fan of
// inverse scales (rmin + rdelta·k + nmax)/(max − min), k = 0..nstep, solving the 2×2
// least-squares system for each. weights nil means x². It writes the integers to L (aux is
// scratch of the same length) and returns scale and off. (make_qkx2/3_quants.)
func affineScale(nmax int, x, weights []float32, L, aux []uint8, rmin, rdelta float32, nstep int, mad bool) (scale, off float32) {
	w := func(i int) float32 {
		if weights != nil {
			return weights[i]
		}
		return x[i] * x[i]
	}
	lo, hi := x[0], x[0]
	var sumW, sumX float32
	for i, v := range x {
		lo, hi = min(lo, v), max(hi, v)
		wi := w(i)
		sumW += wi
		sumX += wi * v
	}
	lo = min(lo, 0)
	if !(hi > lo) {
		clear(L)
		return 0, -lo
	}
	errOf := func(s, m float32, q []uint8) float32 {
		var e float32
		for i, v := range x {
			d := s*float32(q[i]) + m - v
			if mad {
				d = abs32(d)
			} else {
				d *= d
			}
			e += w(i) * d
		}
		return e
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	for i, v := range x {
		L[i] = uint8(min(max(nearestInt(iscale*(v-lo)), 0), nmax))
	}
	best := errOf(scale, lo, L)
	for k := 0; k <= nstep; k++ {
		iscale := (rmin + rdelta*float32(k) + float32(nmax)) / (hi - lo)
		var sl, sl2, sxl float32
		for i, v := range x {
			l := min(max(nearestInt(iscale*(v-lo)), 0), nmax)
			aux[i] = uint8(l)
			wi := w(i)
			sl += wi * float32(l)
			sl2 += wi * float32(l) * float32(l)
			sxl += wi * float32(l) * v
		}
		D := sumW*sl2 - sl*sl
		if !(D > 0) {
			continue
		}
		s := (sumW*sxl - sumX*sl) / D
		m := (sl2*sumX - sl*sxl) / D
		if m > 0 {
			m = 0
			s = sxl / sl2
		}
		if e := errOf(s, m, aux); e < best {
			copy(L, aux)
			best, scale, lo = e, s, m
		}
	}
	return scale, -lo
}

// scaleScale quantizes the non-negative sub-block scales (or offsets) x of a super-block to
// integers in [0, nmax] under one super-scale, minimising the weighted error with weights
// qw, and returns the super-scale. It tries inverse scales near nmax/max, then moves single
// integers while that helps (make_qp_quants).
func scaleScale(nmax int, x []float32, L []uint8, qw []float32) float32 {
	var mx float32
	for _, v := range x {
		mx = max(mx, v)
	}
	if !(mx > 0) {
		clear(L)
		return 0
	}
	mse := func(iscale float32) float32 {
		s := 1 / iscale
		var e float32
		for i, v := range x {
			d := v - s*float32(min(nearestInt(iscale*v), nmax))
			e += qw[i] * d * d
		}
		return e
	}
	iscale := float32(nmax) / mx
	best := mse(iscale)
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		t := (0.1*float32(is) + float32(nmax)) / mx
		if e := mse(t); e < best {
			best, iscale = e, t
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := max(min(nearestInt(iscale*v), nmax), 0)
		L[i] = uint8(l)
		sumlx += qw[i] * v * float32(l)
		suml2 += qw[i] * float32(l) * float32(l)
	}
	for try := 0; try < 5; try++ {
		changed := false
		for i, v := range x {
			li := float32(L[i])
			slx := sumlx - qw[i]*v*li
			sl2 := suml2 - qw[i]*li*li
			if !(slx > 0 && sl2 > 0) {
				continue
			}
			nl := max(min(nearestInt(v*sl2/slx), nmax), 0)
			if nl == int(L[i]) {
				continue
			}
			slx += qw[i] * v * float32(nl)
			sl2 += qw[i] * float32(nl) * float32(nl)
			if slx*slx*suml2 > sumlx*sumlx*sl2 {
				L[i], sumlx, suml2 = uint8(nl), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	if !(suml2 > 0) {
		return 0
	}
	return sumlx / suml2
}

// bestIndexIQ4 returns the index of the value of kvaluesIQ4NL nearest x (ties go up).
func bestIndexIQ4(x float32) int {
	v := &kvaluesIQ4NL
	if !(x > float32(v[0])) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x < float32(v[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if x-float32(v[hi-1]) < float32(v[hi])-x {
		return hi - 1
	}
	return hi
}

// iq4Scale chooses the scale of one 32-value group of the non-linear 4-bit grid: from
// −max/values[0], then 2·ntry+1 nearby inverse scales, keeping the scale that minimises the
// weighted error; it writes the grid indices to L. (The search of quantize_row_iq4_nl_impl.)
func iq4Scale(x, weights []float32, L []uint8, ntry int) float32 {
	var amax, mx float32
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, mx = a, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	v0 := float32(kvaluesIQ4NL[0])
	d := -mx / v0
	if ntry <= 0 {
		d = mx / v0
	}
	sums := func(id float32, store bool) (sqx, sq2 float32) {
		for j, v := range x {
			l := bestIndexIQ4(id * v)
			if store {
				L[j] = uint8(l)
			}
			q := float32(kvaluesIQ4NL[l])
			sqx += weights[j] * q * v
			sq2 += weights[j] * q * q
		}
		return sqx, sq2
	}
	sqx, sq2 := sums(1/d, true)
	if sq2 > 0 {
		d = sqx / sq2
	}
	best := d * sqx
	for t := -ntry; t <= ntry; t++ {
		id := (float32(t) + v0) / mx
		qx, q2 := sums(id, false)
		if q2 > 0 && qx*qx > best*q2 {
			d = qx / q2
			best = d * qx
		}
	}
	return d
}
