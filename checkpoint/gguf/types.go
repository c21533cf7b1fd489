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

// The ggml type ids decilm reads (see ggml.h's enum ggml_type).
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

// ggmlTypeInfo describes a ggml type: its name, the elements per block and the bytes per
// block. Types decilm cannot compute with are still listed, so that their tensors' sizes can
// be checked and the error at use can name them.
type ggmlTypeInfo struct {
	name       string
	blockSize  int
	blockBytes int
}

var ggmlTypes = map[GGMLType]ggmlTypeInfo{
	0:  {"F32", 1, 4},
	1:  {"F16", 1, 2},
	2:  {"Q4_0", 32, 18},
	3:  {"Q4_1", 32, 20},
	6:  {"Q5_0", 32, 22},
	7:  {"Q5_1", 32, 24},
	8:  {"Q8_0", 32, 34},
	9:  {"Q8_1", 32, 36},
	10: {"Q2_K", 256, 84},
	11: {"Q3_K", 256, 110},
	12: {"Q4_K", 256, 144},
	13: {"Q5_K", 256, 176},
	14: {"Q6_K", 256, 210},
	15: {"Q8_K", 256, 292},
	16: {"IQ2_XXS", 256, 66},
	17: {"IQ2_XS", 256, 74},
	18: {"IQ3_XXS", 256, 98},
	19: {"IQ1_S", 256, 50},
	20: {"IQ4_NL", 32, 18},
	21: {"IQ3_S", 256, 110},
	22: {"IQ2_S", 256, 82},
	23: {"IQ4_XS", 256, 136},
	24: {"I8", 1, 1},
	25: {"I16", 1, 2},
	26: {"I32", 1, 4},
	27: {"I64", 1, 8},
	28: {"F64", 1, 8},
	29: {"IQ1_M", 256, 56},
	30: {"BF16", 1, 2},
	34: {"TQ1_0", 256, 54},
	35: {"TQ2_0", 256, 66},
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
	switch g {
	case GGMLF32:
		return tensor.F32, true
	case GGMLF16:
		return tensor.F16, true
	case GGMLBF16:
		return tensor.BF16, true
	case GGMLQ8_0:
		return tensor.Q8_0, true
	case GGMLQ4_0:
		return tensor.Q4_0, true
	case GGMLQ4_K:
		return tensor.Q4_K, true
	case GGMLQ6_K:
		return tensor.Q6_K, true
	case GGMLI32:
		return tensor.I32, true
	}
	return 0, false
}

// GGMLTypeOf returns the ggml type id that stores a tensor.DType.
func GGMLTypeOf(d tensor.DType) (GGMLType, error) {
	switch d {
	case tensor.F32:
		return GGMLF32, nil
	case tensor.F16:
		return GGMLF16, nil
	case tensor.BF16:
		return GGMLBF16, nil
	case tensor.Q8_0:
		return GGMLQ8_0, nil
	case tensor.Q4_0:
		return GGMLQ4_0, nil
	case tensor.Q4_K:
		return GGMLQ4_K, nil
	case tensor.Q6_K:
		return GGMLQ6_K, nil
	case tensor.I32:
		return GGMLI32, nil
	}
	return 0, fmt.Errorf("data type %s has no GGUF equivalent", d)
}
