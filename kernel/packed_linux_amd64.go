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

// pkActivations holds one MatMul call's activations for the packed kernels.
type pkActivations struct {
	q  []int8    // quantized rows, padded with zero rows to a multiple of 16
	d  []float32 // their block scales, nb per row
	dt []float32 // per tile of 16 rows, per block, the 16 rows' scales (0 past m)
	a  []int8    // per tile of 16 rows, per block, the 16 rows' values (pkTile's A tiles)
	u  []int8    // one row: x + 128 as unsigned bytes (Q8_0)
	c  []int32   // one row: 8·Σx per block (Q4_0)
}

var pkActPool = sync.Pool{New: func() any { return new(pkActivations) }}

// pkScratch is one thread's buffers for matMulPacked.
type pkScratch struct {
	cbuf []int32   // eight 16×16 int32 tiles, then four unpacked Q4_0 blocks
	res  []float32 // 16×16 results per activation tile, for partial tiles
	q    []int8    // a Q4_0 group unpacked to int8
}

var pkScratchPool = sync.Pool{New: func() any { return new(pkScratch) }}

// matMulPacked is MatMul for Q8_0 and Q4_0 weights laid out by Pack (w is the Packed
// buffer): one activation row with the VNNI kernels (pkVecQ8, pkVecQ4), more on the tile
// unit (pkTile, a Q4_0 group first unpacked to int8).
func matMulPacked(p *Pool, out, x []float32, m, n, k int, w []byte, dt tensor.DType) {
	nb := k / 32
	gs, qoff := packLayout(dt, k)
	G := (n + 15) / 16
	a := pkActPool.Get().(*pkActivations)
	defer pkActPool.Put(a)
	nt := (m + 15) / 16
	rows := 16 * nt
	if m == 1 {
		rows = 1
	}
	if cap(a.q) < rows*k {
		a.q = make([]int8, rows*k)
	}
	if cap(a.d) < rows*nb {
		a.d = make([]float32, rows*nb)
	}
	a.q, a.d = a.q[:rows*k], a.d[:rows*nb]
	quant := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			QuantizeQ8(a.q[i*k:(i+1)*k], a.d[i*nb:(i+1)*nb], x[i*k:(i+1)*k])
		}
	}
	if m*k < 1<<14 {
		quant(0, m)
	} else {
		p.Run(m, quant)
	}
	if m == 1 {
		var vec func(grp *byte, gs, qoff, ng int, x *int8, dx *float32, cx *int32, nb int, out *float32)
		var xv *int8
		var cx *int32 // pkVecQ8 does not read it
		if dt == tensor.Q8_0 {
			if cap(a.u) < k {
				a.u = make([]int8, k)
			}
			a.u = a.u[:k]
			for i, v := range a.q[:k] {
				a.u[i] = v ^ -128
			}
			vec, xv = pkVecQ8, &a.u[0]
		} else {
			if cap(a.c) < nb {
				a.c = make([]int32, nb)
			}
			a.c = a.c[:nb]
			for b := range a.c {
				var s int32
				for _, v := range a.q[32*b : 32*b+32] {
					s += int32(v)
				}
				a.c[b] = 8 * s
			}
			vec, xv, cx = pkVecQ4, &a.q[0], &a.c[0]
		}
		p.runGrain(G, 1, func(lo, hi int) {
			full := hi
			if 16*hi > n {
				full = hi - 1 // the last group is short
			}
			if full > lo {
				vec(&w[lo*gs], gs, qoff, full-lo, xv, &a.d[0], cx, nb, &out[16*lo])
			}
			if full < hi {
				var tmp [16]float32
				vec(&w[full*gs], gs, qoff, 1, xv, &a.d[0], cx, nb, &tmp[0])
				copy(out[16*full:n], tmp[:])
			}
		})
		return
	}
	clear(a.q[m*k:])
	if cap(a.dt) < nt*nb*16 {
		a.dt = make([]float32, nt*nb*16)
	}
	a.dt = a.dt[:nt*nb*16]
	for T := 0; T < nt; T++ {
		for b := 0; b < nb; b++ {
			d := a.dt[(T*nb+b)*16 : (T*nb+b)*16+16]
			for t := range d {
				d[t] = 0
				if i := 16*T + t; i < m {
					d[t] = a.d[i*nb+b]
				}
			}
		}
	}
	if cap(a.a) < nt*nb*512 {
		a.a = make([]int8, nt*nb*512)
	}
	a.a = a.a[:nt*nb*512]
	for T := 0; T < nt; T++ {
		for b := 0; b < nb; b++ {
			blk := a.a[(T*nb+b)*512 : (T*nb+b+1)*512]
			for t := 0; t < 16; t++ {
				copy(blk[32*t:32*t+32], a.q[(16*T+t)*k+32*b:])
			}
		}
	}
	p.runGrain(G, 1, func(lo, hi int) {
		sc := pkScratchPool.Get().(*pkScratch)
		defer pkScratchPool.Put(sc)
		if len(sc.cbuf) < 2560 {
			sc.cbuf = make([]int32, 2560)
		}
		if cap(sc.res) < nt*256 {
			sc.res = make([]float32, nt*256)
		}
		res := sc.res[:nt*256]
		if dt == tensor.Q4_0 && cap(sc.q) < 512*nb {
			sc.q = make([]int8, 512*nb)
		}
		for g := lo; g < hi; g++ {
			rows := min(16, n-16*g)
			scales := (*uint16)(unsafe.Pointer(&w[g*gs]))
			wq := &w[g*gs+qoff]
			tile := pkTile
			if dt == tensor.Q4_0 {
				if nt <= pkInlineQ4 {
					tile = pkTileQ4 // unpacks as it goes
				} else {
					pkUnpackQ4(&sc.q[0], wq, nb) // once for all the tiles
					wq = (*byte)(unsafe.Pointer(&sc.q[0]))
				}
			}
			// Whole tiles of 16 activation rows go straight to out when the group has
			// 16 rows; the rest through res.
			full := m / 16
			if rows < 16 {
				full = 0
			}
			if full > 0 {
				tile(&amxConfigPacked[0], wq, scales, &a.a[0], &a.dt[0], nb, full, &sc.cbuf[0], &out[16*g], 4*n)
			}
			if full < nt {
				tile(&amxConfigPacked[0], wq, scales, &a.a[full*nb*512], &a.dt[full*nb*16], nb, nt-full, &sc.cbuf[0], &res[0], 64)
				for T := full; T < nt; T++ {
					for t := 0; t < min(16, m-16*T); t++ {
						i := 16*T + t
						copy(out[i*n+16*g:i*n+16*g+rows], res[(T-full)*256+t*16:])
					}
				}
			}
		}
	})
}
