package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// LoadLlama2C reads a llama2.c tokenizer.bin (or tok512.bin): an int32 max_token_length,
// then per token a float32 score, an int32 length and the piece's bytes, with spaces in place
// of "▁" and BOS/EOS written as "\n<s>\n" and "\n</s>\n". vocabSize is the number of tokens
// the checkpoint expects; 0 reads tokens until the end of data. As in llama2.c, ids 0, 1 and 2
// are <unk>, <s> and </s>; AddBOS defaults to true.
func LoadLlama2C(data []byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize < 0 {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: negative vocabulary size %d", vocabSize)
	}
	if len(data) < 4 {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: %d bytes, too short for the header", len(data))
	}
	maxLen := int32(binary.LittleEndian.Uint32(data))
	if maxLen <= 0 || maxLen > 1<<16 {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: max_token_length %d is not plausible (not a tokenizer.bin?)", maxLen)
	}
	t := &Tokenizer{dummyPrefix: true, addBOS: true}
	off := 4
	for i := 0; vocabSize == 0 || i < vocabSize; i++ {
		if vocabSize == 0 && off == len(data) {
			break
		}
		if len(data)-off < 8 {
			if vocabSize > 0 {
				return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: truncated: %d of the model's %d tokens (byte %d of %d)", i, vocabSize, off, len(data))
			}
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: truncated at token %d (byte %d of %d)", i, off, len(data))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(data[off:]))
		n := int32(binary.LittleEndian.Uint32(data[off+4:]))
		off += 8
		if n < 0 || n > maxLen {
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: token %d has length %d (max_token_length %d): corrupt file", i, n, maxLen)
		}
		if int(n) > len(data)-off {
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: truncated in token %d (length %d, %d bytes left)", i, n, len(data)-off)
		}
		p := string(data[off : off+int(n)])
		off += int(n)
		switch {
		case i == 1 && p == "\n<s>\n":
			p = "<s>"
		case i == 2 && p == "\n</s>\n":
			p = "</s>"
		default:
			p = strings.ReplaceAll(p, " ", spaceSymbol)
		}
		t.pieces = append(t.pieces, p)
		t.scores = append(t.scores, score)
		t.types = append(t.types, inferType(p, i, 0, 1, 2))
	}
	if off != len(data) {
		return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: %d bytes left after %d tokens (wrong vocabulary size?)", len(data)-off, len(t.pieces))
	}
	if len(t.pieces) < 3 {
		return nil, errors.New("tokenizer: llama2.c tokenizer: fewer than 3 tokens")
	}
	for i, p := range t.pieces {
		if p == "" && t.types[i] == Normal {
			return nil, fmt.Errorf("tokenizer: llama2.c tokenizer: token %d is empty", i)
		}
	}
	if err := t.init(0, 1, 2, -1, true); err != nil {
		return nil, fmt.Errorf("%w (llama2.c tokenizer)", err)
	}
	return t, nil
}
