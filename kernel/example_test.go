package kernel_test

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/decilm/decilm/kernel"
	"github.com/decilm/decilm/tensor"
)

// A linear layer with a [3, 2] float32 weight applied to two activation rows.
func ExamplePool_MatMul() {
	rows := [][]float32{{1, 2}, {3, 4}, {5, 6}}
	data := make([]byte, 0, 24)
	for _, r := range rows {
		for _, v := range r {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
	}
	w := &tensor.Tensor{Name: "proj.weight", DType: tensor.F32, Shape: []int{3, 2}, Data: data}

	p := kernel.NewPool(2)
	defer p.Close()
	x := []float32{1, 1, 0.5, -1} // two rows of 2
	out := make([]float32, 2*3)
	if err := p.MatMul(out, x, 2, w); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out[:3], out[3:])
	// Output: [3 7 11] [-1.5 -2.5 -3.5]
}

// One attention head over three cached positions: a KV cache row holds two heads of
// 8 values each (stride 16), and this head is the second.
func ExampleDotRows() {
	const hd, stride = 8, 16
	keys := make([]float32, 3*stride)
	vals := make([]float32, 3*stride)
	for t := 0; t < 3; t++ {
		for i := 0; i < hd; i++ {
			keys[t*stride+hd+i] = float32(t) // key t is all t
			vals[t*stride+hd+i] = float32(10 * (t + 1))
		}
	}
	q := []float32{1, 0, 0, 0, 0, 0, 0, 0}
	scores := make([]float32, 3)
	kernel.DotRows(scores, q, keys[hd:], stride, 0.5) // q·k_t / 2
	fmt.Println(scores)
	kernel.Softmax(scores)
	out := make([]float32, hd)
	kernel.AxpyRows(out, scores, vals[hd:], stride) // Σ_t p_t·v_t
	fmt.Printf("%.3f\n", out[0])
	// Output:
	// [0 0.5 1]
	// 23.202
}
