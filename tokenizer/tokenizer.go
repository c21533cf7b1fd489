// Package tokenizer implements the Llama-2 family's SentencePiece BPE tokenizer and Llama-3's
// byte-level BPE tokenizer (also that of the Nemotron-NAS models) in pure Go, behind one type.
//
// It reads the vocabulary from every file a DeciLM or Llama user has: a SentencePiece
// tokenizer.model (LoadModelProto), a Hugging Face tokenizer.json with merges and byte fallback
// (LoadHFJSON), a llama2.c tokenizer.bin (LoadLlama2C) and the tokenizer.ggml.* metadata of a GGUF
// file (FromVocab, FromGGUF). Load picks the right one for a path and applies the
// tokenizer_config.json beside it.
//
// Encoding follows SentencePiece exactly for a tokenizer.model, llama2.c or GGUF vocabulary
// (merge the highest-scoring adjacent pair first, leftmost on ties; dummy-prefix space; byte
// fallback to <0xNN> pieces) and Hugging Face's BPE model for a tokenizer.json (apply the
// lowest-ranked merge first). Neither pre-splits the text on whitespace; this package does so
// only when the vocabulary makes it provably equivalent (no piece has "▁" after another
// character), which keeps long inputs near linear and lets it cache the ids of common words.
//
// A word (a run of text between spaces, or the whole text for a vocabulary that does not allow
// splitting) longer than 256 MiB is encoded in 256 MiB pieces.
//
// Decoding follows Hugging Face's LlamaTokenizer with skip_special_tokens: control and unknown
// tokens are dropped, "▁" becomes a space, byte tokens are reassembled into UTF-8 (each byte of an
// invalid sequence becomes U+FFFD) and the leading dummy-prefix space is removed. StreamDecoder
// gives the same text in chunks that never split a character.
//
// A byte-level vocabulary (a tokenizer.json whose pre-tokeniser is Llama-3's Split pattern and
// ByteLevel, or GGUF model "gpt2" with pre "llama-bpe") encodes as Hugging Face's tokenizers
// does: added tokens matched in the text, the Llama-3 pattern written out by hand (digits in
// runs of 1 to 3, contractions in any case, whitespace runs), each pre-token looked up whole
// and otherwise merged from its UTF-8 bytes by merge rank. Decode gives the bytes back
// (without transformers' clean_up_tokenization_spaces); StreamDecoder holds back the bytes
// of an incomplete character. StopIDs lists the end-of-turn tokens (<|eot_id|>, <|eom_id|>,
// <|end_of_text|>).
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// PieceType is the kind of a vocabulary entry. The values are SentencePiece's (and GGUF's
// tokenizer.ggml.token_type).
type PieceType int32

// The kinds of vocabulary entries.
const (
	Normal      PieceType = 1 // an ordinary piece that BPE can produce
	Unknown     PieceType = 2 // the <unk> piece
	Control     PieceType = 3 // <s>, </s> and other control pieces; never produced from text
	UserDefined PieceType = 4 // always matched in text as one piece, never merged
	Unused      PieceType = 5 // a piece BPE may merge through but never outputs
	Byte        PieceType = 6 // <0xNN>: one byte, for byte fallback
)

// spaceSymbol is SentencePiece's escaped whitespace, U+2581 LOWER ONE EIGHTH BLOCK.
const spaceSymbol = "\u2581"

// Tokenizer converts between text and token ids. Build one with Load, LoadModelProto,
// LoadHFJSON, LoadLlama2C, FromVocab or FromGGUF.
type Tokenizer struct {
	pieces []string
	scores []float32
	types  []PieceType
	prio   []uint32 // scorePriority of each score

	// mergeable holds the pieces BPE may form (normal, user-defined, unused): SentencePiece's
	// pieces_ map. reserved holds the others (control, unknown, byte).
	mergeable map[string]int32
	reserved  map[string]int32
	byteIDs   [256]int32 // id of <0xNN>, or -1
	userDefs  []string   // user-defined pieces, longest first; matched as single symbols

	byteFallback bool
	dummyPrefix  bool // prepend "▁" to each run of text
	removeExtra  bool // SentencePiece remove_extra_whitespaces
	unk          int
	bos, eos     int
	pad          int
	addBOS       bool
	addEOS       bool

	// merges is non-nil for a Hugging Face tokenizer.json: (left id, right id) -> rank and
	// result. Then encoding follows HF's BPE model instead of SentencePiece's.
	merges  map[uint64]hfMerge
	fuseUnk bool
	// prefixFirstOnly adds the dummy prefix only to text at the start of the input (HF
	// Metaspace prepend_scheme "first"); metaspaceSplit splits words before every "▁" (HF
	// Metaspace split=true).
	prefixFirstOnly bool
	metaspaceSplit  bool
	// prefixUnlessSpace skips the dummy prefix when the text already starts with "▁" (or a
	// space), as HF's Metaspace does; the Prepend normaliser and SentencePiece always add it.
	prefixUnlessSpace bool
	hasUnused         bool // some piece has type Unused: no word splitting, no cache
	configAdded       bool // tokenizer_config.json added user-defined tokens (split as HF does)

	// specials are the strings recognised in text when EncodeOptions.ParseSpecial is set,
	// longest first.
	specials     []special
	specialFirst [256]bool // first bytes of specials

	// segmentable reports that no mergeable piece has "▁" after a non-"▁" character, so the
	// text can be encoded word by word (see segments).
	segmentable bool

	// pairs maps two mergeable piece ids to the id of their concatenation when it is a
	// mergeable piece: SentencePiece's string lookup, by id. asciiID is the id of each
	// one-byte piece, or -1. shadowed reports that some mergeable piece's text is also a
	// reserved piece's (then PieceID, which prefers reserved, decides output ids).
	pairs    map[uint64]int32
	asciiID  [128]int32
	shadowed bool

	// byteLevel marks a byte-level BPE vocabulary (Llama-3, tokenizer.json with a ByteLevel
	// pre-tokeniser or GGUF model "gpt2"): text is split by the Llama-3 pattern and each
	// pre-token's bytes are merged by rank (t.merges). byteTok is the id of each byte's token,
	// rawIDs the id of each token's raw bytes; ignoreMerges looks a whole pre-token up in
	// rawIDs before merging (tokenizer.json's ignore_merges).
	byteLevel    bool
	ignoreMerges bool
	byteTok      [256]int32
	rawIDs       map[string]int32

	// text is each token's decoded bytes: "▁" as a space, a byte token's byte, "" for
	// control and unknown tokens.
	text []string

	// cache holds the ids of recently encoded words in a direct-mapped table: a slot is the
	// word's hash, a newer word replaces an older one. Lookups are one atomic load.
	cache     []atomic.Pointer[cacheEntry]
	cacheSeed maphash.Seed

	pool sync.Pool // *bpeScratch
}

type special struct {
	text string
	id   int32
}

type hfMerge struct {
	rank int32
	id   int32
}

// Vocab is a vocabulary as GGUF stores it (tokenizer.ggml.*) or as a caller assembles it.
type Vocab struct {
	// Model is tokenizer.ggml.model: "llama" (SentencePiece BPE) or "gpt2" (byte-level BPE,
	// with Merges and Pre). Empty means "llama".
	Model string
	// Merges are the byte-level merges in rank order, each "a b" (tokenizer.ggml.merges).
	Merges []string
	// Pre names the pre-tokeniser of a byte-level vocabulary (tokenizer.ggml.pre); only
	// "llama-bpe" (Llama-3's pattern) is supported. Empty means "llama-bpe".
	Pre    string
	Tokens []string  // the pieces, with "▁" for spaces
	Scores []float32 // merge priority; nil means all zero
	Types  []int32   // PieceType values; nil means inferred (<unk>, <s>, </s>, <0xNN>, else normal)
	// BOS, EOS, UNK and PAD are token ids, or -1 when absent.
	BOS, EOS, UNK, PAD int
	AddBOS, AddEOS     bool
	// NoSpacePrefix turns off the dummy-prefix space (GGUF tokenizer.ggml.add_space_prefix =
	// false). The Llama default is to add it.
	NoSpacePrefix bool
	// RemoveExtraWhitespaces trims spaces at both ends and collapses runs of them
	// (SentencePiece's remove_extra_whitespaces; GGUF tokenizer.ggml.remove_extra_whitespaces).
	RemoveExtraWhitespaces bool
}

// FromVocab builds a tokenizer from a GGUF-style vocabulary. Byte fallback is on when the
// vocabulary has all 256 <0xNN> pieces.
func FromVocab(v Vocab) (*Tokenizer, error) {
	if v.Model == "gpt2" {
		return fromByteLevelVocab(v)
	}
	if v.Model != "" && v.Model != "llama" {
		return nil, fmt.Errorf("tokenizer: vocabulary model %q not supported (only \"llama\", SentencePiece BPE, and \"gpt2\", byte-level BPE)", v.Model)
	}
	n := len(v.Tokens)
	if n == 0 {
		return nil, errors.New("tokenizer: vocabulary has no tokens")
	}
	if v.Scores != nil && len(v.Scores) != n {
		return nil, fmt.Errorf("tokenizer: vocabulary has %d tokens but %d scores", n, len(v.Scores))
	}
	if v.Types != nil && len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: vocabulary has %d tokens but %d token types", n, len(v.Types))
	}
	scores := v.Scores
	if scores == nil {
		scores = make([]float32, n)
	}
	types := make([]PieceType, n)
	for i := range types {
		if v.Types != nil {
			types[i] = PieceType(v.Types[i])
			if types[i] == 0 {
				types[i] = Normal // llama.cpp's "undefined"
			}
			if types[i] < Normal || types[i] > Byte {
				return nil, fmt.Errorf("tokenizer: token %d (%q) has invalid type %d", i, v.Tokens[i], v.Types[i])
			}
			continue
		}
		types[i] = inferType(v.Tokens[i], i, v.UNK, v.BOS, v.EOS)
	}
	t := &Tokenizer{
		pieces:      append([]string(nil), v.Tokens...),
		scores:      append([]float32(nil), scores...),
		types:       types,
		dummyPrefix: !v.NoSpacePrefix,
		removeExtra: v.RemoveExtraWhitespaces,
		addBOS:      v.AddBOS,
		addEOS:      v.AddEOS,
	}
	for _, id := range []int{v.BOS, v.EOS, v.UNK, v.PAD} {
		if id >= n {
			return nil, fmt.Errorf("tokenizer: special token id %d out of range (vocabulary of %d)", id, n)
		}
	}
	if err := t.init(v.UNK, v.BOS, v.EOS, v.PAD, true); err != nil {
		return nil, err
	}
	return t, nil
}

// inferType guesses a piece's type for vocabularies that do not store types.
func inferType(p string, id, unk, bos, eos int) PieceType {
	switch {
	case id == unk || (unk < 0 && p == "<unk>"):
		return Unknown
	case id == bos || id == eos || (bos < 0 && p == "<s>") || (eos < 0 && p == "</s>"):
		return Control
	}
	if _, ok := parseBytePiece(p); ok {
		return Byte
	}
	return Normal
}

// parseBytePiece parses "<0xNN>".
func parseBytePiece(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := unhex(p[3])
	lo, ok2 := unhex(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// init builds the lookup tables from pieces, scores and types. unk, bos, eos and pad are ids or
// -1; an unknown id of -1 is replaced by the piece of type Unknown. byteFallbackAuto turns byte
// fallback on when all 256 byte pieces exist (otherwise the caller has set t.byteFallback).
func (t *Tokenizer) init(unk, bos, eos, pad int, byteFallbackAuto bool) error {
	n := len(t.pieces)
	t.userDefs, t.specials = nil, nil
	t.mergeable = make(map[string]int32, n)
	t.reserved = make(map[string]int32)
	for i := range t.byteIDs {
		t.byteIDs[i] = -1
	}
	nbytes := 0
	firstUnk := -1
	for i, p := range t.pieces {
		typ := t.types[i]
		switch typ {
		case Normal, UserDefined, Unused:
			if p == "" {
				return fmt.Errorf("tokenizer: piece %d is empty", i)
			}
			if _, dup := t.mergeable[p]; !dup {
				t.mergeable[p] = int32(i)
			}
			if typ == UserDefined {
				t.userDefs = append(t.userDefs, p)
			}
		default:
			if _, dup := t.reserved[p]; !dup {
				t.reserved[p] = int32(i)
			}
			if typ == Byte {
				b, ok := parseBytePiece(p)
				if !ok {
					return fmt.Errorf("tokenizer: piece %d (%q) has type byte but is not <0xNN>", i, p)
				}
				if t.byteIDs[b] < 0 {
					t.byteIDs[b] = int32(i)
					nbytes++
				}
			}
			if typ == Unknown && firstUnk < 0 {
				firstUnk = i
			}
		}
	}
	if unk < 0 {
		unk = firstUnk
	}
	if unk < 0 && !t.byteLevel {
		return errors.New("tokenizer: vocabulary has no unknown piece")
	}
	t.unk, t.bos, t.eos, t.pad = unk, bos, eos, pad
	if byteFallbackAuto {
		t.byteFallback = nbytes == 256
	}
	sortLongestFirst(t.userDefs)

	// Specials for ParseSpecial: control and unknown pieces and user-defined ones.
	seen := map[string]bool{}
	for i, p := range t.pieces {
		if (t.types[i] == Control || t.types[i] == Unknown || t.types[i] == UserDefined) && p != "" && !seen[p] {
			seen[p] = true
			t.specials = append(t.specials, special{p, int32(i)})
		}
	}
	sortSpecials(t.specials)
	t.specialFirst = [256]bool{}
	for _, sp := range t.specials {
		t.specialFirst[sp.text[0]] = true
	}

	t.segmentable = true
	for _, ty := range t.types {
		if ty == Unused {
			t.hasUnused = true
			t.segmentable = false
		}
	}
	check := func(p string) {
		// A piece spanning a word boundary has "▁" after a character that is not "▁".
		rest := strings.TrimLeft(p, spaceSymbol)
		if strings.Contains(rest, spaceSymbol) {
			t.segmentable = false
		}
	}
	if t.merges != nil {
		for _, m := range t.merges {
			check(t.pieces[m.id])
		}
	} else {
		for p := range t.mergeable {
			check(p)
		}
	}
	t.prio = make([]uint32, n)
	for i, sc := range t.scores {
		t.prio[i] = scorePriority(sc)
	}
	t.shadowed = false
	for p := range t.mergeable {
		if _, ok := t.reserved[p]; ok {
			t.shadowed = true
		}
	}
	for c := range t.asciiID {
		t.asciiID[c] = -1
		if id, ok := t.mergeable[string(rune(c))]; ok {
			t.asciiID[c] = id
		}
	}
	t.pairs = nil
	if t.merges == nil {
		t.pairs = make(map[uint64]int32, len(t.mergeable)*2)
		for p, id := range t.mergeable {
			for i := 1; i < len(p); i++ {
				a, okA := t.mergeable[p[:i]]
				if !okA {
					continue
				}
				if b, okB := t.mergeable[p[i:]]; okB {
					t.pairs[uint64(uint32(a))<<32|uint64(uint32(b))] = id
				}
			}
		}
	}
	t.text = make([]string, n)
	if t.byteLevel {
		if err := t.initByteLevel(); err != nil {
			return err
		}
		t.resetCache()
		return nil
	}
	for i, p := range t.pieces {
		switch t.types[i] {
		case Control, Unknown:
		case Byte:
			b, _ := parseBytePiece(p)
			t.text[i] = string([]byte{b})
		default:
			t.text[i] = strings.ReplaceAll(p, spaceSymbol, " ")
		}
	}
	t.resetCache()
	return nil
}

func sortLongestFirst(s []string) {
	// insertion sort keeps it dependency-free; the lists are short.
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j]) > len(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func sortSpecials(s []special) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && len(s[j].text) > len(s[j-1].text); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// BOS returns the beginning-of-sequence id, or -1 when the vocabulary has none.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1 when the vocabulary has none.
func (t *Tokenizer) EOS() int { return t.eos }

// UNK returns the unknown-token id.
func (t *Tokenizer) UNK() int { return t.unk }

// PAD returns the padding id, or -1 when the vocabulary has none.
func (t *Tokenizer) PAD() int { return t.pad }

// AddBOS reports whether encoding should start with BOS by default (tokenizer_config.json's
// add_bos_token; true for Llama).
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether encoding should end with EOS by default (add_eos_token).
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// ByteFallback reports whether characters outside the vocabulary become <0xNN> byte tokens.
func (t *Tokenizer) ByteFallback() bool { return t.byteFallback }

// Piece returns the vocabulary entry of id ("▁" for spaces), or "" when id is out of range.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Type returns the type of id, or 0 when id is out of range.
func (t *Tokenizer) Type(id int) PieceType {
	if id < 0 || id >= len(t.pieces) {
		return 0
	}
	return t.types[id]
}

// PieceID returns the id of a vocabulary entry, as SentencePiece's PieceToId does.
func (t *Tokenizer) PieceID(piece string) (int, bool) {
	if id, ok := t.reserved[piece]; ok {
		return int(id), true
	}
	if id, ok := t.mergeable[piece]; ok {
		return int(id), true
	}
	return -1, false
}

// IsSpecial reports whether id is a control or unknown token (dropped by Decode).
func (t *Tokenizer) IsSpecial(id int) bool {
	typ := t.Type(id)
	return typ == Control || typ == Unknown
}

// Pieces returns copies of the vocabulary, scores and types, for writing the vocabulary
// elsewhere (a GGUF file). For a tokenizer.json, which has no scores, a merged piece's score is
// minus the rank of the first merge that forms it and other pieces score 0.
func (t *Tokenizer) Pieces() (pieces []string, scores []float32, types []int32) {
	pieces = append([]string(nil), t.pieces...)
	scores = append([]float32(nil), t.scores...)
	types = make([]int32, len(t.types))
	for i, ty := range t.types {
		types[i] = int32(ty)
	}
	return pieces, scores, types
}

// resetCache forgets the cached ids of words.
func (t *Tokenizer) resetCache() {
	if t.cache == nil {
		t.cache = make([]atomic.Pointer[cacheEntry], cacheSlots)
		t.cacheSeed = maphash.MakeSeed()
	}
	for i := range t.cache {
		t.cache[i].Store(nil)
	}
}
