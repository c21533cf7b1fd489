package gguf_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/tensor"
)

// Write a tiny GGUF file and read it back.
func Example() {
	var buf bytes.Buffer
	err := gguf.Write(&buf, []gguf.KV{
		{Key: "general.architecture", Value: "llama"},
		{Key: "llama.block_count", Value: uint32(1)},
		{Key: "tokenizer.ggml.tokens", Value: []string{"<unk>", "<s>", "</s>"}},
	}, []*tensor.Tensor{
		{Name: "output_norm.weight", DType: tensor.F32, Shape: []int{2}, Data: make([]byte, 8)},
	})
	if err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Parse("tiny.gguf", buf.Bytes()) // gguf.Open(path) maps a file instead
	if err != nil {
		log.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	blocks, _ := f.Uint("llama.block_count")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	norm, _ := f.Tensor("output_norm.weight")
	fmt.Println(arch, blocks, tokens[1], norm.DType, norm.Shape)
	_, err = f.Float("general.architecture")
	fmt.Println(err)
	// Output:
	// llama 1 <s> f32 [2]
	// gguf tiny.gguf: metadata key "general.architecture" has type string, want a number
}
