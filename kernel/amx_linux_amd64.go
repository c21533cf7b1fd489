//go:build !purego

package kernel

//go:generate go run ./internal/asmgenamx -out amx_amd64.s -stubs amx_stubs_amd64.go -pkg kernel

import (
	"math"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/decilm/decilm/tensor"
)

// The AMX path multiplies weights with activation rows on the CPU's tile unit, 16 weight
// rows by 16 activation rows (or one) per tile product: Q8_0 and Q4_0 with TDPBSSD (int8 ×
// int8), one block of 32 values at a time so that each block's product can be scaled by
// its two scales; BF16 with TDPBF16PS on the activations split in three bfloat16 parts.
// It takes every number of rows, one included: a row's results then do not depend on how
// many others share the call, and a one-row product is bound by memory, not by the tile's
// work. Linux hands the AMX register state to a process only when it asks (arch_prctl
// ARCH_REQ_XCOMP_PERM); DECILM_NO_AMX=1 turns the path off.
func init() {
	if !(cpu.X86.HasAMXTile && cpu.X86.HasAMXInt8 && cpu.X86.HasAMXBF16 && cpu.X86.HasAVX512F && cpu.X86.HasAVX2 && cpu.X86.HasF16C) {
		return
	}
	if os.Getenv("DECILM_NO_AMX") != "" {
		return
	}
	const archReqXcompPerm, xfeatureXtiledata = 0x1023, 18
	if _, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXtiledata, 0); errno != 0 {
		return
	}
	matMulQuantAMX = matMulAMX
	matMulBF16AMX = matMulAMXBF16
	if cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512BW {
		packedMatMuls = matMulsPacked
	}
	// set describes tile t of a configuration: rows, and bytes per row (palette 1).
	set := func(cfg *[64]byte, t, rows, colBytes int) {
		cfg[0] = 1
		cfg[16+2*t] = byte(colBytes)
		cfg[48+t] = byte(rows)
	}
	for t := 0; t < 2; t++ {
		set(&amxConfig, t, 16, 64)   // C0, C1: 16×16 int32
		set(&amxConfig, 2+t, 16, 32) // A0, A1: 16 weight rows × 32 int8
		set(&amxConfig, 4+t, 8, 64)  // B0, B1: 32 activation values × 16 rows, VNNI layout
		// One activation row: C tiles of one column, B tiles holding the activation
		// values as they are (4 int8 per row).
		set(&amxConfigVecQ8, t, 16, 4)
		set(&amxConfigVecQ8, 2+t, 16, 32)
		set(&amxConfigVecQ8, 4+t, 8, 4)
	}
	for t := 0; t < 4; t++ {
		set(&amxConfigPacked, t, 16, 64) // C0-C3: 16×16 int32
	}
	for t := 4; t < 6; t++ {
		set(&amxConfigPacked, t, 16, 32)  // A0, A1: 16 activation rows × 32 int8
		set(&amxConfigPacked, t+2, 8, 64) // B0, B1: a packed block, 8 rows × 64 bytes
	}
	for t := 0; t < 8; t++ { // bfloat16: every tile 16 rows × 64 bytes
		set(&amxConfigBF16, t, 16, 64)
	}
	for t := 0; t < 3; t++ { // one row: C and B tiles 16 rows × one pair
		set(&amxConfigVecBF16, t, 16, 4)   // Ch, Cm, Cl
		set(&amxConfigVecBF16, 4+t, 16, 4) // Bh, Bm, Bl
	}
	set(&amxConfigVecBF16, 3, 16, 64) // A
}

// The tile configurations LDTILECFG loads (64 bytes each): the tile kernels' and the
// one-row kernels', for int8 and for bfloat16, and the packed-weight kernel's.
var amxConfig, amxConfigVecQ8, amxConfigBF16, amxConfigVecBF16, amxConfigPacked [64]byte

// packAMXBF16 splits the m rows of x (k values each) into three bfloat16 parts with
// x = hi + mid + lo exactly, and lays out their first nc·32 columns for the bfloat16 tile
// kernel: for tile T, chunk c, part h, row r of the B tile holds the pairs (2r, 2r+1) of
// chunk c of activation rows 16T..16T+15.
func packAMXBF16(xp []uint32, x []float32, m, k, nc int) {
	nt := (m + 15) / 16
	const chunk = 3 * 256 // uint32s per chunk: three parts of 16 rows × 16 pairs
	for T := 0; T < nt; T++ {
		base := T * nc * chunk
		for t := 0; t < 16; t++ {
			i := 16*T + t
			if i >= m {
				for c := 0; c < nc; c++ {
					for r := 0; r < 48; r++ {
						xp[base+c*chunk+r*16+t] = 0
					}
				}
				continue
			}
			row := x[i*k : i*k+nc*32]
			for c := 0; c < nc; c++ {
				o := xp[base+c*chunk:]
				v := row[c*32 : c*32+32]
				for r := 0; r < 16; r++ {
					h0, m0, l0 := splitBF16(v[2*r])
					h1, m1, l1 := splitBF16(v[2*r+1])
					o[r*16+t] = h0 | h1<<16
					o[256+r*16+t] = m0 | m1<<16
					o[512+r*16+t] = l0 | l1<<16
				}
			}
		}
	}
}

// splitBF16 returns bfloat16 values hi, mid, lo with v = hi + mid + lo exactly (for
// finite v whose parts are normal; an infinity or NaN goes whole into hi).
func splitBF16(v float32) (hi, mid, lo uint32) {
	h := tensor.F32ToBF16(v)
	hv := tensor.BF16ToF32(h)
	if math.IsInf(float64(hv), 0) || hv != hv {
		return uint32(h), 0, 0
	}
	r := v - hv
	md := tensor.F32ToBF16(r)
	return uint32(h), uint32(md), uint32(tensor.F32ToBF16(r - tensor.BF16ToF32(md)))
}

// packAMXBF16Vec lays out one activation row for amxVecBF16: per chunk of 32 values,
// the hi, mid and lo parts (splitBF16), 16 pairs each.
func packAMXBF16Vec(xp []uint32, x []float32, nc int) {
	for c := 0; c < nc; c++ {
		o := xp[c*48 : c*48+48]
		v := x[c*32 : c*32+32]
		for r := 0; r < 16; r++ {
			h0, m0, l0 := splitBF16(v[2*r])
			h1, m1, l1 := splitBF16(v[2*r+1])
			o[r], o[16+r], o[32+r] = h0|h1<<16, m0|m1<<16, l0|l1<<16
		}
	}
}

var amxBF16Pool = sync.Pool{New: func() any { return new([]uint32) }}

// matMulAMXBF16 is MatMul for bfloat16 weights on the tile unit (TDPBF16PS), for m ≥ 1
// rows of x, each activation split in three bfloat16 parts (packAMXBF16).
func matMulAMXBF16(p *Pool, out, x []float32, m, n, k int, data []byte, rs int) bool {
	nc := k / 32
	nt := (m + 15) / 16
	bufp := amxBF16Pool.Get().(*[]uint32)
	defer amxBF16Pool.Put(bufp)
	if cap(*bufp) < nt*nc*768+1 {
		*bufp = make([]uint32, nt*nc*768+1)
	}
	xp := (*bufp)[:nt*nc*768+1]
	if m == 1 {
		packAMXBF16Vec(xp, x[:k], nc)
	} else {
		packAMXBF16(xp, x, m, k, nc)
	}
	p.runGrain(n, 16, func(lo, hi int) {
		sc := getAMXScratch(nt)
		defer amxScratchPool.Put(sc)
		res := sc.out[:nt*256]
		cbuf := (*float32)(unsafe.Pointer(&sc.cbuf[0]))
		for j := lo; j < hi; j += 16 {
			rows := min(16, hi-j)
			w := &data[j*rs]
			if rows < 16 {
				w = &sc.padRows(data, j, rows, rs)[0]
			}
			full, tiles := m/16, nt
			if rows < 16 {
				full = 0
			}
			if nc == 0 {
				full = 0
				clear(res)
			}
			if m == 1 {
				if nc > 0 {
					amxVecBF16(&amxConfigVecBF16[0], w, rs, (*uint16)(unsafe.Pointer(&xp[0])), nc, cbuf, &res[0])
				}
				copy(out[j:j+rows], res[:rows])
				full, tiles = 0, 0
			}
			if full > 0 {
				amxTileBF16(&amxConfigBF16[0], w, rs, (*uint16)(unsafe.Pointer(&xp[0])), nc, full, cbuf, &out[j], 4*n)
			}
			if full < tiles && nc > 0 {
				amxTileBF16(&amxConfigBF16[0], w, rs, (*uint16)(unsafe.Pointer(&xp[full*nc*768])), nc, tiles-full, cbuf, &res[0], 64)
			}
			scatterTiles(out, res, m, n, j, rows, full, tiles)
			// The last k%32 columns.
			for l := nc * 32; l < k; l++ {
				for i := 0; i < m; i++ {
					xv := x[i*k+l]
					for r := 0; r < rows; r++ {
						wv := tensor.BF16ToF32(uint16(data[(j+r)*rs+2*l]) | uint16(data[(j+r)*rs+2*l+1])<<8)
						out[i*n+j+r] += xv * wv
					}
				}
			}
		}
	})
	return true
}

// scatterTiles copies the results of activation tiles full..nt-1, which a tile kernel
// wrote to res (16×16 each, row t of tile T at res[(T-full)*256+16*t:]), to columns
// j..j+rows-1 of out's rows (m rows of n values).
func scatterTiles(out, res []float32, m, n, j, rows, full, nt int) {
	for T := full; T < nt; T++ {
		for t := 0; t < min(16, m-16*T); t++ {
			i := 16*T + t
			copy(out[i*n+j:i*n+j+rows], res[(T-full)*256+16*t:])
		}
	}
}

// amxScratch is one thread's buffers for matMulAMX and matMulAMXBF16.
type amxScratch struct {
	cbuf []int32   // two 16×16 int32 tiles (three float32 tiles for bfloat16)
	dw   []float32 // nb×16 weight scales of one group of rows
	q    []int8    // a group's rows as int8 (Q4_0), or a padded copy of the last group
	out  []float32 // 16×16 results per activation tile
}

var amxScratchPool = sync.Pool{New: func() any { return new(amxScratch) }}

// getAMXScratch takes a thread's buffers from the pool, with room for nt activation
// tiles' results; put it back with amxScratchPool.Put.
func getAMXScratch(nt int) *amxScratch {
	sc := amxScratchPool.Get().(*amxScratch)
	if len(sc.cbuf) < 768 {
		sc.cbuf = make([]int32, 768)
	}
	if cap(sc.out) < nt*256 {
		sc.out = make([]float32, nt*256)
	}
	return sc
}

// padRows copies rows j..j+rows-1 of a matrix (row stride rs bytes) into sc.q, followed by
// zero rows up to 16: the last, short group of a matrix, which the tile loads read as 16
// rows.
func (sc *amxScratch) padRows(data []byte, j, rows, rs int) []byte {
	if cap(sc.q) < 16*rs {
		sc.q = make([]int8, 16*rs)
	}
	pad := unsafe.Slice((*byte)(unsafe.Pointer(&sc.q[0])), 16*rs)
	copy(pad, data[j*rs:(j+rows)*rs])
	clear(pad[rows*rs:])
	return pad
}

// amxActivations lays out quantized activations for the tile kernel.
type amxActivations struct {
	xp []int8    // per tile of 16 rows, per block, 8 rows × 64 bytes (VNNI layout)
	dx []float32 // per tile, per block, 16 scales (0 past the last row)
}

var amxActPool = sync.Pool{New: func() any { return new(amxActivations) }}

// packAMX lays out the m rows of quantized activations (k values each) in the VNNI
// layout of the tile kernel: for tile T, block b, row r of the B tile holds values
// 4r..4r+3 of block b of activation rows 16T..16T+15.
func packAMX(a *amxActivations, q []int8, d []float32, m, k int) (nt int) {
	nb := k / 32
	nt = (m + 15) / 16
	if cap(a.xp) < nt*nb*512 {
		a.xp = make([]int8, nt*nb*512)
		a.dx = make([]float32, nt*nb*16)
	}
	a.xp, a.dx = a.xp[:nt*nb*512], a.dx[:nt*nb*16]
	xp := unsafe.Slice((*uint32)(unsafe.Pointer(&a.xp[0])), len(a.xp)/4)
	q32 := unsafe.Slice((*uint32)(unsafe.Pointer(&q[0])), m*k/4)
	for T := 0; T < nt; T++ {
		for t := 0; t < 16; t++ {
			i := 16*T + t
			base := T * nb * 128
			if i >= m {
				for b := 0; b < nb; b++ {
					for r := 0; r < 8; r++ {
						xp[base+b*128+r*16+t] = 0
					}
					a.dx[(T*nb+b)*16+t] = 0
				}
				continue
			}
			row := q32[i*k/4 : (i+1)*k/4]
			for b := 0; b < nb; b++ {
				o := xp[base+b*128:]
				src := row[b*8 : b*8+8]
				o[t], o[16+t], o[32+t], o[48+t] = src[0], src[1], src[2], src[3]
				o[64+t], o[80+t], o[96+t], o[112+t] = src[4], src[5], src[6], src[7]
				a.dx[(T*nb+b)*16+t] = d[i*nb+b]
			}
		}
	}
	return nt
}

// matMulAMX is MatMul for Q8_0 and Q4_0 weights on the tile unit, for m ≥ 1 activation
// rows already quantized in s.
func matMulAMX(p *Pool, out []float32, s *quantScratch, m, n, k int, data []byte, rs int, dt tensor.DType) bool {
	if dt != tensor.Q8_0 && dt != tensor.Q4_0 {
		return false
	}
	nb := k / 32
	a := amxActPool.Get().(*amxActivations)
	defer amxActPool.Put(a)
	nt := 1
	if m > 1 {
		nt = packAMX(a, s.q, s.d, m, k)
	}
	p.runGrain(n, 16, func(lo, hi int) {
		sc := getAMXScratch(nt)
		defer amxScratchPool.Put(sc)
		if cap(sc.dw) < nb*16 {
			sc.dw = make([]float32, nb*16)
		}
		dw, res := sc.dw[:nb*16], sc.out[:nt*256]
		for j := lo; j < hi; j += 16 {
			rows := min(16, hi-j)
			var w *byte
			var ws, bs int
			switch dt {
			case tensor.Q8_0:
				amxScales(&dw[0], &data[j*rs], rs, 34, nb, rows)
				if rows == 16 {
					w, ws, bs = &data[j*rs+2], rs, 34
				} else {
					w, ws, bs = &sc.padRows(data, j, rows, rs)[2], rs, 34
				}
			case tensor.Q4_0:
				if cap(sc.q) < 16*k {
					sc.q = make([]int8, 16*k)
				}
				if rows < 16 {
					clear(sc.q[:16*k])
				}
				amxScales(&dw[0], &data[j*rs], rs, 18, nb, rows)
				amxUnpackQ4(&sc.q[0], k, &data[j*rs], rs, nb, rows)
				w, ws, bs = (*byte)(unsafe.Pointer(&sc.q[0])), k, 32
			}
			if m == 1 {
				amxVecQ8(&amxConfigVecQ8[0], w, ws, bs, &s.q[0], &s.d[0], &dw[0], &sc.cbuf[0], nb, &res[0])
				copy(out[j:j+rows], res[:rows])
				continue
			}
			// Whole tiles of 16 activation rows go straight to out when the group has
			// 16 rows; the rest through res.
			full := m / 16
			if rows < 16 {
				full = 0
			}
			if full > 0 {
				amxTileQ8(&amxConfig[0], w, ws, bs, &a.xp[0], &a.dx[0], &dw[0], &sc.cbuf[0], nb, full, &out[j], 4*n)
			}
			if full < nt {
				amxTileQ8(&amxConfig[0], w, ws, bs, &a.xp[full*nb*512], &a.dx[full*nb*16], &dw[0], &sc.cbuf[0], nb, nt-full, &res[0], 64)
				scatterTiles(out, res, m, n, j, rows, full, nt)
			}
		}
	})
	return true
}
