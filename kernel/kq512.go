package kernel

import "github.com/decilm/decilm/tensor"

// matMulKQWide is MatMul for Q4_K, Q5_K, Q6_K and the block types tensor.Unpacker serves
// that have no fused AVX2 kernel, on the AVX-512 VNNI tiles of kq512_amd64.go: set where
// the CPU has them and DECILM_KQ512=1 (nil otherwise). It returns false for a call it
// does not handle, which then takes the type's AVX2 or Go kernels.
var matMulKQWide func(p *Pool, out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) bool
