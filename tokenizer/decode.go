package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decode returns the text of ids as Hugging Face's LlamaTokenizer decodes them with
// skip_special_tokens: control and unknown tokens are dropped, "▁" becomes a space, byte
// tokens are reassembled into UTF-8 (each byte of an invalid sequence becomes U+FFFD), and the
// dummy-prefix space at the start is removed. An id outside the vocabulary is an error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	n := 0
	for _, id := range ids {
		if id < 0 || id >= len(t.pieces) {
			return "", fmt.Errorf("tokenizer: token id %d out of range [0, %d)", id, len(t.pieces))
		}
		n += len(t.text[id])
	}
	b := make([]byte, 0, n)
	for _, id := range ids {
		b = append(b, t.text[id]...)
	}
	if t.dummyPrefix && len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return validUTF8(b), nil
}

// validUTF8 returns b as a string with each byte that is not part of a valid UTF-8 sequence
// replaced by U+FFFD.
func validUTF8(p []byte) string {
	if utf8.Valid(p) {
		return string(p)
	}
	var b strings.Builder
	b.Grow(len(p) + 8)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.Write(p[i : i+size])
		}
		i += size
	}
	return b.String()
}

// StreamDecoder turns ids into text one at a time, emitting text as soon as it is complete
// UTF-8 and never splitting a character between chunks. The chunks of Add followed by Flush
// concatenate to Decode of the same ids.
type StreamDecoder struct {
	t       *Tokenizer
	pending []byte // bytes not yet emitted: a possibly incomplete UTF-8 sequence
	strip   bool   // the leading dummy-prefix space is still to be removed
}

// NewDecoder returns a streaming decoder for a sequence that starts at the beginning of the
// text: its first space (the dummy prefix) is removed, as Decode does.
func (t *Tokenizer) NewDecoder() *StreamDecoder {
	return &StreamDecoder{t: t, strip: t.dummyPrefix}
}

// NewContinuationDecoder returns a streaming decoder for ids that continue earlier text (the
// tokens generated after a prompt): it keeps a leading space.
func (t *Tokenizer) NewContinuationDecoder() *StreamDecoder {
	return &StreamDecoder{t: t}
}

// Add decodes one more id and returns the text it completes, possibly "" (a control token,
// or the first bytes of a multi-byte character). An id outside the vocabulary is an error
// and changes nothing.
func (d *StreamDecoder) Add(id int) (string, error) {
	t := d.t
	if id < 0 || id >= len(t.pieces) {
		return "", fmt.Errorf("tokenizer: token id %d out of range [0, %d)", id, len(t.pieces))
	}
	d.pending = append(d.pending, t.text[id]...)
	if d.strip && len(d.pending) > 0 {
		if d.pending[0] == ' ' {
			d.pending = d.pending[1:]
		}
		d.strip = false
	}
	// Hold back a trailing sequence that is a valid but incomplete UTF-8 prefix.
	cut := len(d.pending)
	for i := len(d.pending) - 1; i >= 0 && i >= len(d.pending)-utf8.UTFMax; i-- {
		if utf8.RuneStart(d.pending[i]) {
			if !utf8.FullRune(d.pending[i:]) {
				cut = i
			}
			break
		}
	}
	return d.emit(cut), nil
}

// Flush returns the bytes held back, each invalid one as U+FFFD. The decoder may go on
// afterwards as a continuation: no space is stripped any more.
func (d *StreamDecoder) Flush() string {
	d.strip = false
	return d.emit(len(d.pending))
}

// emit returns pending[:n] as valid UTF-8 and keeps the rest.
func (d *StreamDecoder) emit(n int) string {
	if n == 0 {
		return ""
	}
	s := validUTF8(d.pending[:n])
	d.pending = append(d.pending[:0], d.pending[n:]...)
	return s
}

// TokenText returns the bytes id stands for, as a string that may not be valid UTF-8 (a byte
// token, or a byte-level token holding part of a character): "▁" as a space for SentencePiece,
// a byte token's byte, a byte-level token's bytes; a control or unknown token's piece as
// written ("<|eot_id|>"). It is "" for an id out of range. This is how a token shows in
// logprobs.
func (t *Tokenizer) TokenText(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	if t.types[id] == Control || t.types[id] == Unknown {
		return t.pieces[id]
	}
	return t.text[id]
}
