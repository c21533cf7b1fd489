//go:build oracle

package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/decilm/decilm/tokenizer"
)

func ExampleLoad_llama2() {
	// A model directory (tokenizer.model or tokenizer.json, plus tokenizer_config.json) or a
	// tokenizer file; here the Llama-2 tokenizer from the shared fixtures.
	tok, err := tokenizer.Load("../../shared/fixtures/llama2-tokenizer/tokenizer.model")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.VocabSize(), tok.Encode("Hello world", tok.DefaultOptions()))
	// Output: 32000 [1 15043 3186]
}

func ExampleStreamDecoder_llama2() {
	tok, err := tokenizer.Load("../../shared/fixtures/llama2-tokenizer/tokenizer.model")
	if err != nil {
		log.Fatal(err)
	}
	// "▁", then the four byte tokens of the llama emoji, then "▁Hello".
	d := tok.NewDecoder()
	for _, id := range []int{29871, 243, 162, 169, 156, 15043} {
		s, err := d.Add(id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q ", s)
	}
	fmt.Printf("%q\n", d.Flush())
	// Output: "" "" "" "" "🦙" " Hello" ""
}
