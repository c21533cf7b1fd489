package decilm

import "fmt"

// maxPromptBytes is the most bytes a prompt that fits the context can have: a token covers
// at most the bytes of the longest piece of the vocabulary (normalisation only lengthens the
// text: a space becomes the 3-byte "▁"), with a factor of 4 to spare for normalisers that
// shorten it. Checking it before tokenizing keeps a huge prompt from being tokenized (into
// about 70 times its size) only to be refused for its token count.
// It scans the vocabulary once a call (about 0.1 ms for 128K pieces), which keeps Model a
// plain value that callers may copy.
func (m *Model) maxPromptBytes() int {
	longest := 1
	for id := range m.Tokenizer.VocabSize() {
		longest = max(longest, len(m.Tokenizer.Piece(id)))
	}
	return 4*longest*m.Net.Config.ContextLength() + 64
}

// checkPromptBytes returns an ErrContextLength error when a prompt of n bytes cannot fit the
// context, whatever its tokens.
func (m *Model) checkPromptBytes(n int) error {
	if lim := m.maxPromptBytes(); n > lim {
		return fmt.Errorf("%w: the prompt has %d bytes, more than %d tokens of this vocabulary can hold (at most %d bytes)",
			ErrContextLength, n, m.Net.Config.ContextLength(), lim)
	}
	return nil
}
