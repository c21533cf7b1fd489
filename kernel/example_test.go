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
