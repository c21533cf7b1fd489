package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/decilm/decilm/tokenizer"
)

// A tiny SentencePiece-style vocabulary; real ones come from Load (tokenizer.model,
// tokenizer.json, tokenizer.bin or a GGUF file).
func tinyVocab() *tokenizer.Tokenizer {
	pieces := []string{"<unk>", "<s>", "</s>", "▁", "h", "i", "▁h", "▁hi", "!"}
	scores := []float32{0, 0, 0, -1, -2, -3, -4, -5, -6}
	tok, err := tokenizer.FromVocab(tokenizer.Vocab{
		Tokens: pieces, Scores: scores, UNK: 0, BOS: 1, EOS: 2, PAD: -1, AddBOS: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	return tok
}

func ExampleTokenizer_Encode() {
	tok := tinyVocab()
	ids := tok.Encode("hi hi!", tok.DefaultOptions())
	fmt.Println(ids)
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tok.Piece(id))
	}
	fmt.Printf("%q\n", pieces)
	text, _ := tok.Decode(ids)
	fmt.Printf("%q\n", text)
	// Output:
	// [1 7 7 8]
	// ["<s>" "▁hi" "▁hi" "!"]
	// "hi hi!"
}

func ExampleLoad() {
	// A model directory (tokenizer.model or tokenizer.json, plus tokenizer_config.json) or a
	// tokenizer file; here llama2.c's 512-piece vocabulary of the embedded stories260K.
	tok, err := tokenizer.Load("../defaultmodel/stories260K/tokenizer.bin")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.VocabSize(), tok.Encode("Hello world", tok.DefaultOptions()))
	// Output: 512 [1 346 306 414 263 304 341]
}

func ExampleStreamDecoder() {
	tok, err := tokenizer.Load("../defaultmodel/stories260K/tokenizer.bin")
	if err != nil {
		log.Fatal(err)
	}
	// "▁", then the four byte tokens of the llama emoji, then "▁Lily".
	d := tok.NewDecoder()
	for _, id := range []int{410, 243, 162, 169, 156, 317} {
		s, err := d.Add(id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q ", s)
	}
	fmt.Printf("%q\n", d.Flush())
	// Output: "" "" "" "" "🦙" " Lily" ""
}
