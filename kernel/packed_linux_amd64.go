//go:build !purego

package kernel

import (
	"sync"
	"unsafe"

	"github.com/decilm/decilm/tensor"
)

// pkInlineQ4 is the most tiles of activation rows for which a Q4_0 group is unpacked
// inside the tile kernel, once per tile, rather than once ahead into a buffer.
const pkInlineQ4 = 2

// pkActivations holds one call's activations, prepared for the packed kernels.
type pkActivations struct {
	m, k, nt     int
	quantScratch           // q, d: the rows quantized by QuantizeQ8
	dt           []float32 // m > 1: per tile of 16 rows, per block, the 16 rows' scales (0 past m)
	a            []int8    // m > 1: per tile, per block, the 16 rows' values (pkTile's A tiles)
	xu           []int8    // m = 1: x + 128 as unsigned bytes (pkVecQ8)
	cx           []int32   // m = 1: 8·Σx per block (pkVecQ4)
}

var pkActPool = sync.Pool{New: func() any { return new(pkActivations) }}

// prepare quantizes the m rows of x (k values each) and lays them out for the kernels
// of jobs' weight types.
func (a *pkActivations) prepare(p *Pool, x []float32, m, k int, jobs []pkJob) {
	nb := k / 32
	nt := (m + 15) / 16
	a.m, a.k, a.nt = m, k, nt
	if m == 1 {
		p.quantizeRows(&a.quantScratch, x, m, k)
		var q8, q4 bool
		for _, j := range jobs {
			q8, q4 = q8 || j.dt == tensor.Q8_0, q4 || j.dt == tensor.Q4_0
		}
		a.xu, a.cx = grow(a.xu, k), grow(a.cx, nb)
		if q8 {
			for i, v := range a.q {
				a.xu[i] = v ^ -128
			}
		}
		if !q4 {
			return
		}
		for b := range a.cx {
			var s int32
			for _, v := range a.q[32*b : 32*b+32] {
				s += int32(v)
			}
			a.cx[b] = 8 * s
		}
		return
	}
	a.dt, a.a = grow(a.dt, nt*nb*16), grow(a.a, nt*nb*512)
	a.q, a.d = grow(a.q, m*k), grow(a.d, m*nb)
	// Each thread takes a range of blocks of every row: it quantizes them and lays
	// them out, so that the tiles' lines of scales are each written by one thread.
	lay := func(lo, hi int) {
		for i := 0; i < nt*16; i++ {
			T, t := i/16, i%16
			if i >= m { // rows past m: zeros
				for b := lo; b < hi; b++ {
					a.dt[(T*nb+b)*16+t] = 0
					*(*[32]int8)(a.a[(T*nb+b)*512+32*t:]) = [32]int8{}
				}
				continue
			}
			QuantizeQ8(a.q[i*k+32*lo:i*k+32*hi], a.d[i*nb+lo:i*nb+hi], x[i*k+32*lo:i*k+32*hi])
			for b := lo; b < hi; b++ {
				a.dt[(T*nb+b)*16+t] = a.d[i*nb+b]
				*(*[32]int8)(a.a[(T*nb+b)*512+32*t:]) = *(*[32]int8)(a.q[i*k+32*b:])
			}
		}
	}
	if m*k < 1<<14 {
		lay(0, nb)
	} else {
		p.Run(nb, lay)
	}
}

// grow returns s resized to n elements, reallocated when its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// pkScratch is one thread's buffers for the tile kernels.
type pkScratch struct {
	cbuf []int32   // eight 16×16 int32 tiles, then four unpacked Q4_0 blocks
	res  []float32 // 16×16 results per activation tile, for partial tiles
	q    []int8    // a Q4_0 group unpacked to int8
}

var pkScratchPool = sync.Pool{New: func() any { return new(pkScratch) }}

// matMulsPacked runs the products of jobs, which share x (m rows of k values): x is
// prepared once, and the 16-row groups of all the weights are split over the threads
// together. One activation row goes to the VNNI kernels (pkVecQ8, pkVecQ4), more to the
// tile unit (pkTile, pkTileQ4).
func matMulsPacked(p *Pool, x []float32, m, k int, jobs []pkJob) {
	a := pkActPool.Get().(*pkActivations)
	defer pkActPool.Put(a)
	a.prepare(p, x, m, k, jobs)
	// first[i] is the number of groups before job i's.
	var firstBuf [8]int
	first := append(firstBuf[:0], 0)
	for _, j := range jobs {
		first = append(first, first[len(first)-1]+(j.n+15)/16)
	}
	// One activation row is a matrix-vector product, bound by memory: two chunks a
	// thread (each chunk a new stream through memory; tg +2-4% over eight).
	perThread := 8
	if m == 1 {
		perThread = 2
	}
	p.runChunks(first[len(jobs)], 1, perThread, func(lo, hi int) {
		var sc *pkScratch
		if m > 1 {
			sc = pkScratchPool.Get().(*pkScratch)
			defer pkScratchPool.Put(sc)
		}
		for i, j := range jobs {
			glo, ghi := max(lo, first[i])-first[i], min(hi, first[i+1])-first[i]
			if glo >= ghi {
				continue
			}
			if m == 1 {
				a.vec(j, glo, ghi)
			} else {
				a.tiles(sc, j, glo, ghi)
			}
		}
	})
}

// vec computes groups lo..hi-1 of job j for one activation row.
func (a *pkActivations) vec(j pkJob, lo, hi int) {
	nb := a.k / 32
	gs, qoff := packLayout(j.dt, a.k)
	vec, xv := pkVecQ8, &a.xu[0]
	if j.dt == tensor.Q4_0 {
		vec, xv = pkVecQ4, &a.q[0]
	}
	full := hi
	if 16*hi > j.n {
		full = hi - 1 // the last group is short
	}
	if full > lo {
		vec(&j.w[lo*gs], gs, qoff, full-lo, xv, &a.d[0], &a.cx[0], nb, &j.out[16*lo])
	}
	if full < hi {
		var tmp [16]float32
		vec(&j.w[full*gs], gs, qoff, 1, xv, &a.d[0], &a.cx[0], nb, &tmp[0])
		copy(j.out[16*full:j.n], tmp[:])
	}
}

// tiles computes groups lo..hi-1 of job j for m > 1 activation rows on the tile unit.
func (a *pkActivations) tiles(sc *pkScratch, j pkJob, lo, hi int) {
	m, k, nt := a.m, a.k, a.nt
	nb := k / 32
	n := j.n
	gs, qoff := packLayout(j.dt, k)
	sc.cbuf = grow(sc.cbuf, 2560)
	if cap(sc.res) < nt*256 {
		sc.res = make([]float32, nt*256)
	}
	res := sc.res[:nt*256]
	q4ahead := j.dt == tensor.Q4_0 && nt > pkInlineQ4
	if q4ahead && cap(sc.q) < 512*nb {
		sc.q = make([]int8, 512*nb)
	}
	for g := lo; g < hi; g++ {
		rows := min(16, n-16*g)
		scales := (*uint16)(unsafe.Pointer(&j.w[g*gs]))
		wq := &j.w[g*gs+qoff]
		tile := pkTile
		switch {
		case q4ahead:
			pkUnpackQ4(&sc.q[0], wq, nb) // once for all the tiles
			wq = (*byte)(unsafe.Pointer(&sc.q[0]))
		case j.dt == tensor.Q4_0:
			tile = pkTileQ4 // unpacks as it goes
		}
		// Whole tiles of 16 activation rows go straight to out when the group has 16
		// rows; the rest through res.
		full := m / 16
		if rows < 16 {
			full = 0
		}
		if full > 0 {
			tile(&amxConfigPacked[0], wq, scales, &a.a[0], &a.dt[0], nb, full, &sc.cbuf[0], &j.out[16*g], 4*n)
		}
		if full < nt {
			tile(&amxConfigPacked[0], wq, scales, &a.a[full*nb*512], &a.dt[full*nb*16], nb, nt-full, &sc.cbuf[0], &res[0], 64)
			scatterTiles(j.out, res, m, n, 16*g, rows, full, nt)
		}
	}
}
