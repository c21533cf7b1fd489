package gguf

import (
	"fmt"

	"github.com/decilm/decilm/tensor"
)

// ValueType is the type tag GGUF stores before each metadata value.
type ValueType uint32

// The GGUF metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{
	TypeUint8: "uint8", TypeInt8: "int8", TypeUint16: "uint16", TypeInt16: "int16",
	TypeUint32: "uint32", TypeInt32: "int32", TypeFloat32: "float32", TypeBool: "bool",
	TypeString: "string", TypeArray: "array", TypeUint64: "uint64", TypeInt64: "int64",
	TypeFloat64: "float64",
}

// String returns the GGUF name of the type ("uint32", "string", ...).
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar value of type t, or 0 for strings, arrays and
// unknown types.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// GGMLType is a ggml tensor element type id, as GGUF tensor infos store it.
type GGMLType uint32

// Some ggml type ids (see ggml.h's enum ggml_type; ggmlTypes lists them all).
const (
	GGMLF32  GGMLType = 0
	GGMLF16  GGMLType = 1
	GGMLQ4_0 GGMLType = 2
	GGMLQ8_0 GGMLType = 8
	GGMLQ4_K GGMLType = 12
	GGMLQ6_K GGMLType = 14
	GGMLI32  GGMLType = 26
	GGMLBF16 GGMLType = 30
)

// ggmlTypeInfo describes a ggml type: its name, the elements per block, the bytes per
// block and the tensor.DType that holds it (none: decilm cannot compute with it). Types
// without a DType are still listed, so that their tensors' sizes can be checked and the
// error at use can name them.
type ggmlTypeInfo struct {
	name       string
	blockSize  int
	blockBytes int
	dtype      tensor.DType
	ok         bool
}

// ggmlTypes is the one table of ggml types: ids, names, block sizes and decilm's DType.
var ggmlTypes = map[GGMLType]ggmlTypeInfo{
	0:  {"F32", 1, 4, tensor.F32, true},
	1:  {"F16", 1, 2, tensor.F16, true},
	2:  {"Q4_0", 32, 18, tensor.Q4_0, true},
	3:  {"Q4_1", 32, 20, tensor.Q4_1, true},
	6:  {"Q5_0", 32, 22, tensor.Q5_0, true},
	7:  {"Q5_1", 32, 24, tensor.Q5_1, true},
	8:  {"Q8_0", 32, 34, tensor.Q8_0, true},
	9:  {"Q8_1", 32, 36, 0, false},
	10: {"Q2_K", 256, 84, tensor.Q2_K, true},
	11: {"Q3_K", 256, 110, tensor.Q3_K, true},
	12: {"Q4_K", 256, 144, tensor.Q4_K, true},
	13: {"Q5_K", 256, 176, tensor.Q5_K, true},
	14: {"Q6_K", 256, 210, tensor.Q6_K, true},
	15: {"Q8_K", 256, 292, tensor.Q8_K, true},
	16: {"IQ2_XXS", 256, 66, tensor.IQ2_XXS, true},
	17: {"IQ2_XS", 256, 74, tensor.IQ2_XS, true},
	18: {"IQ3_XXS", 256, 98, tensor.IQ3_XXS, true},
	19: {"IQ1_S", 256, 50, tensor.IQ1_S, true},
	20: {"IQ4_NL", 32, 18, tensor.IQ4_NL, true},
	21: {"IQ3_S", 256, 110, tensor.IQ3_S, true},
	22: {"IQ2_S", 256, 82, tensor.IQ2_S, true},
	23: {"IQ4_XS", 256, 136, tensor.IQ4_XS, true},
	24: {"I8", 1, 1, 0, false},
	25: {"I16", 1, 2, 0, false},
	26: {"I32", 1, 4, tensor.I32, true},
	27: {"I64", 1, 8, 0, false},
	28: {"F64", 1, 8, 0, false},
	29: {"IQ1_M", 256, 56, tensor.IQ1_M, true},
	30: {"BF16", 1, 2, tensor.BF16, true},
	34: {"TQ1_0", 256, 54, tensor.TQ1_0, true},
	35: {"TQ2_0", 256, 66, tensor.TQ2_0, true},
}

// String returns ggml's name for the type ("F16", "Q4_K", ...) or "type(N)".
func (g GGMLType) String() string {
	if ti, ok := ggmlTypes[g]; ok {
		return ti.name
	}
	return fmt.Sprintf("type(%d)", uint32(g))
}

// DType returns the tensor.DType for a ggml type, and false when decilm cannot compute with
// tensors of that type.
func (g GGMLType) DType() (tensor.DType, bool) {
	ti, ok := ggmlTypes[g]
	return ti.dtype, ok && ti.ok
}

// GGMLTypeOf returns the ggml type id that stores a tensor.DType.
func GGMLTypeOf(d tensor.DType) (GGMLType, error) {
	for g, ti := range ggmlTypes {
		if ti.ok && ti.dtype == d {
			return g, nil
		}
	}
	return 0, fmt.Errorf("data type %s has no GGUF equivalent", d)
}
