package torch_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/decilm/decilm/checkpoint/torch"
	"github.com/decilm/decilm/tensor"
)

// Write a state dict in torch.save's format and read it back.
func Example() {
	var buf bytes.Buffer
	err := torch.Write(&buf, []*tensor.Tensor{
		{Name: "model.norm.weight", DType: tensor.BF16, Shape: []int{2}, Data: []byte{0x80, 0x3f, 0x00, 0x40}},
	})
	if err != nil {
		log.Fatal(err)
	}
	f, err := torch.Parse("pytorch_model.bin", buf.Bytes()) // torch.Open(path) maps a file instead
	if err != nil {
		log.Fatal(err)
	}
	w, _ := f.Tensor("model.norm.weight")
	v := make([]float32, 2)
	if err := tensor.DecodeRow(v, w.Data, w.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Name, w.DType, w.Shape, v)
	// Output: model.norm.weight bf16 [2] [1 2]
}
