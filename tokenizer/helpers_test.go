package tokenizer

import (
	"io/fs"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/decilm/decilm/defaultmodel"
	"google.golang.org/protobuf/encoding/protowire"
)

// writeModelProto serialises a tokenizer as a SentencePiece ModelProto (BPE, identity
// normaliser), so that spm_encode can serve as the reference for vocabularies that come in
// other formats.
func writeModelProto(t *Tokenizer) []byte {
	var b []byte
	for i, p := range t.pieces {
		var sp []byte
		sp = protowire.AppendTag(sp, spPiece, protowire.BytesType)
		sp = protowire.AppendString(sp, p)
		sp = protowire.AppendTag(sp, spScore, protowire.Fixed32Type)
		sp = protowire.AppendFixed32(sp, math.Float32bits(t.scores[i]))
		sp = protowire.AppendTag(sp, spType, protowire.VarintType)
		sp = protowire.AppendVarint(sp, uint64(t.types[i]))
		b = protowire.AppendTag(b, mpPieces, protowire.BytesType)
		b = protowire.AppendBytes(b, sp)
	}
	boolv := func(v bool) uint64 {
		if v {
			return 1
		}
		return 0
	}
	var ts []byte
	for _, f := range []struct {
		num protowire.Number
		v   uint64
	}{
		{tsModelType, modelTypeBPE},
		{4, uint64(len(t.pieces))},
		{tsByteFallback, boolv(t.byteFallback)},
		{tsUnkID, uint64(t.unk)},
		{tsBOSID, uint64(int64(t.bos))},
		{tsEOSID, uint64(int64(t.eos))},
		{tsPadID, uint64(int64(t.pad))},
	} {
		ts = protowire.AppendTag(ts, f.num, protowire.VarintType)
		ts = protowire.AppendVarint(ts, f.v)
	}
	b = protowire.AppendTag(b, mpTrainer, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	ns = protowire.AppendTag(ns, nsName, protowire.BytesType)
	ns = protowire.AppendString(ns, "identity")
	ns = protowire.AppendTag(ns, nsAddDummyPrefix, protowire.VarintType)
	ns = protowire.AppendVarint(ns, boolv(t.dummyPrefix))
	ns = protowire.AppendTag(ns, nsRemoveExtraWhitespaces, protowire.VarintType)
	ns = protowire.AppendVarint(ns, boolv(t.removeExtra))
	ns = protowire.AppendTag(ns, nsEscapeWhitespaces, protowire.VarintType)
	ns = protowire.AppendVarint(ns, 1)
	b = protowire.AppendTag(b, mpNormalizer, protowire.BytesType)
	b = protowire.AppendBytes(b, ns)
	return b
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// adversarialLines generates lines that stress the tokenizer: whitespace runs, mixed scripts,
// emoji sequences, control characters, invalid UTF-8 and long runs without spaces.
func adversarialLines(n int, seed uint64) []string {
	r := rand.New(rand.NewPCG(seed, 1))
	atoms := []string{
		" ", " ", "  ", "   ", "\t", "\t\t", "\r", "\v", "\f", "\u00a0", "\u3000", "\u2581", "\u2581\u2581",
		"a", "e", "the", "The", "ing", "Hello", "world", "123", "4567", "0", ".", ",", "!", "?", "'", "\"",
		"é", "ü", "ß", "ñ", "Привет", "мир", "日本語", "中文", "镇", "한국어", "العربية", "हिन्दी", "ไทย", "Ελληνικά",
		"🦙", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "Ꙋ", "𝔘𝔫𝔦", "\u200b", "\u0301", "e\u0301",
		"\x01", "\x02", "\x1b", "\x7f", "\u0085", "\x00",
		"\xff", "\xc3", "\xe2\x82", "\xf0\x9f\xa6", "\x80", "\xed\xa0\x80",
		"<s>", "</s>", "<unk>", "<0x0A>", "▁▁▁",
	}
	lines := make([]string, 0, n+8)
	for range n {
		var b strings.Builder
		for k := r.IntN(12); k >= 0; k-- {
			a := atoms[r.IntN(len(atoms))]
			for rep := 1 + r.IntN(3)*r.IntN(3); rep > 0; rep-- {
				b.WriteString(a)
			}
		}
		lines = append(lines, b.String())
	}
	lines = append(lines,
		strings.Repeat(" ", 3000),
		strings.Repeat("a", 3000),
		strings.Repeat("ab", 1500),
		strings.Repeat("\t", 500),
		strings.Repeat("日", 1000),
		strings.Repeat("🦙", 500),
		strings.Repeat("Supercalifragilistic", 100),
		strings.Repeat("1", 2000),
	)
	return lines
}

// tok512Bytes returns llama2.c's tok512.bin, the stories260K vocabulary embedded in
// defaultmodel (MIT, see defaultmodel/stories260K/LICENSE).
func tok512Bytes(t testing.TB) []byte {
	t.Helper()
	b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tok512 loads tok512Bytes.
func tok512(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := LoadLlama2C(tok512Bytes(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// storiesText is stories260K's greedy text from BOS (llama2.c's test_all.py), an English
// sample in the tok512 vocabulary's domain.
const storiesText = `Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.
Lily's mom said, "Lily, let's go to the park." Lily was sad and didn't know what to do. She said, "I want to play with your ball, but I can't find it."
Lily was sad and didn't know what to do. She said, "I'm sorry, Lily. I didn't know what to do."
Lily didn't want to help her mom, so she`
