package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Byte-level BPE, the tokenizer of Llama-3 (and of GPT-2 before it): the text is split into
// pre-tokens by the Llama-3 regular expression, each pre-token's UTF-8 bytes are the initial
// symbols, and merges apply by rank. Vocabulary entries spell bytes with GPT-2's
// byte-to-unicode map (printable bytes stand for themselves, the others for U+0100 onwards: a
// space is "Ġ", a newline "Ċ"); this package keeps each token's raw bytes for encoding and
// decoding and the spelled form for Piece and PieceID.

// byteRunes is GPT-2's byte-to-unicode map: the printable Latin-1 bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') map to themselves, the other 68 bytes, in order, to U+0100 onwards.
var byteRunes = func() (m [256]rune) {
	next := rune(256)
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			m[b] = rune(b)
		} else {
			m[b] = next
			next++
		}
	}
	return m
}()

// runeBytes inverts byteRunes: the byte each of the 256 runes stands for, indexed by rune
// (all are below U+0144).
var runeBytes = func() (m [0x144]int16) {
	for i := range m {
		m[i] = -1
	}
	for b, r := range byteRunes {
		m[r] = int16(b)
	}
	return m
}()

// byteLevelDecode returns the raw bytes a byte-level vocabulary entry spells, or false when
// the entry has a character outside the 256 of the map.
func byteLevelDecode(p string) (string, bool) {
	b := make([]byte, 0, len(p))
	for _, r := range p {
		if r < 0 || int(r) >= len(runeBytes) || runeBytes[r] < 0 {
			return "", false
		}
		b = append(b, byte(runeBytes[r]))
	}
	return string(b), true
}

// byteLevelEncode spells raw bytes with the byte-to-unicode map.
func byteLevelEncode(raw string) string {
	var b strings.Builder
	b.Grow(2 * len(raw))
	for i := 0; i < len(raw); i++ {
		b.WriteRune(byteRunes[raw[i]])
	}
	return b.String()
}

// initByteLevel builds the byte-level tables from t.pieces: the id of each byte's token, the
// raw bytes of each token (t.text) and the ids of whole pre-tokens (t.rawIDs). It is part of
// init for a byte-level tokenizer.
func (t *Tokenizer) initByteLevel() error {
	for b := range t.byteTok {
		t.byteTok[b] = -1
	}
	t.rawIDs = make(map[string]int32, len(t.pieces))
	for i, p := range t.pieces {
		switch t.types[i] {
		case Control, Unknown:
			t.text[i] = ""
			continue
		case UserDefined:
			t.text[i] = p // added tokens are matched and decoded as written
			continue
		}
		raw, ok := byteLevelDecode(p)
		if !ok {
			return fmt.Errorf("tokenizer: token %d (%q) is not byte-level text (a character outside GPT-2's byte map)", i, p)
		}
		t.text[i] = raw
		if _, dup := t.rawIDs[raw]; !dup {
			t.rawIDs[raw] = int32(i)
		}
		if len(raw) == 1 && t.byteTok[raw[0]] < 0 {
			t.byteTok[raw[0]] = int32(i)
		}
	}
	for b, id := range t.byteTok {
		if id < 0 {
			return fmt.Errorf("tokenizer: byte-level vocabulary has no token for byte 0x%02X (%q)", b, string(byteRunes[b]))
		}
	}
	return nil
}

// encodeByteLevel appends the ids of one run of text (between special tokens): each Llama-3
// pre-token is looked up whole (ignore_merges) and otherwise merged from its bytes.
func (t *Tokenizer) encodeByteLevel(ids []int, text string) []int {
	if !utf8.ValidString(text) {
		text = validUTF8([]byte(text))
	}
	for len(text) > 0 {
		n := llama3Split(text)
		word := text[:n]
		text = text[n:]
		if t.ignoreMerges {
			if id, ok := t.rawIDs[word]; ok {
				ids = append(ids, int(id))
				continue
			}
		}
		ids = t.encodeSegment(ids, word, true)
	}
	return ids
}

// byteLevelSymbols starts a word's merge list: one symbol per byte.
func (t *Tokenizer) byteLevelSymbols(s *bpeScratch, seg string) {
	for i := 0; i < len(seg); i++ {
		k := int32(len(s.syms))
		s.syms = append(s.syms, bpeSymbol{start: int32(i), end: int32(i + 1), prev: k - 1, next: k + 1, id: t.byteTok[seg[i]]})
	}
}

// Character classes of the Llama-3 pattern for ASCII, by byte.
const (
	clsOther   = iota // punctuation and symbols: [^\s\p{L}\p{N}]
	clsLetter         // \p{L}
	clsDigit          // \p{N}
	clsSpace          // \s other than \r and \n
	clsNewline        // \r or \n
)

var asciiClass = func() (c [utf8.RuneSelf]uint8) {
	for b := range c {
		r := rune(b)
		switch {
		case r == '\r' || r == '\n':
			c[b] = clsNewline
		case unicode.IsSpace(r):
			c[b] = clsSpace
		case unicode.IsLetter(r):
			c[b] = clsLetter
		case unicode.IsNumber(r):
			c[b] = clsDigit
		default:
			c[b] = clsOther
		}
	}
	return c
}()

// classAt returns the class of the character at s[i] and its length in bytes.
func classAt(s string, i int) (uint8, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	switch {
	case unicode.IsLetter(r):
		return clsLetter, n
	case unicode.IsNumber(r):
		return clsDigit, n
	case unicode.IsSpace(r):
		return clsSpace, n
	}
	return clsOther, n
}

// llama3Split returns the length of the first pre-token of s (non-empty), as the Llama-3
// pattern matches it:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// Go's regexp has no lookahead, so the alternatives are written out; each is tried in order
// at the start of s, as a backtracking regex engine does.
func llama3Split(s string) int {
	c0, n0 := classAt(s, 0)
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if s[0] == '\'' {
		if n := contraction(s[1:]); n > 0 {
			return 1 + n
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	start := -1
	switch {
	case c0 == clsLetter:
		start = 0
	case c0 == clsOther || c0 == clsSpace:
		if n0 < len(s) {
			if c1, _ := classAt(s, n0); c1 == clsLetter {
				start = n0
			}
		}
	}
	if start >= 0 {
		i := start
		for i < len(s) {
			c, n := classAt(s, i)
			if c != clsLetter {
				break
			}
			i += n
		}
		return i
	}
	// \p{N}{1,3}
	if c0 == clsDigit {
		i := n0
		for k := 1; k < 3 && i < len(s); k++ {
			c, n := classAt(s, i)
			if c != clsDigit {
				break
			}
			i += n
		}
		return i
	}
	// ' ?[^\s\p{L}\p{N}]+[\r\n]*'
	i := 0
	if s[0] == ' ' {
		i = 1
	}
	if i < len(s) {
		if c, _ := classAt(s, i); c == clsOther {
			for i < len(s) {
				c, n := classAt(s, i)
				if c != clsOther {
					break
				}
				i += n
			}
			for i < len(s) && (s[i] == '\r' || s[i] == '\n') {
				i++
			}
			return i
		}
	}
	// The rest start with whitespace: find the run and the end of its last newline.
	end, lastNL := 0, -1
	for end < len(s) {
		c, n := classAt(s, end)
		if c != clsSpace && c != clsNewline {
			break
		}
		end += n
		if c == clsNewline {
			lastNL = end
		}
	}
	if end == 0 {
		// Unreachable: every character is a letter, digit, other or whitespace. Take one
		// character so that the caller always advances.
		return n0
	}
	// \s*[\r\n]+
	if lastNL > 0 {
		return lastNL
	}
	// \s+(?!\S): the whole run at the end of the text, else all but its last character.
	if end == len(s) {
		return end
	}
	if _, lastLen := utf8.DecodeLastRuneInString(s[:end]); end-lastLen > 0 {
		return end - lastLen
	}
	// \s+
	return end
}

// contraction returns the length of the contraction suffix s starts with (after the
// apostrophe), matched case-insensitively with Unicode simple case folding ("ſ" is an "s"):
// s, t, re, ve, m, ll, d; or 0.
func contraction(s string) int {
	fold := func(i int) (rune, int) {
		if i >= len(s) {
			return 0, 0
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch r {
		case 'S', 's', 'ſ':
			return 's', n
		case 'K': // Kelvin sign
			return 'k', n
		}
		return unicode.ToLower(r), n
	}
	r0, n0 := fold(0)
	switch r0 {
	case 's', 't', 'm', 'd':
		return n0
	case 'r', 'v', 'l':
		r1, n1 := fold(n0)
		if (r0 == 'r' || r0 == 'v') && r1 == 'e' || r0 == 'l' && r1 == 'l' {
			return n0 + n1
		}
	}
	return 0
}

// errNoByteLevelMerges is returned for a byte-level vocabulary without merges.
var errNoByteLevelMerges = errors.New("tokenizer: byte-level vocabulary has no merges")

// newByteLevel builds a byte-level BPE tokenizer from its pieces (spelled with the byte map;
// control and user-defined ones as written), their types and the merges in rank order.
func newByteLevel(pieces []string, types []PieceType, merges [][2]string, ignoreMerges bool, bos, eos, pad int) (*Tokenizer, error) {
	if len(merges) == 0 {
		return nil, errNoByteLevelMerges
	}
	t := &Tokenizer{
		pieces:       pieces,
		scores:       make([]float32, len(pieces)),
		types:        types,
		byteLevel:    true,
		ignoreMerges: ignoreMerges,
		merges:       make(map[uint64]hfMerge, len(merges)),
	}
	ids := make(map[string]int32, len(pieces))
	for i, p := range pieces {
		if types[i] == Normal || types[i] == Unused {
			if _, dup := ids[p]; !dup {
				ids[p] = int32(i)
			}
		}
	}
	for rank, m := range merges {
		a, okA := ids[m[0]]
		b, okB := ids[m[1]]
		c, okC := ids[m[0]+m[1]]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("tokenizer: merge %d (%q %q) uses a token outside the vocabulary", rank, m[0], m[1])
		}
		key := uint64(uint32(a))<<32 | uint64(uint32(b))
		if _, dup := t.merges[key]; dup {
			continue // the first (lowest) rank wins
		}
		t.merges[key] = hfMerge{rank: int32(rank), id: c}
		if t.scores[c] == 0 {
			t.scores[c] = -float32(rank)
		}
	}
	if err := t.init(-1, bos, eos, pad, false); err != nil {
		return nil, err
	}
	return t, nil
}

// fromByteLevelVocab is FromVocab for model "gpt2".
func fromByteLevelVocab(v Vocab) (*Tokenizer, error) {
	if v.Pre != "" && v.Pre != "llama-bpe" && v.Pre != "llama3" {
		return nil, fmt.Errorf("tokenizer: byte-level pre-tokeniser %q not supported (only \"llama-bpe\", Llama-3's)", v.Pre)
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: vocabulary has no tokens")
	}
	if len(v.Merges) == 0 {
		return nil, errors.New(`tokenizer: vocabulary of model "gpt2" (byte-level BPE) has no merges (tokenizer.ggml.merges)`)
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: vocabulary has %d tokens but %d token types", n, len(v.Types))
	}
	for _, id := range []int{v.BOS, v.EOS, v.PAD} {
		if id >= n {
			return nil, fmt.Errorf("tokenizer: special token id %d out of range (vocabulary of %d)", id, n)
		}
	}
	types := make([]PieceType, n)
	for i := range types {
		types[i] = Normal
		if v.Types != nil {
			switch ty := PieceType(v.Types[i]); ty {
			case 0, Normal:
			case Control, UserDefined, Unused, Unknown:
				types[i] = ty
			default:
				return nil, fmt.Errorf("tokenizer: token %d (%q) has type %d, invalid in a byte-level vocabulary", i, v.Tokens[i], v.Types[i])
			}
		}
		if v.Tokens[i] == "" {
			return nil, fmt.Errorf("tokenizer: token %d is empty", i)
		}
	}
	merges := make([][2]string, len(v.Merges))
	for i, m := range v.Merges {
		a, b, ok := strings.Cut(m, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("tokenizer: merges[%d] = %q is not two tokens separated by a space", i, m)
		}
		merges[i] = [2]string{a, b}
	}
	t, err := newByteLevel(append([]string(nil), v.Tokens...), types, merges, true, v.BOS, v.EOS, v.PAD)
	if err != nil {
		return nil, err
	}
	t.addBOS, t.addEOS = v.AddBOS, v.AddEOS
	return t, nil
}

// ByteLevel reports whether the tokenizer is a byte-level BPE (Llama-3) rather than a
// SentencePiece one.
func (t *Tokenizer) ByteLevel() bool { return t.byteLevel }

// Merges returns a byte-level tokenizer's merges in rank order, each "a b" as GGUF's
// tokenizer.ggml.merges holds them; nil for a SentencePiece tokenizer.
func (t *Tokenizer) Merges() []string {
	if !t.byteLevel {
		return nil
	}
	out := make([]string, len(t.merges))
	for k, m := range t.merges {
		out[m.rank] = t.pieces[uint32(k>>32)] + " " + t.pieces[uint32(k)]
	}
	// Ranks of merges dropped as duplicates leave holes; close them, keeping the order.
	j := 0
	for _, s := range out {
		if s != "" {
			out[j] = s
			j++
		}
	}
	return out[:j]
}

// llama3Pattern is the Split pattern of Llama-3's tokenizer.json, which llama3Split
// implements.
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// hfByteLevelPre reports whether a tokenizer.json pre_tokenizer is byte-level: Llama-3's
// Sequence of a Split by llama3Pattern (behaviour Isolated) and a ByteLevel without its own
// regex or prefix space. Another byte-level pre-tokeniser is an error; a Metaspace or none
// gives false.
func hfByteLevelPre(raw json.RawMessage) (bool, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return false, nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, err
	}
	switch c.Type {
	case "ByteLevel":
		return false, errors.New("ByteLevel with GPT-2's own pattern not supported (only Llama-3's Split pattern followed by ByteLevel)")
	case "Sequence":
	default:
		return false, nil
	}
	var parts []hfComponent
	for _, p := range c.Pretokenizers {
		var pc hfComponent
		if err := json.Unmarshal(p, &pc); err != nil {
			return false, err
		}
		parts = append(parts, pc)
	}
	isByteLevel := false
	for _, p := range parts {
		isByteLevel = isByteLevel || p.Type == "ByteLevel"
	}
	if !isByteLevel {
		return false, nil
	}
	if len(parts) != 2 || parts[0].Type != "Split" || parts[1].Type != "ByteLevel" {
		return false, errors.New("byte-level pre-tokeniser other than Sequence[Split, ByteLevel] not supported")
	}
	sp, bl := parts[0], parts[1]
	if sp.Pattern.Regex == nil || *sp.Pattern.Regex != llama3Pattern {
		return false, errors.New("Split pattern not supported (only Llama-3's)")
	}
	if sp.Behavior != "Isolated" || sp.Invert {
		return false, fmt.Errorf("Split behavior %q (invert %v) not supported (only Isolated)", sp.Behavior, sp.Invert)
	}
	if bl.AddPrefixSpace != nil && *bl.AddPrefixSpace {
		return false, errors.New("ByteLevel add_prefix_space not supported")
	}
	if bl.UseRegex != nil && *bl.UseRegex {
		return false, errors.New("ByteLevel use_regex after a Split not supported")
	}
	return true, nil
}

// hfByteLevel finishes LoadHFJSON for a byte-level tokenizer.json: pieces and types are the
// vocabulary with its added tokens.
func hfByteLevel(f *hfFile, pieces []string, types []PieceType) (*Tokenizer, error) {
	wrap := func(err error) error { return fmt.Errorf("tokenizer: tokenizer.json: %w", err) }
	m := &f.Model
	if len(f.Normalizer) > 0 && !bytes.Equal(f.Normalizer, []byte("null")) {
		return nil, wrap(errors.New("normalizer with a byte-level pre-tokeniser not supported"))
	}
	if m.ByteFallback {
		return nil, wrap(errors.New("byte_fallback with a byte-level pre-tokeniser not supported"))
	}
	var merges [][2]string
	if len(m.Merges) > 0 && !bytes.Equal(m.Merges, []byte("null")) {
		var strs []string
		if err := json.Unmarshal(m.Merges, &strs); err == nil {
			merges = make([][2]string, len(strs))
			for i, s := range strs {
				a, b, ok := strings.Cut(s, " ")
				if !ok || strings.Contains(b, " ") {
					return nil, wrap(fmt.Errorf("merges[%d] = %q is not two tokens separated by a space", i, s))
				}
				merges[i] = [2]string{a, b}
			}
		} else if err := json.Unmarshal(m.Merges, &merges); err != nil {
			return nil, wrap(fmt.Errorf("model.merges is neither strings nor pairs: %w", err))
		}
	}
	bos, addBOS, eos, addEOS, err := hfPostProcessor(f.PostProcessor, func(s string) (int, bool) {
		for i, p := range pieces {
			if p == s {
				return i, true
			}
		}
		return -1, false
	})
	if err != nil {
		return nil, wrap(err)
	}
	t, err := newByteLevel(pieces, types, merges, m.IgnoreMerges, bos, eos, -1)
	if err != nil {
		return nil, fmt.Errorf("%w (tokenizer.json)", err)
	}
	t.addBOS, t.addEOS = addBOS, addEOS
	return t, nil
}

// hfPostProcessor reads the special tokens a tokenizer.json post-processor adds around a
// single sequence: a TemplateProcessing, alone or in a Sequence (beside a ByteLevel, which
// only adjusts offsets).
func hfPostProcessor(raw json.RawMessage, lookup func(string) (int, bool)) (bos int, addBOS bool, eos int, addEOS bool, err error) {
	bos, eos = -1, -1
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	var pp hfComponent
	if err = json.Unmarshal(raw, &pp); err != nil {
		return -1, false, -1, false, fmt.Errorf("post_processor: %w", err)
	}
	switch pp.Type {
	case "Sequence":
		for _, p := range pp.Processors {
			b, ab, e, ae, err := hfPostProcessor(p, lookup)
			if err != nil {
				return -1, false, -1, false, err
			}
			if ab {
				bos, addBOS = b, true
			}
			if ae {
				eos, addEOS = e, true
			}
		}
		return
	case "TemplateProcessing":
	default:
		return
	}
	var items []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct{} `json:"Sequence"`
	}
	if err = json.Unmarshal(pp.Single, &items); err != nil {
		return -1, false, -1, false, fmt.Errorf("post_processor.single: %w", err)
	}
	seenSeq := false
	for _, it := range items {
		switch {
		case it.Sequence != nil:
			seenSeq = true
		case it.SpecialToken != nil:
			id, ok := lookup(it.SpecialToken.ID)
			if !ok {
				return -1, false, -1, false, fmt.Errorf("post_processor names unknown token %q", it.SpecialToken.ID)
			}
			if seenSeq {
				eos, addEOS = id, true
			} else {
				bos, addBOS = id, true
			}
		}
	}
	return
}

// stopPieces are the control tokens that end a turn or a text, beside EOS: Llama-3's end of
// turn, end of a tool-calling message and end of text.
var stopPieces = []string{"<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"}

// StopIDs returns the ids that should end generation besides EOS: the control tokens
// <|eot_id|>, <|eom_id|> and <|end_of_text|> when the vocabulary has them (as llama.cpp's
// end-of-generation set does), and EOS itself when there is one.
func (t *Tokenizer) StopIDs() []int {
	var ids []int
	if t.eos >= 0 {
		ids = append(ids, t.eos)
	}
	for _, p := range stopPieces {
		if id, ok := t.reserved[p]; ok && t.types[id] == Control && int(id) != t.eos {
			ids = append(ids, int(id))
		}
	}
	return ids
}
