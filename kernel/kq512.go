package kernel

import "github.com/decilm/decilm/tensor"

// matMulKQWide is MatMul for the k-quants and every other block type tensor.Unpacker
// serves, on the AVX-512 VNNI tiles of kq512_amd64.go where the CPU has them (nil
// elsewhere). It returns false for a call it does not handle, which then takes the
// type's AVX2 or Go kernels.
var matMulKQWide func(p *Pool, out, x []float32, m, n, k int, data []byte, rs int, dt tensor.DType) bool
