package tokenizer

// TokenText returns the bytes token id adds to decoded text, as a string that need not be
// valid UTF-8: a byte-fallback piece gives its one byte, "▁" gives a space, a control or
// unknown token gives "". It is what a continuation decoder (NewContinuationDecoder) emits
// for id before UTF-8 reassembly; "" for an id outside the vocabulary.
func (t *Tokenizer) TokenText(id int) string {
	if id < 0 || id >= len(t.text) {
		return ""
	}
	return t.text[id]
}

// DummyPrefix reports whether decoding the start of a text drops one leading space (the
// SentencePiece dummy prefix), as Decode and NewDecoder do.
func (t *Tokenizer) DummyPrefix() bool { return t.dummyPrefix }
