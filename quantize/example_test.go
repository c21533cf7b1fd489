package quantize_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/tensor"
)

// Example quantizes the embedded stories260K model to Q8_0 and looks at the GGUF file.
func Example() {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	var buf bytes.Buffer // or an *os.File; quantize.WriteFile writes one atomically
	if err := quantize.Write(&buf, m.Net, m.Tokenizer, quantize.Options{Type: tensor.Q8_0, Name: "stories260K"}); err != nil {
		log.Fatal(err)
	}
	f, err := gguf.Parse("stories260K.gguf", buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	kv, _ := f.Int32s("deci.attention.head_count_kv")
	for _, name := range []string{"token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.0.ffn_norm.weight"} {
		t, _ := f.Tensor(name)
		fmt.Println(name, t.DType, t.Shape)
	}
	fmt.Println(arch, kv)
	// Output:
	// token_embd.weight q8_0 [512 64]
	// blk.0.attn_q.weight q8_0 [64 64]
	// blk.0.ffn_down.weight f16 [64 172]
	// blk.0.ffn_norm.weight f32 [64]
	// deci [4 4 4 4 4]
}
