package tokenizer

// DummyPrefix reports whether decoding the start of a text drops one leading space (the
// SentencePiece dummy prefix), as Decode and NewDecoder do.
func (t *Tokenizer) DummyPrefix() bool { return t.dummyPrefix }
