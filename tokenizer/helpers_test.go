package tokenizer

import (
	"math"

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
