package tensor

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
)

// This file encodes the ternary types TQ1_0 and TQ2_0 and the lattice types IQ1_S, IQ1_M,
// IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S as llama.cpp's llama-quantize (c392e509) writes
// them, byte for byte: the same searches in the same float32 operations and orders
// (ggml-quants.c's quantize_row_tq1_0_ref, quantize_row_tq2_0_ref and quantize_row_*_impl of
// each i-quant, quirks included), written afresh. The IQ1 and IQ2 types need an importance
// matrix, as llama-quantize requires one for them: without one EncodeRowWeighted reports an
// error; the IQ3 types weigh by x² without one. One difference remains: in an all-zero group
// of 32 (IQ1_S) or 16 (IQ1_M) values ggml stores a shift left over from an earlier row of
// its chunk of rows (uninitialised memory for the first), which a row encoder cannot know;
// decilm stores the shift of the row's previous block (0 in the first). Real weights have no
// such groups.

// ternaryScale returns the largest magnitude of a 256-value block (the scale of TQ1_0 and
// TQ2_0) and its inverse (0 for an all-zero block).
func ternaryScale(x []float32) (d, id float32) {
	for _, v := range x {
		d = max(d, abs32(v))
	}
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// encodeTQ2_0 writes one block_tq2_0: qs[64] holding four 2-bit codes a byte (value
// code−1 ∈ {−1, 0, 1}; byte m of each 32-byte half holds values m, m+32, m+64, m+96 of its
// 128) and the f16 scale, the largest magnitude.
func encodeTQ2_0(blk []byte, x, _ []float32) {
	d, id := ternaryScale(x)
	for j := 0; j < 64; j += 32 {
		for m := 0; m < 32; m++ {
			var q byte
			for n := 0; n < 4; n++ {
				q |= byte(int(roundHalfAway(x[4*j+m+32*n]*id))+1) & 3 << (2 * n)
			}
			blk[j+m] = q
		}
	}
	putF16(blk[64:], d)
}

// tq1Pack stores trits (each code−1 ∈ {−1, 0, 1}, most significant first) as a base-3
// fraction of 256, rounded up, as block_tq1_0 does.
func tq1Pack(q uint16) byte { return byte((q*256 + 242) / 243) }

// encodeTQ1_0 writes one block_tq1_0: qs[48] with five trits a byte (bytes 0..31 hold
// values m, m+32, ..., m+128 of the first 160; bytes 32..47 values m, m+16, ..., m+64 of
// the next 80), qh[4] with four trits a byte (values j, j+4, j+8, j+12 of the last 16) and
// the f16 scale, the largest magnitude.
func encodeTQ1_0(blk []byte, x, _ []float32) {
	d, id := ternaryScale(x)
	trit := func(v float32) uint16 { return uint16(int(roundHalfAway(v*id)) + 1) }
	for m := 0; m < 32; m++ {
		var q uint16
		for n := 0; n < 5; n++ {
			q = 3*q + trit(x[m+32*n])
		}
		blk[m] = tq1Pack(q)
	}
	for m := 0; m < 16; m++ {
		var q uint16
		for n := 0; n < 5; n++ {
			q = 3*q + trit(x[160+m+16*n])
		}
		blk[32+m] = tq1Pack(q)
	}
	for j := 0; j < 4; j++ {
		var q uint16
		for m := 0; m < 4; m++ {
			q = 3*q + trit(x[240+j+4*m])
		}
		blk[48+j] = tq1Pack(3 * q)
	}
	putF16(blk[52:], d)
}

// lattice is the search structure of one lattice type (IQ2_XXS, IQ2_XS, IQ3_XXS, ...):
// its grid points as levels 0..nlev−1 (value 2l+1) of dim coordinates, and for every point
// of {0..nlev−1}^dim the grid index when it is on the grid or, when it is not, the grid
// points nearest it: all those at the nwant smallest squared distances, ordered by distance
// and then index (the neighbour lists of ggml's iq2xs_init_impl and iq3xs_init_impl).
// nlev^dim entries a type (6561 for the 2-bit types, 4096 for the 3-bit ones).
type lattice struct {
	dim, nlev int
	levels    [][8]int8
	// values[j][i] is 2·levels[j][i]+1 as a float32, what the neighbour search multiplies.
	values [][8]float32
	// onGrid[c] is the grid index of the point with base-nlev code c, or −1.
	onGrid []int16
	// near[c] lists the candidate grid indices of an off-grid point.
	near [][]uint16
}

var (
	iq2xsOnce, iq2xxsOnce, iq2sOnce, iq3xxsOnce, iq3sOnce, iq1sOnce sync.Once
	iq2xsLat, iq2xxsLat, iq2sLat, iq3xxsLat, iq3sLat, iq1sLat       *lattice
)

// latticeIQ2XS and the others build their lattices on first use.
func latticeIQ2XS() *lattice {
	iq2xsOnce.Do(func() { iq2xsLat = newLattice(grid8Levels(iq2xsGrid[:]), 8, 3, 2) })
	return iq2xsLat
}

func latticeIQ2XXS() *lattice {
	iq2xxsOnce.Do(func() { iq2xxsLat = newLattice(grid8Levels(iq2xxsGrid[:]), 8, 3, 2) })
	return iq2xxsLat
}

func latticeIQ2S() *lattice {
	iq2sOnce.Do(func() { iq2sLat = newLattice(grid8Levels(iq2sGrid[:]), 8, 3, 1) })
	return iq2sLat
}

// latticeIQ1S is the lattice of IQ1_S and IQ1_M: 2048 points of {−1, 0, 1}^8 (levels 0..2),
// three neighbour distances.
func latticeIQ1S() *lattice {
	iq1sOnce.Do(func() {
		lv := make([][8]int8, len(iq1sGrid))
		for k, g := range iq1sGrid {
			for i := 0; i < 8; i++ {
				lv[k][i] = int8(byte(g>>(8*i))) + 1
			}
		}
		iq1sLat = newLattice(lv, 8, 3, 3)
	})
	return iq1sLat
}

func latticeIQ3XXS() *lattice {
	iq3xxsOnce.Do(func() { iq3xxsLat = newLattice(grid4Levels(iq3xxsGrid[:], 4), 4, 8, 2) })
	return iq3xxsLat
}

func latticeIQ3S() *lattice {
	iq3sOnce.Do(func() { iq3sLat = newLattice(grid4Levels(iq3sGrid[:], 1), 4, 8, 3) })
	return iq3sLat
}

// grid8Levels maps a 2-bit decoding grid (bytes 8, 25, 43) to levels 0..2.
func grid8Levels(grid []uint64) [][8]int8 {
	lv := make([][8]int8, len(grid))
	for k, g := range grid {
		for i := 0; i < 8; i++ {
			switch byte(g >> (8 * i)) {
			case 0x08:
				lv[k][i] = 0
			case 0x19:
				lv[k][i] = 1
			default:
				lv[k][i] = 2
			}
		}
	}
	return lv
}

// grid4Levels maps a 3-bit decoding grid (bytes unit·(2l+1): unit 4 for IQ3_XXS, whose
// last level is 62, not 60; unit 1 for IQ3_S) to levels 0..7.
func grid4Levels(grid []uint32, unit byte) [][8]int8 {
	lv := make([][8]int8, len(grid))
	for k, g := range grid {
		for i := 0; i < 4; i++ {
			lv[k][i] = int8((byte(g>>(8*i))/unit - 1) >> 1)
		}
	}
	return lv
}

// newLattice builds the lattice of grid points with the given levels.
func newLattice(levels [][8]int8, dim, nlev, nwant int) *lattice {
	npts := 1
	for range dim {
		npts *= nlev
	}
	lat := &lattice{dim: dim, nlev: nlev, levels: levels, onGrid: make([]int16, npts), near: make([][]uint16, npts)}
	for i := range lat.onGrid {
		lat.onGrid[i] = -1
	}
	lat.values = make([][8]float32, len(levels))
	for k := range levels {
		lat.onGrid[lat.code(levels[k][:dim])] = int16(k)
		for i := 0; i < dim; i++ {
			lat.values[k][i] = float32(2*levels[k][i] + 1)
		}
	}
	dist := make([]int, len(levels))
	for c := 0; c < npts; c++ {
		if lat.onGrid[c] >= 0 {
			continue
		}
		var pos [8]int8
		for i, r := 0, c; i < dim; i, r = i+1, r/nlev {
			pos[i] = int8(r % nlev)
		}
		for j := range levels {
			d2 := 0
			for i := 0; i < dim; i++ {
				d := 2 * int(levels[j][i]-pos[i])
				d2 += d * d
			}
			dist[j] = d2
		}
		// The nwant smallest distinct distances, each taken whole, nearest first and in
		// index order within a distance (ggml sorts by distance, then index).
		var list []uint16
		last := -1
		for range nwant {
			next := math.MaxInt
			for _, d := range dist {
				if d > last {
					next = min(next, d)
				}
			}
			if next == math.MaxInt {
				break
			}
			for j, d := range dist {
				if d == next {
					list = append(list, uint16(j))
				}
			}
			last = next
		}
		lat.near[c] = list
	}
	return lat
}

// code returns the base-nlev code of dim levels.
func (lat *lattice) code(L []int8) int {
	c := 0
	for i := lat.dim - 1; i >= 0; i-- {
		c = lat.nlev*c + int(L[i])
	}
	return c
}

// round rounds dim values to levels 0..nlev−1 under the inverse scale id and returns their
// code, writing the levels to L.
func (lat *lattice) round(x []float32, id float32, L []int8) int {
	for i := 0; i < lat.dim; i++ {
		L[i] = int8(min(max(nearestInt(0.5*(id*x[i]-1)), 0), lat.nlev-1))
	}
	return lat.code(L)
}

// bestNeighbour returns, among the neighbours of the off-grid point c, the grid point that
// minimises Σ w·(scale·q − x)² (the first on ties) and writes its levels to L
// (iq2_find_best_neighbour, iq3_find_best_neighbour).
func (lat *lattice) bestNeighbour(c int, x, w []float32, scale float32, L []int8) int {
	best, bestD2 := -1, float32(math.MaxFloat32)
	x, w = x[:lat.dim], w[:lat.dim]
	for _, j := range lat.near[c] {
		var d2 float32
		q := &lat.values[j]
		for i := range x {
			diff := scale*q[i] - x[i]
			d2 += w[i] * diff * diff
		}
		if d2 < bestD2 {
			best, bestD2 = int(j), d2
		}
	}
	copy(L[:lat.dim], lat.levels[best][:])
	return best
}

// iq2Signs makes 8 values non-negative for the lattice search and returns the 7 sign bits
// the block stores: the 8th sign is implied by an even count of negatives, so when the count
// is odd the value of least weighted magnitude keeps the wrong sign (it enters the search
// negated).
func iq2Signs(xval, xb, w []float32) byte {
	var s byte
	nflip := 0
	for i := 0; i < 8; i++ {
		if xb[i] >= 0 {
			xval[i] = xb[i]
		} else {
			xval[i] = -xb[i]
			nflip++
			s |= 1 << i
		}
	}
	if nflip%2 == 1 {
		imin, mn := 0, w[0]*xb[0]*xb[0]
		for i := 1; i < 8; i++ {
			if ax := w[i] * xb[i] * xb[i]; ax < mn {
				mn, imin = ax, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// iq2SignGroups runs iq2Signs on each 8 values of xb, one group per byte of signs, filling
// xval with the values the lattice search takes, and returns the largest of them.
func iq2SignGroups(xval, xb, w []float32, signs []byte) float32 {
	for k := range signs {
		signs[k] = iq2Signs(xval[8*k:8*k+8], xb[8*k:8*k+8], w[8*k:8*k+8])
	}
	return maxOf(xval[:8*len(signs)])
}

// absSignGroups fills xval with the magnitudes of xb and signs with a bit per negative
// value, 8 values a byte (the types that store every sign), and returns the largest
// magnitude.
func absSignGroups(xval, xb []float32, signs []byte) float32 {
	for k := range signs {
		for i := 0; i < 8; i++ {
			if v := xb[8*k+i]; v >= 0 {
				xval[8*k+i] = v
			} else {
				xval[8*k+i] = -v
				signs[k] |= 1 << i
			}
		}
	}
	return maxOf(xval[:8*len(signs)])
}

// maxOf returns the largest of x (x not empty).
func maxOf(x []float32) float32 {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	return m
}

// iq2Sums returns Σ w·x·q and Σ w·q² with q = 2L+1.
func iq2Sums(x, w []float32, L []int8) (sumqx, sumq2 float32) {
	for i := range x {
		q := float32(2*L[i] + 1)
		sumqx += w[i] * x[i] * q
		sumq2 += w[i] * q * q
	}
	return sumqx, sumq2
}

// iq2Weights sets the weights of a group, imp·√(σ² + x²), and their square roots, the
// weights of the neighbour search.
func iq2Weights(w, waux, x, imp []float32, sigma2 float32) {
	for i, v := range x {
		w[i] = imp[i] * float32(math.Sqrt(float64(sigma2+v*v)))
		waux[i] = float32(math.Sqrt(float64(w[i])))
	}
}

// iq2Search16 runs the scale search of one 16-value group of IQ2_XS and IQ2_S
// (latticeSearch with 19 inverse scales (5 + 0.1·is)/max over two 8-value halves, redoing
// the halves that were off the grid). It returns the scale and leaves the levels in L.
func iq2Search16(lat *lattice, L *[16]int8, xval, w, waux []float32, mx float32) float32 {
	onGrid := [2]bool{true, true}
	return latticeSearch(lat, L[:], onGrid[:], xval, w, waux, mx, 5, 0.1, 9, false)
}

// latticeSearch is the scale search of the IQ2 and IQ3 encoders for one group of len(L)
// values in parts of lat.dim: 2·nis+1 inverse scales (base + step·is)/max, each rounding
// every part to the lattice (the best neighbour for points off it) and keeping the scale of
// least weighted error with its levels (L) and on-grid flags (onGrid, one per part, which
// keep the caller's values where no scale improves on zero error); then the parts off the
// grid (every part with redoAll) are redone under the best scale and the scale refitted.
// It returns the scale.
func latticeSearch(lat *lattice, L []int8, onGrid []bool, xval, w, waux []float32, mx, base, step float32, nis int, redoAll bool) float32 {
	var lbuf [32]int8
	var obuf [8]bool
	laux, on := lbuf[:len(L)], obuf[:len(onGrid)]
	d := lat.dim
	var best float32
	scale := mx / base
	for is := -nis; is <= nis; is++ {
		id := (base + float32(is)*step) / mx
		thisScale := 1 / id
		for k := range on {
			c := lat.round(xval[d*k:d*k+d], id, laux[d*k:d*k+d])
			on[k] = lat.onGrid[c] >= 0
			if !on[k] {
				lat.bestNeighbour(c, xval[d*k:d*k+d], waux[d*k:d*k+d], thisScale, laux[d*k:d*k+d])
			}
		}
		sumqx, sumq2 := iq2Sums(xval, w, laux)
		if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
			scale = sumqx / sumq2
			best = scale * sumqx
			copy(L, laux)
			copy(onGrid, on)
		}
	}
	off := false
	for _, o := range onGrid {
		off = off || !o
	}
	if off && scale > 0 {
		id := 1 / scale
		for k := range onGrid {
			if !redoAll && onGrid[k] {
				continue
			}
			c := lat.round(xval[d*k:d*k+d], id, L[d*k:d*k+d])
			if lat.onGrid[c] < 0 {
				lat.bestNeighbour(c, xval[d*k:d*k+d], waux[d*k:d*k+d], scale, L[d*k:d*k+d])
			}
		}
		if sumqx, sumq2 := iq2Sums(xval, w, L); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	return scale
}

// encodeIQ2XS writes one block_iq2_xs: f16 d, qs[32] (per 8 values a 9-bit grid index and 7
// sign bits), scales[8] (a 4-bit scale per 16 values, two a byte). Each group of 16 tries 19
// scales around max/5, rounding both halves to the lattice (the best neighbour for points
// off it) and keeping the scale of least weighted error; halves that were off the grid are
// then redone under the best scale. L carries over between groups, as in ggml.
func encodeIQ2XS(blk []byte, x, imp []float32, L *[16]int8) {
	lat := latticeIQ2XS()
	var scales [16]float32
	var w, waux, xval [16]float32
	var q2 [32]uint16
	sigma2 := sumSquares(x) / 256
	var maxScale float32
	for ib := 0; ib < 16; ib++ {
		xb := x[16*ib : 16*ib+16]
		iq2Weights(w[:], waux[:], xb, imp[16*ib:], sigma2)
		var signs [2]byte
		mx := iq2SignGroups(xval[:], xb, w[:], signs[:])
		if mx < groupMaxEps {
			scales[ib] = 0
			*L = [16]int8{}
			continue
		}
		scale := iq2Search16(lat, L, xval[:], w[:], waux[:], mx)
		if scale < 0 {
			scale = -scale
			signs[0], signs[1] = ^signs[0]&127, ^signs[1]&127
		}
		for k := 0; k < 2; k++ {
			g := lat.onGrid[lat.code(L[8*k:8*k+8])]
			q2[2*ib+k] = uint16(g) | uint16(signs[k])<<9
		}
		scales[ib] = scale
		maxScale = max(maxScale, scale)
	}
	clear(blk)
	if maxScale == 0 {
		return
	}
	d := maxScale / 31
	putF16(blk, d)
	id := 1 / d
	for ib, s := range scales {
		l := byte(min(max(nearestInt(0.5*(id*s-1)), 0), 15))
		blk[66+ib/2] |= l << (4 * (ib % 2))
	}
	for i, q := range q2 {
		binary.LittleEndian.PutUint16(blk[2+2*i:], q)
	}
}

// encodeIQ2XSRow writes a row of block_iq2_xs.
func encodeIQ2XSRow(dst []byte, x, imp []float32) {
	var L [16]int8
	for b := 0; b < len(x)/256; b++ {
		encodeIQ2XS(dst[74*b:74*b+74], x[256*b:256*b+256], imp[256*b:256*b+256], &L)
	}
}

// qpScaleIQ2 chooses the first scale of an IQ2_XXS group: levels 0..nmax of the magnitudes
// x (one of which may be negative, a sign the block cannot store) under one scale,
// minimising the weighted error; it tries inverse scales near nmax/max and then moves single
// levels while that helps. It is ggml's make_qp_quants, whose levels are bytes: a negative
// level wraps to 256+l where the code reads it back, and this does the same so that the
// scale is ggml's to the bit.
func qpScaleIQ2(nmax int, x, w []float32) float32 {
	var mx float32
	for _, v := range x {
		mx = max(mx, v)
	}
	if mx == 0 {
		return 0
	}
	var L [32]uint8
	iscale := float32(nmax) / mx
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		L[i] = uint8(nearestInt(iscale * v))
		diff := v - scale*float32(L[i])
		bestMSE += w[i] * diff * diff
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		t := (0.1*float32(is) + float32(nmax)) / mx
		s := 1 / t
		var mse float32
		for i, v := range x {
			l := min(nmax, nearestInt(t*v))
			diff := v - s*float32(l)
			mse += w[i] * diff * diff
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, t
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(iscale*v))
		L[i] = uint8(l)
		sumlx += w[i] * v * float32(l)
		suml2 += w[i] * float32(l) * float32(l)
	}
	for try := 0; try < 5; try++ {
		changed := false
		for i, v := range x {
			li := float32(L[i])
			slx := sumlx - w[i]*v*li
			sl2 := suml2 - w[i]*li*li
			if !(slx > 0 && sl2 > 0) {
				continue
			}
			nl := min(nmax, nearestInt(v*sl2/slx))
			if nl == int(L[i]) {
				continue
			}
			slx += w[i] * v * float32(nl)
			sl2 += w[i] * float32(nl) * float32(nl)
			if slx*slx*suml2 > sumlx*sumlx*sl2 {
				L[i], sumlx, suml2 = uint8(nl), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	return sumlx / suml2
}

// encodeIQ2XXS writes one block_iq2_xxs: f16 d and per 32 values two uint32s, the first
// holding four 8-bit grid indices, the second four 7-bit sign groups and a 4-bit scale in
// its top bits. Each group of 32 starts from make_qp_quants' scale, tries 13 scales around
// it, rounding the four 8-value parts to the lattice (the best neighbour for points off it),
// keeps the scale of least weighted error and redoes all four parts under it. L carries
// over between groups, as in ggml.
func encodeIQ2XXS(blk []byte, x, imp []float32, L *[32]int8) {
	lat := latticeIQ2XXS()
	var scales [8]float32
	var w, waux, xval [32]float32
	var Laux [32]int8
	var q2 [16]uint32
	sigma2 := sumSquares(x) / 256
	var maxScale float32
	for ib := 0; ib < 8; ib++ {
		xb := x[32*ib : 32*ib+32]
		iq2Weights(w[:], waux[:], xb, imp[32*ib:], sigma2)
		var signs [4]byte
		mx := iq2SignGroups(xval[:], xb, w[:], signs[:])
		if mx < groupMaxEps {
			scales[ib] = 0
			*L = [32]int8{}
			continue
		}
		scale := qpScaleIQ2(4, xval[:], w[:])
		effMax := scale * 3
		var best float32
		for is := -6; is <= 6; is++ {
			id := (5 + float32(is)*0.1) / effMax
			thisScale := 1 / id
			for k := 0; k < 4; k++ {
				if c := lat.round(xval[8*k:8*k+8], id, Laux[8*k:8*k+8]); lat.onGrid[c] < 0 {
					lat.bestNeighbour(c, xval[8*k:8*k+8], waux[8*k:8*k+8], thisScale, Laux[8*k:8*k+8])
				}
			}
			sumqx, sumq2 := iq2Sums(xval[:], w[:], Laux[:])
			if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
				scale = sumqx / sumq2
				best = scale * sumqx
				*L = Laux
			}
		}
		if scale > 0 {
			id := 1 / scale
			for k := 0; k < 4; k++ {
				c := lat.round(xval[8*k:8*k+8], id, L[8*k:8*k+8])
				if lat.onGrid[c] < 0 {
					lat.bestNeighbour(c, xval[8*k:8*k+8], waux[8*k:8*k+8], scale, L[8*k:8*k+8])
				}
			}
			if sumqx, sumq2 := iq2Sums(xval[:], w[:], L[:]); sumq2 > 0 {
				scale = sumqx / sumq2
			}
		}
		if scale < 0 {
			scale = -scale
			for k := range signs {
				signs[k] = ^signs[k] & 127
			}
		}
		for k := 0; k < 4; k++ {
			g := lat.onGrid[lat.code(L[8*k:8*k+8])]
			q2[2*ib] |= uint32(g) << (8 * k)
			q2[2*ib+1] |= uint32(signs[k]) << (7 * k)
		}
		scales[ib] = scale
		maxScale = max(maxScale, scale)
	}
	clear(blk)
	if maxScale == 0 {
		return
	}
	d := maxScale / 31
	putF16(blk, d)
	id := 1 / d
	for ib, s := range scales {
		q2[2*ib+1] |= uint32(min(max(nearestInt(0.5*(id*s-1)), 0), 15)) << 28
	}
	for i, q := range q2 {
		binary.LittleEndian.PutUint32(blk[2+4*i:], q)
	}
}

// encodeIQ2XXSRow writes a row of block_iq2_xxs.
func encodeIQ2XXSRow(dst []byte, x, imp []float32) {
	var L [32]int8
	for b := 0; b < len(x)/256; b++ {
		encodeIQ2XXS(dst[66*b:66*b+66], x[256*b:256*b+256], imp[256*b:256*b+256], &L)
	}
}

// iq3Weights sets the weights of a group of the 3-bit types, imp·√(σ² + x²) with an
// importance matrix and x² without, and their square roots.
func iq3Weights(w, waux, x, imp []float32, sigma2 float32) {
	if imp == nil {
		for i, v := range x {
			w[i] = v * v
			waux[i] = float32(math.Sqrt(float64(w[i])))
		}
		return
	}
	iq2Weights(w, waux, x, imp, sigma2)
}

// iq3State is what ggml's IQ3 quantizers keep between the 32-value groups of a row: the
// levels and on-grid flags of the last group whose search found a scale.
type iq3State struct {
	L      [32]int8
	onGrid [8]bool
}

// iq3Search runs the scale search of one 32-value group of IQ3_XXS (redoAll = false:
// on-grid flags carry over, only off-grid parts are redone) or IQ3_S (fresh flags, every
// part redone): latticeSearch with 2·nis+1 inverse scales (15 + 0.2·is)/max over eight
// 4-value parts. It returns the scale and leaves the levels in st.L.
func iq3Search(lat *lattice, st *iq3State, xval, w, waux []float32, mx float32, nis int, redoAll bool) float32 {
	if redoAll {
		st.onGrid = [8]bool{}
	}
	return latticeSearch(lat, st.L[:], st.onGrid[:], xval, w, waux, mx, 15, 0.2, nis, redoAll)
}

// encodeIQ3XXS writes one block_iq3_xxs: f16 d (max scale/31, stored ×1.0125 as ggml
// does) and qs[96]: 64 8-bit grid indices (4 values each), then per 32 values a uint32 of
// four 7-bit sign groups and a 4-bit scale in the top bits.
func encodeIQ3XXS(blk []byte, x, imp []float32, st *iq3State) {
	lat := latticeIQ3XXS()
	var scales [8]float32
	var w, waux, xval [32]float32
	var sas [8]uint32
	clear(blk)
	sigma2 := 2 * sumSquares(x) / 256
	var maxScale float32
	for ib := 0; ib < 8; ib++ {
		xb := x[32*ib : 32*ib+32]
		var ibImp []float32
		if imp != nil {
			ibImp = imp[32*ib:]
		}
		iq3Weights(w[:], waux[:], xb, ibImp, sigma2)
		var signs [4]byte
		mx := iq2SignGroups(xval[:], xb, w[:], signs[:])
		if mx < 1e-8 {
			scales[ib] = 0
			st.L = [32]int8{}
			continue
		}
		scale := iq3Search(lat, st, xval[:], w[:], waux[:], mx, 15, false)
		if scale < 0 {
			scale = -scale
			for k := range signs {
				signs[k] = ^signs[k] & 127
			}
		}
		for k := 0; k < 8; k++ {
			blk[2+8*ib+k] = byte(lat.onGrid[lat.code(st.L[4*k:4*k+4])])
		}
		sas[ib] = uint32(signs[0]) | uint32(signs[1])<<7 | uint32(signs[2])<<14 | uint32(signs[3])<<21
		scales[ib] = scale
		maxScale = max(maxScale, scale)
	}
	if maxScale == 0 {
		clear(blk)
		return
	}
	d := maxScale / 31
	putF16(blk, d*1.0125)
	id := 1 / d
	for ib, s := range scales {
		l := uint32(min(max(nearestInt(0.5*(id*s-1)), 0), 15))
		binary.LittleEndian.PutUint32(blk[66+4*ib:], sas[ib]|l<<28)
	}
}

// encodeIQ3XXSRow writes a row of block_iq3_xxs (imp may be nil).
func encodeIQ3XXSRow(dst []byte, x, imp []float32) {
	var st iq3State
	for b := 0; b < len(x)/256; b++ {
		var ib []float32
		if imp != nil {
			ib = imp[256*b : 256*b+256]
		}
		encodeIQ3XXS(dst[98*b:98*b+98], x[256*b:256*b+256], ib, &st)
	}
}

// encodeIQ3S writes one block_iq3_s: f16 d (max scale/31, stored ×1.033 as ggml does),
// qs[64] (the low 8 bits of 9-bit grid indices, 4 values each), qh[8] (their ninth bits, a
// byte per 32 values), signs[32] (a bit per value) and scales[4] (a 4-bit scale per 32
// values, two a byte).
func encodeIQ3S(blk []byte, x, imp []float32, st *iq3State) {
	lat := latticeIQ3S()
	var scales [8]float32
	var w, waux, xval [32]float32
	clear(blk)
	sigma2 := 2 * sumSquares(x) / 256
	var maxScale float32
	// ggml moves its grid-index and sign pointers on only after a group that is not all
	// zero, so the groups after an all-zero one are stored one place early (their grid
	// indices' ninth bits stay in place): filled counts the groups stored.
	filled := 0
	for ib := 0; ib < 8; ib++ {
		xb := x[32*ib : 32*ib+32]
		var ibImp []float32
		if imp != nil {
			ibImp = imp[32*ib:]
		}
		iq3Weights(w[:], waux[:], xb, ibImp, sigma2)
		var signs [4]byte
		mx := absSignGroups(xval[:], xb, signs[:])
		if mx == 0 {
			scales[ib] = 0
			continue
		}
		scale := iq3Search(lat, st, xval[:], w[:], waux[:], mx, 9, true)
		if scale < 0 {
			scale = -scale
			for k := range signs {
				signs[k] = ^signs[k]
			}
		}
		for k := 0; k < 8; k++ {
			g := int(lat.onGrid[lat.code(st.L[4*k:4*k+4])])
			blk[2+8*filled+k] = byte(g)
			blk[66+ib] |= byte(g>>8) << k
		}
		copy(blk[74+4*filled:], signs[:])
		filled++
		scales[ib] = scale
		maxScale = max(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	d := maxScale / 31
	putF16(blk, d*1.033)
	id := 1 / d
	for ib := 0; ib < 8; ib += 2 {
		l1 := min(max(nearestInt(0.5*(id*scales[ib]-1)), 0), 15)
		l2 := min(max(nearestInt(0.5*(id*scales[ib+1]-1)), 0), 15)
		blk[106+ib/2] = byte(l1 | l2<<4)
	}
}

// encodeIQ3SRow writes a row of block_iq3_s (imp may be nil).
func encodeIQ3SRow(dst []byte, x, imp []float32) {
	var st iq3State
	for b := 0; b < len(x)/256; b++ {
		var ib []float32
		if imp != nil {
			ib = imp[256*b : 256*b+256]
		}
		encodeIQ3S(dst[110*b:110*b+110], x[256*b:256*b+256], ib, &st)
	}
}

// encodeIQ2S writes one block_iq2_s: f16 d (max scale/31, stored ×0.9875 as ggml does),
// qs[64] (the low 8 bits of 32 10-bit grid indices, 8 values each, then 32 sign bytes, a bit
// per value), qh[8] (the indices' top 2 bits) and scales[8] (a 4-bit scale per 16 values, two
// a byte). The search is IQ2_XS's on the 1024-point lattice with one neighbour distance;
// without an importance matrix the weights are σ²/4 + x².
func encodeIQ2S(blk []byte, x, imp []float32, L *[16]int8) {
	lat := latticeIQ2S()
	var scales [16]float32
	var w, waux, xval [16]float32
	clear(blk)
	sigma2 := 2 * sumSquares(x) / 256
	var maxScale float32
	for ib := 0; ib < 16; ib++ {
		xb := x[16*ib : 16*ib+16]
		if imp != nil {
			iq2Weights(w[:], waux[:], xb, imp[16*ib:], sigma2)
		} else {
			for i, v := range xb {
				w[i] = 0.25*sigma2 + v*v
				waux[i] = float32(math.Sqrt(float64(w[i])))
			}
		}
		var signs [2]byte
		mx := absSignGroups(xval[:], xb, signs[:])
		if mx < 1e-8 {
			scales[ib] = 0
			continue
		}
		scale := iq2Search16(lat, L, xval[:], w[:], waux[:], mx)
		if scale < 0 {
			scale = -scale
			signs[0], signs[1] = ^signs[0], ^signs[1]
		}
		for k := 0; k < 2; k++ {
			g := int(lat.onGrid[lat.code(L[8*k:8*k+8])])
			i8 := 2*ib + k
			blk[2+i8] = byte(g)
			blk[66+i8/4] |= byte(g>>8) << (2 * (i8 % 4))
			blk[34+i8] = signs[k]
		}
		scales[ib] = scale
		maxScale = max(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	d := maxScale / 31
	putF16(blk, d*0.9875)
	id := 1 / d
	for ib, s := range scales {
		l := byte(min(max(nearestInt(0.5*(id*s-1)), 0), 15))
		blk[74+ib/2] |= l << (4 * (ib % 2))
	}
}

// encodeIQ2SRow writes a row of block_iq2_s.
func encodeIQ2SRow(dst []byte, x, imp []float32) {
	var L [16]int8
	for b := 0; b < len(x)/256; b++ {
		var ib []float32
		if imp != nil {
			ib = imp[256*b : 256*b+256]
		}
		encodeIQ2S(dst[82*b:82*b+82], x[256*b:256*b+256], ib, &L)
	}
}

// iq1Values are the three values of each shift direction (+1: x_p, −1: x_m): ±1 and 0
// moved by iq1Delta (IQ1S_DELTA, 1/8).
var iq1Values = [2][3]float32{{-1 + iq1Delta, iq1Delta, 1 + iq1Delta}, {-1 - iq1Delta, -iq1Delta, 1 - iq1Delta}}

// iq1Split finds, for the values x of a group sorted ascending (order[j] the position of the
// j-th smallest), the two boundaries that split them into the three levels and the shift
// direction that maximise (Σ w·x·q)²/Σ w·q², exhaustively over prefix sums, and returns the
// levels in L (by position), the scale and the shift (+1 or −1). (The exact search of
// quantize_row_iq1_s_impl.)
func iq1Split(x, w []float32, order []int, L []int8) (scale float32, shift int) {
	n := len(x)
	var sumx, sumw [33]float32
	for j := 0; j < n; j++ {
		i := order[j]
		sumx[j+1] = sumx[j] + w[i]*x[i]
		sumw[j+1] = sumw[j] + w[i]
	}
	best := -float32(math.SmallestNonzeroFloat32)
	for _, v := range x {
		scale = max(scale, abs32(v))
	}
	b1, b2 := -1, -1
	for i1 := 0; i1 <= n; i1++ {
		for i2 := i1; i2 <= n; i2++ {
			for si, xx := range iq1Values {
				sumqx := (sumx[i1]-sumx[0])*xx[0] + (sumx[i2]-sumx[i1])*xx[1] + (sumx[n]-sumx[i2])*xx[2]
				sumq2 := (sumw[i1]-sumw[0])*xx[0]*xx[0] + (sumw[i2]-sumw[i1])*xx[1]*xx[1] + (sumw[n]-sumw[i2])*xx[2]*xx[2]
				if sumq2 > 0 && sumqx*sumqx > best*sumq2 {
					scale = sumqx / sumq2
					best = scale * sumqx
					b1, b2, shift = i1, i2, 1-2*si
				}
			}
		}
	}
	for j := 0; j < n; j++ {
		switch {
		case j < b1:
			L[order[j]] = 0
		case j < b2:
			L[order[j]] = 1
		default:
			L[order[j]] = 2
		}
	}
	if scale < 0 {
		for j := range L[:n] {
			L[j] = 2 - L[j]
		}
		scale, shift = -scale, -shift
	}
	return scale, shift
}

// iq1Neighbour returns, among the neighbours of the off-grid point c, the grid point that
// minimises Σ w·(scale·xx[l] − x)² (the first on ties), writing its levels to L
// (iq1_find_best_neighbour2).
func (lat *lattice) iq1Neighbour(c int, x, w []float32, scale float32, xx *[3]float32, L []int8) int {
	best, bestD2 := -1, float32(math.MaxFloat32)
	for _, j := range lat.near[c] {
		var d2 float32
		for i := 0; i < 8; i++ {
			diff := scale*xx[lat.levels[j][i]] - x[i]
			d2 += w[i] * diff * diff
		}
		if d2 < bestD2 {
			best, bestD2 = int(j), d2
		}
	}
	copy(L[:8], lat.levels[best][:])
	return best
}

// sortedOrder returns the positions of x in ascending order of value (stable: equal
// values keep their order, as glibc's merge-sorting qsort leaves them).
func sortedOrder(x []float32, order []int) {
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case x[a] < x[b]:
			return -1
		case x[a] > x[b]:
			return 1
		}
		return 0
	})
}

// encodeIQ1S writes one block_iq1_s: f16 d (max scale/15, stored ×1.125 as ggml does),
// qs[32] (the low 8 bits of 32 11-bit grid indices, 8 values each) and qh[8] (per 32 values
// a uint16: the indices' top 3 bits, then a 3-bit scale and the shift's sign bit). shifts
// carries over between groups: an all-zero group stores the shift of the group before, as
// ggml does.
func encodeIQ1S(blk []byte, x, imp []float32, shifts *[8]int) {
	lat := latticeIQ1S()
	var scales [8]float32
	var w [32]float32
	var L [32]int8
	var order [32]int
	var qh [8]uint16
	clear(blk)
	sigma2 := 2 * sumSquares(x) / 256
	var maxScale float32
	for ib := 0; ib < 8; ib++ {
		xb := x[32*ib : 32*ib+32]
		for i, v := range xb {
			w[i] = imp[32*ib+i] * float32(math.Sqrt(float64(sigma2+v*v)))
		}
		var mx float32
		for _, v := range xb {
			mx = max(mx, abs32(v))
		}
		if mx < 1e-12 {
			scales[ib] = 0
			continue
		}
		sortedOrder(xb, order[:])
		scale, shift := iq1Split(xb, w[:], order[:], L[:])
		xx := &iq1Values[(1-shift)/2]
		var index [4]int
		onGrid := true
		for k := 0; k < 4; k++ {
			c := lat.code(L[8*k : 8*k+8])
			if g := lat.onGrid[c]; g >= 0 {
				index[k] = int(g)
			} else {
				onGrid = false
				index[k] = lat.iq1Neighbour(c, xb[8*k:8*k+8], w[8*k:8*k+8], scale, xx, L[8*k:8*k+8])
			}
		}
		if !onGrid {
			var sumqx, sumq2 float32
			for k := 0; k < 4; k++ {
				for j := 0; j < 8; j++ {
					wj := w[8*k+j]
					q := xx[lat.levels[index[k]][j]]
					sumqx += wj * q * xb[8*k+j]
					sumq2 += wj * q * q
				}
			}
			if sumqx > 0 && sumq2 > 0 {
				scale = sumqx / sumq2
			}
		}
		var h uint16
		for k := 0; k < 4; k++ {
			blk[2+4*ib+k] = byte(index[k])
			h |= uint16(index[k]>>8) << (3 * k)
		}
		qh[ib] = h
		scales[ib] = scale
		shifts[ib] = shift
		maxScale = max(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	d := maxScale / 15
	putF16(blk, d*1.125)
	id := 1 / d
	for ib, s := range scales {
		l := uint16(min(max(nearestInt(0.5*(id*s-1)), 0), 7))
		if shifts[ib] == -1 {
			l |= 8
		}
		binary.LittleEndian.PutUint16(blk[34+2*ib:], qh[ib]|l<<12)
	}
}

// encodeIQ1SRow writes a row of block_iq1_s.
func encodeIQ1SRow(dst []byte, x, imp []float32) {
	var shifts [8]int
	for b := 0; b < len(x)/256; b++ {
		encodeIQ1S(dst[50*b:50*b+50], x[256*b:256*b+256], imp[256*b:256*b+256], &shifts)
	}
}

// iq1mMasks are block_iq1_m's shift bits per 16 values for the four shift pairs (first 8
// values +/−, last 8 +/−).
var iq1mMasks = [4]byte{0x00, 0x80, 0x08, 0x88}

// iq1mValues returns the values of part k (0 or 1) of a 16-value IQ1_M group with shift pair
// sk: 0 = (+,+), 1 = (+,−), 2 = (−,+), 3 = (−,−).
func iq1mValues(sk, k int) *[3]float32 {
	if k == 0 && sk < 2 || k == 1 && sk%2 == 0 {
		return &iq1Values[0]
	}
	return &iq1Values[1]
}

// iq1mWeights sets the weights of a 16-value IQ1_M group.
func iq1mWeights(w, xb, imp []float32, sigma2 float32) {
	for i, v := range xb {
		if imp != nil {
			w[i] = imp[i] * float32(math.Sqrt(float64(sigma2+v*v)))
		} else {
			w[i] = v * v
		}
	}
}

// encodeIQ1M writes one block_iq1_m: qs[32] (the low 8 bits of 32 11-bit grid indices),
// qh[16] (per 16 values the two indices' top 3 bits and the two shift signs) and scales[8]
// (four uint16s, each holding four 3-bit group scales and one nibble of the f16 super-scale,
// which is refitted to the stored codes and scaled ×1.1125 as ggml does). The split search is
// IQ1_S's with a shift direction per 8 values, summed afresh for each split in sorted order,
// as quantize_row_iq1_m_impl does. shifts carries over between groups: an all-zero group
// stores the shift of the group before, as ggml does.
func encodeIQ1M(blk []byte, x, imp []float32, shifts *[16]int) {
	lat := latticeIQ1S()
	var scales [16]float32
	var w [16]float32
	var L [16]int8
	var order [16]int
	clear(blk)
	qs, qh := blk[0:32], blk[32:48]
	sigma2 := 2 * sumSquares(x) / 256
	var maxScale float32
	g16 := func(ib int) []float32 {
		if imp == nil {
			return nil
		}
		return imp[16*ib : 16*ib+16]
	}
	for ib := 0; ib < 16; ib++ {
		xb := x[16*ib : 16*ib+16]
		iq1mWeights(w[:], xb, g16(ib), sigma2)
		var mx float32
		for _, v := range xb {
			mx = max(mx, abs32(v))
		}
		if mx < 1e-7 {
			scales[ib] = 0
			continue
		}
		sortedOrder(xb, order[:])
		best := -float32(math.SmallestNonzeroFloat32)
		scale := mx
		b1, b2, bk := -1, -1, -1
		for i1 := 0; i1 <= 16; i1++ {
			for i2 := i1; i2 <= 16; i2++ {
				var sumqx, sumq2 [4]float32
				for j := 0; j < 16; j++ {
					lv := 2
					if j < i1 {
						lv = 0
					} else if j < i2 {
						lv = 1
					}
					i := order[j]
					p, m := iq1Values[0][lv], iq1Values[1][lv]
					wp, wm := w[i]*p, w[i]*m
					if i < 8 {
						sumqx[0] += wp * xb[i]
						sumqx[1] += wp * xb[i]
						sumqx[2] += wm * xb[i]
						sumqx[3] += wm * xb[i]
						sumq2[0] += wp * p
						sumq2[1] += wp * p
						sumq2[2] += wm * m
						sumq2[3] += wm * m
					} else {
						sumqx[0] += wp * xb[i]
						sumqx[2] += wp * xb[i]
						sumqx[1] += wm * xb[i]
						sumqx[3] += wm * xb[i]
						sumq2[0] += wp * p
						sumq2[2] += wp * p
						sumq2[1] += wm * m
						sumq2[3] += wm * m
					}
				}
				for k := 0; k < 4; k++ {
					if sumq2[k] > 0 && sumqx[k]*sumqx[k] > best*sumq2[k] {
						scale = sumqx[k] / sumq2[k]
						best = scale * sumqx[k]
						b1, b2, bk = i1, i2, k
					}
				}
			}
		}
		for j := 0; j < 16; j++ {
			switch {
			case j < b1:
				L[order[j]] = 0
			case j < b2:
				L[order[j]] = 1
			default:
				L[order[j]] = 2
			}
		}
		if scale < 0 {
			for j := range L {
				L[j] = 2 - L[j]
			}
			scale = -scale
			bk = 3 - bk
		}
		var index [2]int
		onGrid := true
		for k := 0; k < 2; k++ {
			c := lat.code(L[8*k : 8*k+8])
			if g := lat.onGrid[c]; g >= 0 {
				index[k] = int(g)
			} else {
				onGrid = false
				index[k] = lat.iq1Neighbour(c, xb[8*k:8*k+8], w[8*k:8*k+8], scale, iq1mValues(bk, k), L[8*k:8*k+8])
			}
		}
		if !onGrid {
			var sumqx, sumq2 float32
			for k := 0; k < 2; k++ {
				xx := iq1mValues(bk, k)
				for j := 0; j < 8; j++ {
					wj := w[8*k+j]
					q := xx[lat.levels[index[k]][j]]
					sumqx += wj * q * xb[8*k+j]
					sumq2 += wj * q * q
				}
			}
			if sumqx > 0 && sumq2 > 0 {
				scale = sumqx / sumq2
			}
		}
		qs[2*ib], qs[2*ib+1] = byte(index[0]), byte(index[1])
		qh[ib] = byte(index[0]>>8) | byte(index[1]>>8)<<4
		scales[ib] = scale
		shifts[ib] = bk
		maxScale = max(maxScale, scale)
	}
	if maxScale == 0 {
		return
	}
	var sc [4]uint16
	d := maxScale / 15
	id := 1 / d
	var sumqx, sumq2 float32
	for ib := 0; ib < 16; ib++ {
		l := min(max(nearestInt(0.5*(id*scales[ib]-1)), 0), 7)
		sc[ib/4] |= uint16(l) << (3 * (ib % 4))
		qh[ib] |= iq1mMasks[shifts[ib]]
		xb := x[16*ib : 16*ib+16]
		iq1mWeights(w[:], xb, g16(ib), sigma2)
		for k := 0; k < 2; k++ {
			xx := iq1mValues(shifts[ib], k)
			g := int(qs[2*ib+k]) | int(qh[ib])<<(8-4*k)&0x700
			for j := 0; j < 8; j++ {
				wj := w[8*k+j]
				q := xx[lat.levels[g][j]] * float32(2*l+1)
				sumqx += wj * q * xb[8*k+j]
				sumq2 += wj * q * q
			}
		}
	}
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	u := F32ToF16(d * 1.1125)
	sc[0] |= (u & 0x000f) << 12
	sc[1] |= (u & 0x00f0) << 8
	sc[2] |= (u & 0x0f00) << 4
	sc[3] |= u & 0xf000
	for i, v := range sc {
		binary.LittleEndian.PutUint16(blk[48+2*i:], v)
	}
}

// encodeIQ1MRow writes a row of block_iq1_m (imp may be nil).
func encodeIQ1MRow(dst []byte, x, imp []float32) {
	var shifts [16]int
	for b := 0; b < len(x)/256; b++ {
		var ib []float32
		if imp != nil {
			ib = imp[256*b : 256*b+256]
		}
		encodeIQ1M(dst[56*b:56*b+56], x[256*b:256*b+256], ib, &shifts)
	}
}
