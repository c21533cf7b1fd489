package tokenizer

import (
	"hash/maphash"
	"math"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// EncodeOptions controls Encode.
type EncodeOptions struct {
	AddBOS bool // start with the BOS token (when the vocabulary has one)
	AddEOS bool // end with the EOS token (when the vocabulary has one)
	// ParseSpecial recognises the text of control, unknown, user-defined and added tokens
	// ("<s>", "</s>", "<unk>", ...) in the input as those tokens. Each run of text between them
	// is encoded on its own, with its own dummy-prefix space, as Hugging Face's LlamaTokenizer
	// (legacy) does. Without it they are ordinary text, as in SentencePiece.
	ParseSpecial bool
}

// DefaultOptions returns the options of the tokenizer's configuration: AddBOS and AddEOS as
// tokenizer_config.json (or the GGUF metadata) says, special tokens not parsed.
func (t *Tokenizer) DefaultOptions() EncodeOptions {
	return EncodeOptions{AddBOS: t.addBOS, AddEOS: t.addEOS}
}

// Encode returns the token ids of text. Text that is not valid UTF-8 is encoded as
// SentencePiece does: each invalid byte stands for U+FFFD.
func (t *Tokenizer) Encode(text string, o EncodeOptions) []int {
	ids := make([]int, 0, len(text)/3+4)
	if o.AddBOS && t.bos >= 0 {
		ids = append(ids, t.bos)
	}
	// Hugging Face splits the text around added tokens that are not special always, and
	// around special ones when asked; a bare SentencePiece model only when asked (its
	// user-defined pieces are matched inside the word instead).
	hfAdded := (t.merges != nil || t.configAdded) && len(t.userDefs) > 0
	if (o.ParseSpecial || hfAdded) && len(t.specials) > 0 {
		start := 0
		for i := 0; i < len(text); {
			if s, ok := t.matchSpecial(text[i:]); ok && (o.ParseSpecial || t.types[s.id] == UserDefined) {
				ids = t.encodeText(ids, text[start:i], start == 0)
				ids = append(ids, int(s.id))
				i += len(s.text)
				start = i
				continue
			}
			i++
		}
		ids = t.encodeText(ids, text[start:], start == 0)
	} else {
		ids = t.encodeText(ids, text, true)
	}
	if o.AddEOS && t.eos >= 0 {
		ids = append(ids, t.eos)
	}
	return ids
}

// matchSpecial returns the longest special token that s starts with.
func (t *Tokenizer) matchSpecial(s string) (special, bool) {
	if !t.specialFirst[s[0]] {
		return special{}, false
	}
	for _, sp := range t.specials {
		if len(sp.text) <= len(s) && s[0] == sp.text[0] && s[:len(sp.text)] == sp.text {
			return sp, true
		}
	}
	return special{}, false
}

// maxCachedSegment is the longest word whose ids are cached; cacheSlots the size of the
// cache (a power of two).
const (
	maxCachedSegment = 64
	cacheSlots       = 1 << 16
)

// maxSegment is the longest word encoded in one piece (a variable for tests).
var maxSegment = 1 << 28

type cacheEntry struct {
	word string
	ids  []int32
}

// encodeText normalises one run of text and appends its ids. atStart says the run begins the
// input (for a "first"-only prefix scheme).
func (t *Tokenizer) encodeText(ids []int, text string, atStart bool) []int {
	if text == "" {
		return ids
	}
	if t.byteLevel {
		return t.encodeByteLevel(ids, text)
	}
	norm := t.normalize(text, t.dummyPrefix && (atStart || !t.prefixFirstOnly))
	if norm == "" {
		return ids
	}
	if !t.segmentable && !t.metaspaceSplit {
		return t.encodeSegment(ids, norm, false)
	}
	for start := 0; start < len(norm); {
		end := start
		if t.metaspaceSplit {
			// Hugging Face Metaspace(split=true): every "▁" starts a word.
			if strings.HasPrefix(norm[end:], spaceSymbol) {
				end += len(spaceSymbol)
			}
		} else {
			for strings.HasPrefix(norm[end:], spaceSymbol) {
				end += len(spaceSymbol)
			}
		}
		if j := strings.Index(norm[end:], spaceSymbol); j < 0 {
			end = len(norm)
		} else {
			end += j
		}
		ids = t.encodeSegment(ids, norm[start:end], true)
		start = end
	}
	return ids
}

// normalize applies SentencePiece's normaliser for the identity rule: optional removal of
// extra spaces, the dummy prefix, spaces escaped as "▁", and each invalid UTF-8 byte replaced
// by U+FFFD.
func (t *Tokenizer) normalize(text string, prefix bool) string {
	if t.removeExtra {
		text = collapseSpaces(text)
		if text == "" {
			return ""
		}
	}
	var b strings.Builder
	b.Grow(len(text) + len(text)/2 + len(spaceSymbol))
	if prefix && !(t.prefixUnlessSpace && (strings.HasPrefix(text, " ") || strings.HasPrefix(text, spaceSymbol))) {
		b.WriteString(spaceSymbol)
	}
	start := 0
	for i := 0; i < len(text); {
		c := text[i]
		if c == ' ' {
			b.WriteString(text[start:i])
			b.WriteString(spaceSymbol)
			i++
			start = i
			continue
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString(text[start:i])
			b.WriteString("\uFFFD")
			i++
			start = i
			continue
		}
		i += n
	}
	b.WriteString(text[start:])
	return b.String()
}

// collapseSpaces removes leading and trailing spaces and turns each run of spaces into one.
func collapseSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeSegment appends the ids of one normalised word, from the cache when it can.
func (t *Tokenizer) encodeSegment(ids []int, seg string, cacheable bool) []int {
	if len(seg) > maxSegment {
		// Symbol offsets are int32: a word this long (far beyond any real text) is encoded
		// in pieces, cut at a character boundary.
		cut := maxSegment
		for cut > maxSegment-utf8.UTFMax && !utf8.RuneStart(seg[cut]) {
			cut--
		}
		ids = t.encodeSegment(ids, seg[:cut], false)
		return t.encodeSegment(ids, seg[cut:], false)
	}
	cacheable = cacheable && len(seg) <= maxCachedSegment && !t.hasUnused
	var slot *atomic.Pointer[cacheEntry]
	if cacheable {
		slot = &t.cache[maphash.String(t.cacheSeed, seg)&(cacheSlots-1)]
		if e := slot.Load(); e != nil && e.word == seg {
			for _, id := range e.ids {
				ids = append(ids, int(id))
			}
			return ids
		}
	}
	s, _ := t.pool.Get().(*bpeScratch)
	if s == nil {
		s = new(bpeScratch)
	}
	out := t.bpe(s, seg)
	for _, id := range out {
		ids = append(ids, int(id))
	}
	if cacheable {
		slot.Store(&cacheEntry{strings.Clone(seg), append([]int32(nil), out...)})
	}
	t.pool.Put(s)
	return ids
}

// bpeSymbol is one symbol of the word being merged, a byte range of it, in a linked list.
type bpeSymbol struct {
	start, end int32
	prev, next int32
	id         int32 // token id when known (always for tokenizer.json), else -1
	freeze     bool  // a user-defined piece: never merged
}

// bpePair is a candidate merge of two adjacent symbols. key orders the candidates: the
// merge's priority in the high 32 bits (lower first: minus the score, order-preserved, or the
// merge rank) and the left symbol's index in the low 32 bits, so that ties go to the leftmost
// pair as in SentencePiece and Hugging Face. The right symbol is the left one's next.
type bpePair struct {
	key  uint64
	size int32 // byte length of the merged piece, to detect stale candidates
	id   int32 // id of the merged piece
}

type bpeScratch struct {
	syms []bpeSymbol
	heap []bpePair
	out  []int32
	rev  map[string][2]string
	pops int // agenda entries taken, a measure of the work done (for tests)
}

// The agenda is a 4-ary min-heap on key: shallower than a binary heap, so fewer cache misses
// on the long words where it matters.
func (s *bpeScratch) push(p bpePair) {
	h := append(s.heap, p)
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 4
		if h[parent].key <= p.key {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = p
	s.heap = h
}

func (s *bpeScratch) down(i int) {
	h := s.heap
	n := len(h)
	p := h[i]
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if h[j].key < h[m].key {
				m = j
			}
		}
		if h[m].key >= p.key {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = p
}

func (s *bpeScratch) pop() bpePair {
	h := s.heap
	top := h[0]
	s.pops++
	n := len(h) - 1
	h[0] = h[n]
	s.heap = h[:n]
	if n > 0 {
		s.down(0)
	}
	return top
}

// heapify orders s.heap after the initial pairs were appended unordered.
func (s *bpeScratch) heapify() {
	if len(s.heap) < 2 {
		return
	}
	for i := (len(s.heap) - 2) / 4; i >= 0; i-- {
		s.down(i)
	}
}

// scorePriority maps a score to a uint32 that is smaller for higher scores.
func scorePriority(f float32) uint32 {
	if f == 0 {
		f = 0 // -0 ties with +0, as in SentencePiece's float comparison
	}
	b := math.Float32bits(f)
	if b&0x80000000 != 0 {
		b = ^b
	} else {
		b |= 0x80000000
	}
	return ^b
}

// bpe runs the merge loop over one normalised word and returns its ids (in s.out).
func (t *Tokenizer) bpe(s *bpeScratch, seg string) []int32 {
	s.syms = s.syms[:0]
	s.heap = s.heap[:0]
	s.out = s.out[:0]
	switch {
	case t.byteLevel:
		t.byteLevelSymbols(s, seg)
	case t.merges != nil:
		t.hfSymbols(s, seg)
	default:
		t.spmSymbols(s, seg)
	}
	syms := s.syms
	if len(syms) == 0 {
		return s.out
	}
	syms[len(syms)-1].next = -1
	for i := 1; i < len(syms); i++ {
		t.maybeAddPair(s, seg, int32(i-1), int32(i), false)
	}
	s.heapify()
	for len(s.heap) > 0 {
		p := s.pop()
		left := int32(uint32(p.key))
		l := &syms[left]
		if l.start == l.end || l.next < 0 {
			continue // stale: merged away since
		}
		right := l.next
		r := &syms[right]
		if (l.end-l.start)+(r.end-r.start) != p.size {
			continue // stale: a different pair now
		}
		l.end = r.end
		l.next = r.next
		l.id = p.id
		if r.next >= 0 {
			syms[r.next].prev = left
		}
		r.start = r.end // dead
		if l.prev >= 0 {
			t.maybeAddPair(s, seg, l.prev, left, true)
		}
		if l.next >= 0 {
			t.maybeAddPair(s, seg, left, l.next, true)
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		sym := &syms[i]
		if t.merges != nil {
			s.out = append(s.out, sym.id)
			continue
		}
		if sym.id >= 0 && !t.shadowed && !t.hasUnused {
			s.out = append(s.out, sym.id)
			continue
		}
		t.spmOutput(s, seg[sym.start:sym.end])
	}
	if s.rev != nil {
		clear(s.rev)
	}
	return s.out
}

// spmSymbols splits a word into characters, or user-defined pieces, as SentencePiece does.
func (t *Tokenizer) spmSymbols(s *bpeScratch, seg string) {
	for i := 0; i < len(seg); {
		n := 0
		freeze := false
		for _, u := range t.userDefs {
			if strings.HasPrefix(seg[i:], u) {
				n, freeze = len(u), true
				break
			}
		}
		id := int32(-1)
		if n == 0 {
			if c := seg[i]; c < utf8.RuneSelf {
				n = 1
				id = t.asciiID[c]
			} else {
				_, n = utf8.DecodeRuneInString(seg[i:])
				if v, ok := t.mergeable[seg[i:i+n]]; ok {
					id = v
				}
			}
		}
		k := int32(len(s.syms))
		s.syms = append(s.syms, bpeSymbol{start: int32(i), end: int32(i + n), prev: k - 1, next: k + 1, id: id, freeze: freeze})
		i += n
	}
}

// hfSymbols splits a word into characters with their ids, as Hugging Face's BPE model does:
// a character outside the vocabulary becomes its byte tokens (byte fallback) or <unk>.
func (t *Tokenizer) hfSymbols(s *bpeScratch, seg string) {
	add := func(start, end int, id int32) {
		k := int32(len(s.syms))
		s.syms = append(s.syms, bpeSymbol{start: int32(start), end: int32(end), prev: k - 1, next: k + 1, id: id})
	}
next:
	for i := 0; i < len(seg); {
		for _, u := range t.userDefs {
			if strings.HasPrefix(seg[i:], u) {
				add(i, i+len(u), t.mergeable[u])
				s.syms[len(s.syms)-1].freeze = true
				i += len(u)
				continue next
			}
		}
		n := 1
		if seg[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(seg[i:])
		}
		ch := seg[i : i+n]
		if id, ok := t.hfVocab(ch); ok {
			add(i, i+n, id)
			i += n
			continue
		}
		if t.byteFallback {
			all := true
			for j := i; j < i+n; j++ {
				if t.byteIDs[seg[j]] < 0 {
					all = false
				}
			}
			if all {
				for j := i; j < i+n; j++ {
					add(j, j+1, t.byteIDs[seg[j]])
				}
				i += n
				continue
			}
		}
		if k := len(s.syms); t.fuseUnk && k > 0 && s.syms[k-1].id == int32(t.unk) {
			s.syms[k-1].end = int32(i + n)
		} else {
			add(i, i+n, int32(t.unk))
		}
		i += n
	}
}

// hfVocab looks a string up in a tokenizer.json vocabulary.
func (t *Tokenizer) hfVocab(p string) (int32, bool) {
	if id, ok := t.mergeable[p]; ok {
		return id, true
	}
	id, ok := t.reserved[p]
	return id, ok
}

// maybeAddPair proposes merging symbols left and right (adjacent) when the vocabulary has a
// merge for them. With ordered false the pair is only appended (heapify follows).
func (t *Tokenizer) maybeAddPair(s *bpeScratch, seg string, left, right int32, ordered bool) {
	l, r := &s.syms[left], &s.syms[right]
	var p bpePair
	if t.merges != nil {
		if l.freeze || r.freeze {
			return
		}
		m, ok := t.merges[uint64(uint32(l.id))<<32|uint64(uint32(r.id))]
		if !ok {
			return
		}
		p = bpePair{key: uint64(uint32(m.rank))<<32 | uint64(left), size: r.end - l.start, id: m.id}
	} else {
		if l.freeze || r.freeze {
			return
		}
		var id int32
		var ok bool
		if l.id >= 0 && r.id >= 0 {
			id, ok = t.pairs[uint64(uint32(l.id))<<32|uint64(uint32(r.id))]
		} else {
			id, ok = t.mergeable[seg[l.start:r.end]]
		}
		if !ok {
			return
		}
		p = bpePair{key: uint64(t.prio[id])<<32 | uint64(left), size: r.end - l.start, id: id}
		if t.hasUnused && t.types[id] == Unused {
			// SentencePiece remembers, per piece, the last pair proposed to form it.
			if s.rev == nil {
				s.rev = map[string][2]string{}
			}
			s.rev[seg[l.start:r.end]] = [2]string{seg[l.start:l.end], seg[r.start:r.end]}
		}
	}
	if ordered {
		s.push(p)
	} else {
		s.heap = append(s.heap, p)
	}
}

// spmOutput appends the ids of one final SentencePiece symbol: its piece, the pieces an
// unused piece was merged from, or its bytes when it is unknown and byte fallback is on.
func (t *Tokenizer) spmOutput(s *bpeScratch, w string) {
	id, ok := t.PieceID(w)
	if !ok {
		id = t.unk
	}
	if t.hasUnused && t.types[id] == Unused {
		if parts, ok := s.rev[w]; ok {
			t.spmOutput(s, parts[0])
			t.spmOutput(s, parts[1])
			return
		}
	}
	if id == t.unk && t.byteFallback {
		for i := 0; i < len(w); i++ {
			if b := t.byteIDs[w[i]]; b >= 0 {
				s.out = append(s.out, b)
			} else {
				s.out = append(s.out, int32(t.unk))
			}
		}
		return
	}
	s.out = append(s.out, int32(id))
}
