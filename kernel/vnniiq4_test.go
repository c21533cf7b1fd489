package kernel

import (
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/decilm/decilm/tensor"
)

// funcName returns the name of function f without its package ("vnniIQ4XSTile3").
func funcName(f any) string {
	n := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
	return n[strings.LastIndex(n, ".")+1:]
}

// TestVNNIIQ4XSMatMul checks, where the CPU has AVX-VNNI (whether or not the AVX-512 VNNI
// tiles serve first), the AVX-VNNI IQ4_XS tiles through their driver
// (matMulIQ4XSP512: kp512PrepX, kp512RowsPair, vnniIQ4XSUnpack2) bit for bit against the
// plain Go twin of the packed kernels (iq4XSPRef) on ragged shapes: n not a multiple of 8
// or 16 (a lone last group), k of one to nine super-blocks (past one kp512KB piece),
// m = 2, 3, 7, 16, 17 (not multiples of vnniIQ4XSC) and 130 (past one mBlockQuant block).
// TestKP512IQ4XSTiles, TestKP512IQ4XSGo and TestKP512IQ4XSVec check the tiles, the
// unpacker and vnniIQ4XSVec8 on their own.
func TestVNNIIQ4XSMatMul(t *testing.T) {
	if vnniIQ4XSTiles == nil {
		t.Log("no AVX-VNNI on this CPU (or -tags purego)")
		return
	}
	rng := rand.New(rand.NewPCG(101, 102))
	p := NewPool(2)
	defer p.Close()
	for _, k := range []int{256, 768, 2304} {
		for _, n := range []int{1, 9, 24, 40} {
			packed := packIQ4XSRef(randBlocks(rng, tensor.IQ4_XS, n, k))
			for _, m := range []int{2, 3, 7, 16, 17, 130} {
				x := randVec(rng, m*k)
				s := new(quantScratch)
				p.quantizeRows(s, x, m, k)
				got := make([]float32, m*n)
				for i := range got {
					got[i] = 1e30 // overwritten
				}
				p.matMulIQ4XSP512(got, s, m, n, k, packed, vnniIQ4XSUnpack, vnniIQ4XSC, vnniIQ4XSTiles)
				xq, xd, _ := quantRef(x, m, k)
				ref := make([]float32, m*n)
				iq4XSPRef(ref, xq, xd, m, n, k, packed)
				for i := range got {
					if got[i] != ref[i] {
						t.Fatalf("n=%d k=%d m=%d: row %d output %d = %g on the AVX-VNNI tiles, the plain Go twin %g", n, k, m, i/n, i%n, got[i], ref[i])
					}
				}
			}
		}
	}
}
