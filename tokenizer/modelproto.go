package tokenizer

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of sentencepiece_model.proto.
const (
	mpPieces     = 1 // ModelProto.pieces (SentencePiece)
	mpTrainer    = 2 // ModelProto.trainer_spec
	mpNormalizer = 3 // ModelProto.normalizer_spec

	spPiece = 1 // SentencePiece.piece
	spScore = 2 // SentencePiece.score
	spType  = 3 // SentencePiece.type

	tsModelType               = 3
	tsTreatWhitespaceAsSuffix = 24
	tsByteFallback            = 35
	tsUnkID                   = 40
	tsBOSID                   = 41
	tsEOSID                   = 42
	tsPadID                   = 43
	tsBOSPiece                = 46
	tsEOSPiece                = 47

	nsName                   = 1
	nsPrecompiledCharsmap    = 2
	nsAddDummyPrefix         = 3
	nsRemoveExtraWhitespaces = 4
	nsEscapeWhitespaces      = 5
)

// modelTypeBPE is TrainerSpec.ModelType BPE.
const modelTypeBPE = 2

// LoadModelProto reads a SentencePiece tokenizer.model (a serialised ModelProto). Only BPE
// models with the identity normaliser are supported, which covers Llama-2, DeciLM and
// Mistral. AddBOS defaults to true (LlamaTokenizer's add_bos_token) and AddEOS to false;
// Load applies tokenizer_config.json.
func LoadModelProto(data []byte) (*Tokenizer, error) {
	t := &Tokenizer{}
	type trainer struct {
		modelType            int64
		byteFallback         bool
		unkID, bosID, eosID  int64
		padID                int64
		bosPiece, eosPiece   string
		treatWhitespaceAsSfx bool
	}
	tr := trainer{modelType: 1, unkID: 0, bosID: 1, eosID: 2, padID: -1, bosPiece: "<s>", eosPiece: "</s>"}
	addDummy, removeExtra, escapeWS := true, true, true
	normName := ""
	var charsmap []byte
	sawTrainer := false

	err := walk(data, "ModelProto", func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
		switch num {
		case mpPieces:
			if typ != protowire.BytesType {
				return fmt.Errorf("pieces[%d] has wire type %d", len(t.pieces), typ)
			}
			piece, score, ptype := "", float32(0), Normal
			err := walk(b, fmt.Sprintf("pieces[%d]", len(t.pieces)), func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
				switch {
				case num == spPiece && typ == protowire.BytesType:
					piece = string(b)
				case num == spScore && typ == protowire.Fixed32Type:
					score = math.Float32frombits(uint32(v))
				case num == spType && typ == protowire.VarintType:
					if v < uint64(Normal) || v > uint64(Byte) {
						return fmt.Errorf("type %d is not a SentencePiece type", v)
					}
					ptype = PieceType(v)
				}
				return nil
			})
			if err != nil {
				return err
			}
			t.pieces = append(t.pieces, piece)
			t.scores = append(t.scores, score)
			t.types = append(t.types, ptype)
		case mpTrainer:
			if typ != protowire.BytesType {
				return errors.New("trainer_spec is not a message")
			}
			sawTrainer = true
			return walk(b, "trainer_spec", func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
				if typ == protowire.VarintType {
					switch num {
					case tsModelType:
						tr.modelType = int64(v)
					case tsByteFallback:
						tr.byteFallback = v != 0
					case tsTreatWhitespaceAsSuffix:
						tr.treatWhitespaceAsSfx = v != 0
					case tsUnkID:
						tr.unkID = int64(int32(v))
					case tsBOSID:
						tr.bosID = int64(int32(v))
					case tsEOSID:
						tr.eosID = int64(int32(v))
					case tsPadID:
						tr.padID = int64(int32(v))
					}
				} else if typ == protowire.BytesType {
					switch num {
					case tsBOSPiece:
						tr.bosPiece = string(b)
					case tsEOSPiece:
						tr.eosPiece = string(b)
					}
				}
				return nil
			})
		case mpNormalizer:
			if typ != protowire.BytesType {
				return errors.New("normalizer_spec is not a message")
			}
			return walk(b, "normalizer_spec", func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error {
				switch {
				case num == nsName && typ == protowire.BytesType:
					normName = string(b)
				case num == nsPrecompiledCharsmap && typ == protowire.BytesType:
					charsmap = b
				case num == nsAddDummyPrefix && typ == protowire.VarintType:
					addDummy = v != 0
				case num == nsRemoveExtraWhitespaces && typ == protowire.VarintType:
					removeExtra = v != 0
				case num == nsEscapeWhitespaces && typ == protowire.VarintType:
					escapeWS = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tokenizer: SentencePiece model: %w", err)
	}
	if len(t.pieces) == 0 {
		return nil, errors.New("tokenizer: SentencePiece model: no pieces (not a tokenizer.model, or truncated)")
	}
	if sawTrainer && tr.modelType != modelTypeBPE {
		return nil, fmt.Errorf("tokenizer: SentencePiece model: model_type %d not supported (only BPE = 2)", tr.modelType)
	}
	if len(charsmap) > 0 {
		return nil, fmt.Errorf("tokenizer: SentencePiece model: normaliser %q with a precompiled character map not supported (only identity)", normName)
	}
	if !escapeWS {
		return nil, errors.New("tokenizer: SentencePiece model: escape_whitespaces=false not supported")
	}
	if tr.treatWhitespaceAsSfx {
		return nil, errors.New("tokenizer: SentencePiece model: treat_whitespace_as_suffix not supported")
	}
	t.byteFallback = tr.byteFallback
	t.dummyPrefix = addDummy
	t.removeExtra = removeExtra
	bos, eos := -1, -1
	if id, ok := t.reservedID(tr.bosPiece, Control); ok {
		bos = id
	}
	if id, ok := t.reservedID(tr.eosPiece, Control); ok {
		eos = id
	}
	pad := -1
	if tr.padID >= 0 && tr.padID < int64(len(t.pieces)) {
		pad = int(tr.padID)
	}
	t.addBOS = bos >= 0 // LlamaTokenizer's default add_bos_token
	if err := t.init(-1, bos, eos, pad, false); err != nil {
		return nil, fmt.Errorf("%w (SentencePiece model)", err)
	}
	return t, nil
}

// reservedID finds the first piece p of type typ.
func (t *Tokenizer) reservedID(p string, typ PieceType) (int, bool) {
	for i := range t.pieces {
		if t.pieces[i] == p && t.types[i] == typ {
			return i, true
		}
	}
	return -1, false
}

// walk calls f for each field of a protobuf message; v is a varint or fixed value, b the
// bytes of a length-delimited field. Malformed input gives an error naming the message.
func walk(data []byte, msg string, f func(num protowire.Number, typ protowire.Type, v uint64, b []byte) error) error {
	for off := 0; len(data) > 0; {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return fmt.Errorf("%s: bad field tag at byte %d: %v", msg, off, protowire.ParseError(n))
		}
		data = data[n:]
		off += n
		var v uint64
		var b []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(data)
		case protowire.Fixed32Type:
			var x uint32
			x, n = protowire.ConsumeFixed32(data)
			v = uint64(x)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(data)
		case protowire.BytesType:
			b, n = protowire.ConsumeBytes(data)
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return fmt.Errorf("%s: field %d at byte %d: %v (truncated or corrupt)", msg, num, off, protowire.ParseError(n))
		}
		data = data[n:]
		off += n
		if err := f(num, typ, v, b); err != nil {
			if msg == "ModelProto" {
				return err
			}
			return fmt.Errorf("%s: %w", msg, err)
		}
	}
	return nil
}
