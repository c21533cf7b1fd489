package tokenizer

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

type hfAddedToken struct {
	ID      int    `json:"id"`
	Content string `json:"content"`
	Special bool   `json:"special"`
}

type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Model         struct {
		Type                    string          `json:"type"`
		UnkToken                *string         `json:"unk_token"`
		ByteFallback            bool            `json:"byte_fallback"`
		FuseUnk                 bool            `json:"fuse_unk"`
		IgnoreMerges            bool            `json:"ignore_merges"`
		ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
		EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
		Dropout                 *float64        `json:"dropout"`
		Vocab                   map[string]int  `json:"vocab"`
		Merges                  json.RawMessage `json:"merges"`
	} `json:"model"`
}

// hfComponent is a normaliser, pre-tokeniser or post-processor of tokenizer.json.
type hfComponent struct {
	Type        string            `json:"type"`
	Normalizers []json.RawMessage `json:"normalizers"`
	Prepend     string            `json:"prepend"`
	Pattern     struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content        string          `json:"content"`
	Replacement    string          `json:"replacement"`
	PrependScheme  string          `json:"prepend_scheme"`
	AddPrefixSpace *bool           `json:"add_prefix_space"`
	Split          *bool           `json:"split"`
	Single         json.RawMessage `json:"single"`
	// Sequence members and the Split pre-tokeniser.
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Behavior      string            `json:"behavior"`
	Invert        bool              `json:"invert"`
	UseRegex      *bool             `json:"use_regex"`
}

// LoadHFJSON reads a Hugging Face tokenizer.json holding a BPE model with byte fallback and
// the Llama normaliser (Prepend "▁" and Replace " " by "▁", or a Metaspace pre-tokeniser).
// Encoding then applies its merges by rank, as the tokenizers library does. BOS and EOS
// follow the post-processor's template; Load applies tokenizer_config.json.
func LoadHFJSON(data []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: %w", err)
	}
	m := &f.Model
	if m.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: model type %q not supported (only BPE)", m.Type)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return nil, errors.New("tokenizer: tokenizer.json: model.continuing_subword_prefix not supported")
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return nil, errors.New("tokenizer: tokenizer.json: model.end_of_word_suffix not supported")
	}
	if m.Dropout != nil && *m.Dropout != 0 {
		return nil, errors.New("tokenizer: tokenizer.json: BPE dropout not supported")
	}
	if len(m.Vocab) == 0 {
		return nil, errors.New("tokenizer: tokenizer.json: model.vocab is empty")
	}

	// The vocabulary, with added tokens, must number 0..n-1 without gaps.
	n := 0
	for p, id := range m.Vocab {
		if id < 0 || id > 1<<24 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: vocab entry %q has id %d out of range", p, id)
		}
		n = max(n, id+1)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID > 1<<24 {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: added token %q has id %d out of range", a.Content, a.ID)
		}
		n = max(n, a.ID+1)
	}
	t := &Tokenizer{
		pieces:       make([]string, n),
		scores:       make([]float32, n),
		types:        make([]PieceType, n),
		byteFallback: m.ByteFallback,
		fuseUnk:      m.FuseUnk,
		merges:       map[uint64]hfMerge{},
	}
	have := make([]bool, n)
	for p, id := range m.Vocab {
		if have[id] {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: id %d used by %q and %q", id, t.pieces[id], p)
		}
		have[id] = true
		t.pieces[id] = p
		t.types[id] = Normal
		if _, ok := parseBytePiece(p); ok && m.ByteFallback {
			t.types[id] = Byte
		}
	}
	for _, a := range f.AddedTokens {
		if have[a.ID] && t.pieces[a.ID] != a.Content {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: added token %q has id %d, which the vocabulary gives to %q", a.Content, a.ID, t.pieces[a.ID])
		}
		have[a.ID] = true
		t.pieces[a.ID] = a.Content
		if a.Special {
			t.types[a.ID] = Control
		} else {
			t.types[a.ID] = UserDefined
		}
	}
	for id, ok := range have {
		if !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: no token has id %d (vocabulary ids must be contiguous)", id)
		}
	}
	byteLevel, err := hfByteLevelPre(f.PreTokenizer)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: pre_tokenizer: %w", err)
	}
	if byteLevel {
		return hfByteLevel(&f, t.pieces, t.types)
	}
	if m.IgnoreMerges {
		return nil, errors.New("tokenizer: tokenizer.json: model.ignore_merges not supported for a SentencePiece-style BPE")
	}
	unk := -1
	if m.UnkToken != nil {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: unk_token %q is not in the vocabulary", *m.UnkToken)
		}
		unk = id
		t.types[id] = Unknown
	}
	if unk < 0 {
		return nil, errors.New("tokenizer: tokenizer.json: model.unk_token is missing (needed for characters outside the vocabulary)")
	}

	// Merges: "a b" strings or ["a", "b"] pairs, in rank order.
	var pairs [][2]string
	if len(m.Merges) > 0 && !bytes.Equal(m.Merges, []byte("null")) {
		var strs []string
		if err := json.Unmarshal(m.Merges, &strs); err == nil {
			pairs = make([][2]string, len(strs))
			for i, s := range strs {
				a, b, ok := strings.Cut(s, " ")
				if !ok || strings.Contains(b, " ") {
					return nil, fmt.Errorf("tokenizer: tokenizer.json: merges[%d] = %q is not two tokens separated by a space", i, s)
				}
				pairs[i] = [2]string{a, b}
			}
		} else if err := json.Unmarshal(m.Merges, &pairs); err != nil {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: model.merges is neither strings nor pairs: %w", err)
		}
	}
	firstRank := make([]int32, n)
	for i := range firstRank {
		firstRank[i] = -1
	}
	for rank, p := range pairs {
		a, okA := m.Vocab[p[0]]
		b, okB := m.Vocab[p[1]]
		c, okC := m.Vocab[p[0]+p[1]]
		if !okA || !okB || !okC {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: merges[%d] (%q %q) uses a token outside the vocabulary", rank, p[0], p[1])
		}
		t.merges[uint64(uint32(a))<<32|uint64(uint32(b))] = hfMerge{rank: int32(rank), id: int32(c)}
		if firstRank[c] < 0 {
			firstRank[c] = int32(rank)
			t.scores[c] = -float32(rank)
		}
	}

	// Normaliser and pre-tokeniser: where the "▁" prefix and escaping come from.
	escape := false
	if err := t.hfNormalizer(f.Normalizer, &escape); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: normalizer: %w", err)
	}
	if err := t.hfPreTokenizer(f.PreTokenizer, &escape); err != nil {
		return nil, fmt.Errorf("tokenizer: tokenizer.json: pre_tokenizer: %w", err)
	}
	if !escape {
		return nil, errors.New("tokenizer: tokenizer.json: spaces are not replaced by \"▁\" (no Replace normaliser or Metaspace pre-tokeniser): not a SentencePiece-style tokenizer")
	}

	// BOS and EOS: from the post-processor template, else <s> and </s>.
	bos, eos := -1, -1
	if id, ok := m.Vocab["<s>"]; ok {
		bos = id
	}
	if id, ok := m.Vocab["</s>"]; ok {
		eos = id
	}
	if len(f.PostProcessor) > 0 && !bytes.Equal(f.PostProcessor, []byte("null")) {
		var pp hfComponent
		if err := json.Unmarshal(f.PostProcessor, &pp); err != nil {
			return nil, fmt.Errorf("tokenizer: tokenizer.json: post_processor: %w", err)
		}
		if pp.Type == "TemplateProcessing" {
			var items []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct{} `json:"Sequence"`
			}
			if err := json.Unmarshal(pp.Single, &items); err != nil {
				return nil, fmt.Errorf("tokenizer: tokenizer.json: post_processor.single: %w", err)
			}
			seenSeq := false
			for _, it := range items {
				switch {
				case it.Sequence != nil:
					seenSeq = true
				case it.SpecialToken != nil:
					id, ok := t.PieceID(it.SpecialToken.ID)
					if !ok {
						id, ok = m.Vocab[it.SpecialToken.ID]
					}
					if !ok {
						return nil, fmt.Errorf("tokenizer: tokenizer.json: post_processor names unknown token %q", it.SpecialToken.ID)
					}
					if seenSeq {
						eos, t.addEOS = id, true
					} else {
						bos, t.addBOS = id, true
					}
				}
			}
		}
	}
	if err := t.init(unk, bos, eos, -1, false); err != nil {
		return nil, fmt.Errorf("%w (tokenizer.json)", err)
	}
	return t, nil
}

func (t *Tokenizer) hfNormalizer(raw json.RawMessage, escape *bool) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	switch c.Type {
	case "Sequence":
		for _, n := range c.Normalizers {
			if err := t.hfNormalizer(n, escape); err != nil {
				return err
			}
		}
	case "Prepend":
		if c.Prepend != spaceSymbol {
			return fmt.Errorf("Prepend %q not supported (only \"▁\")", c.Prepend)
		}
		if *escape {
			return errors.New("Prepend after Replace not supported")
		}
		t.dummyPrefix = true
	case "Replace":
		if c.Pattern.String == nil || *c.Pattern.String != " " || c.Content != spaceSymbol {
			return errors.New("Replace other than \" \" by \"▁\" not supported")
		}
		*escape = true
	default:
		return fmt.Errorf("normaliser %q not supported", c.Type)
	}
	return nil
}

func (t *Tokenizer) hfPreTokenizer(raw json.RawMessage, escape *bool) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.Type != "Metaspace" {
		return fmt.Errorf("pre-tokeniser %q not supported (only Metaspace)", c.Type)
	}
	if c.Replacement != spaceSymbol {
		return fmt.Errorf("Metaspace replacement %q not supported (only \"▁\")", c.Replacement)
	}
	if *escape {
		return errors.New("Metaspace after a Replace normaliser not supported")
	}
	*escape = true
	t.prefixUnlessSpace = true
	switch c.PrependScheme {
	case "always":
		t.dummyPrefix = true
	case "first":
		t.dummyPrefix, t.prefixFirstOnly = true, true
	case "never":
	case "":
		t.dummyPrefix = c.AddPrefixSpace == nil || *c.AddPrefixSpace
	default:
		return fmt.Errorf("Metaspace prepend_scheme %q not supported", c.PrependScheme)
	}
	t.metaspaceSplit = c.Split == nil || *c.Split
	return nil
}

// MarshalHFJSON writes the vocabulary as a Hugging Face tokenizer.json (BPE with byte fallback
// and the Llama normaliser), deriving the merges from the scores as transformers'
// LlamaConverter does: every split of a mergeable piece into two vocabulary pieces is a merge,
// ranked by the score of the piece. Control, unknown and byte pieces are not merge results.
func (t *Tokenizer) MarshalHFJSON() ([]byte, error) {
	if t.merges != nil {
		return nil, errors.New("tokenizer: MarshalHFJSON: tokenizer was loaded from a tokenizer.json already")
	}
	type merge struct {
		a, b   string
		score  float32
		ia, ib int32
	}
	var merges []merge
	for id, p := range t.pieces {
		typ := t.types[id]
		if typ != Normal && typ != Unused {
			continue
		}
		var local []merge
		for i := 1; i < len(p); i++ {
			a, b := p[:i], p[i:]
			ia, okA := t.hfLookup(a)
			ib, okB := t.hfLookup(b)
			if okA && okB {
				local = append(local, merge{a, b, t.scores[id], ia, ib})
			}
		}
		slices.SortStableFunc(local, func(x, y merge) int {
			if x.ia != y.ia {
				return cmp.Compare(x.ia, y.ia)
			}
			return cmp.Compare(x.ib, y.ib)
		})
		merges = append(merges, local...)
	}
	slices.SortStableFunc(merges, func(x, y merge) int { return cmp.Compare(y.score, x.score) })

	var buf bytes.Buffer
	buf.WriteString(`{"version":"1.0","truncation":null,"padding":null,"added_tokens":[`)
	first := true
	for id, typ := range t.types {
		if typ != Control && typ != Unknown && typ != UserDefined {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		c, _ := json.Marshal(t.pieces[id])
		fmt.Fprintf(&buf, `{"id":%d,"content":%s,"single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":%t}`, id, c, typ != UserDefined)
	}
	buf.WriteString(`],"normalizer":{"type":"Sequence","normalizers":[`)
	if t.dummyPrefix {
		buf.WriteString(`{"type":"Prepend","prepend":"▁"},`)
	}
	buf.WriteString(`{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"pre_tokenizer":null,`)
	if t.bos >= 0 {
		c, _ := json.Marshal(t.pieces[t.bos])
		fmt.Fprintf(&buf, `"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":%s,"type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[],"special_tokens":{}},`, c)
	} else {
		buf.WriteString(`"post_processor":null,`)
	}
	buf.WriteString(`"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},`)
	unk, _ := json.Marshal(t.pieces[t.unk])
	fmt.Fprintf(&buf, `"model":{"type":"BPE","dropout":null,"unk_token":%s,"continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":true,"byte_fallback":%t,"vocab":{`, unk, t.byteFallback)
	seen := map[string]bool{}
	first = true
	for id, p := range t.pieces {
		if seen[p] {
			return nil, fmt.Errorf("tokenizer: MarshalHFJSON: piece %q appears twice; tokenizer.json cannot hold it", p)
		}
		seen[p] = true
		if !first {
			buf.WriteByte(',')
		}
		first = false
		c, _ := json.Marshal(p)
		fmt.Fprintf(&buf, "%s:%d", c, id)
	}
	buf.WriteString(`},"merges":[`)
	for i, m := range merges {
		if i > 0 {
			buf.WriteByte(',')
		}
		c, _ := json.Marshal(m.a + " " + m.b)
		buf.Write(c)
	}
	buf.WriteString("]}}")
	return buf.Bytes(), nil
}

// hfLookup finds a piece that may take part in a merge: one BPE can form or a single
// character of the vocabulary.
func (t *Tokenizer) hfLookup(p string) (int32, bool) {
	id, ok := t.mergeable[p]
	return id, ok
}
