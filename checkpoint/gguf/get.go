package gguf

import (
	"fmt"
	"math"

	"github.com/decilm/decilm/tensor"
)

// Get returns the value of a metadata key (see KV for its Go types) and whether it exists.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// Keys returns the metadata keys in file order.
func (f *File) Keys() []string {
	k := make([]string, len(f.KV))
	for i, kv := range f.KV {
		k[i] = kv.Key
	}
	return k
}

// Tensor returns the tensor of a supported type with the given name.
func (f *File) Tensor(name string) (*tensor.Tensor, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return f.Tensors[i], true
}

// LookupTensor is Tensor with an error that says why a tensor is not available: it is
// absent (the error wraps ErrNotFound), or its ggml type is one decilm does not support.
func (f *File) LookupTensor(name string) (*tensor.Tensor, error) {
	if t, ok := f.Tensor(name); ok {
		return t, nil
	}
	if i, ok := f.unsupIndex[name]; ok {
		u := f.Unsupported[i]
		return nil, fmt.Errorf("gguf %s: tensor %q has ggml type %s (%d), which decilm does not support", f.Name, name, u.Type, uint32(u.Type))
	}
	return nil, fmt.Errorf("gguf %s: tensor %q: %w", f.Name, name, ErrNotFound)
}

// lookup returns a key's value or an error wrapping ErrNotFound.
func (f *File) lookup(key string) (any, error) {
	v, ok := f.Get(key)
	if !ok {
		return nil, fmt.Errorf("gguf %s: metadata key %q: %w", f.Name, key, ErrNotFound)
	}
	return v, nil
}

func (f *File) typeError(key string, v any, want string) error {
	return fmt.Errorf("gguf %s: metadata key %q has type %s, want %s", f.Name, key, typeName(v), want)
}

// typeName names the GGUF type of a decoded value ("uint32", "array of string", ...).
func typeName(v any) string {
	switch v.(type) {
	case uint8:
		return "uint8"
	case int8:
		return "int8"
	case uint16:
		return "uint16"
	case int16:
		return "int16"
	case uint32:
		return "uint32"
	case int32:
		return "int32"
	case uint64:
		return "uint64"
	case int64:
		return "int64"
	case float32:
		return "float32"
	case float64:
		return "float64"
	case bool:
		return "bool"
	case string:
		return "string"
	case []uint8:
		return "array of uint8"
	case []int8:
		return "array of int8"
	case []uint16:
		return "array of uint16"
	case []int16:
		return "array of int16"
	case []uint32:
		return "array of uint32"
	case []int32:
		return "array of int32"
	case []uint64:
		return "array of uint64"
	case []int64:
		return "array of int64"
	case []float32:
		return "array of float32"
	case []float64:
		return "array of float64"
	case []bool:
		return "array of bool"
	case []string:
		return "array of string"
	case []any:
		return "array of array"
	}
	return fmt.Sprintf("Go type %T", v)
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", f.typeError(key, v, "string")
	}
	return s, nil
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.lookup(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, f.typeError(key, v, "bool")
	}
	return b, nil
}

// asInt64 converts any integer value to int64, reporting whether it is an integer that fits.
func asInt64(v any) (int64, bool) {
	switch v := v.(type) {
	case uint8:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		if v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

func isInteger(v any) bool {
	switch v.(type) {
	case uint8, int8, uint16, int16, uint32, int32, uint64, int64:
		return true
	}
	return false
}

// Uint returns an unsigned integer value. Any integer type is accepted as long as the value
// is not negative (files disagree on whether counts are uint32 or int32).
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	if u, ok := v.(uint64); ok {
		return u, nil
	}
	i, ok := asInt64(v)
	if !ok {
		return 0, f.typeError(key, v, "an integer")
	}
	if i < 0 {
		return 0, fmt.Errorf("gguf %s: metadata key %q is %d, want a non-negative integer", f.Name, key, i)
	}
	return uint64(i), nil
}

// Int returns a signed integer value. Any integer type is accepted if the value fits in an
// int64.
func (f *File) Int(key string) (int64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	i, ok := asInt64(v)
	if !ok {
		if isInteger(v) {
			return 0, fmt.Errorf("gguf %s: metadata key %q is %v, too large for an int64", f.Name, key, v)
		}
		return 0, f.typeError(key, v, "an integer")
	}
	return i, nil
}

// Float returns a float32 or float64 value as a float64. Integer values are accepted too.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	case uint64:
		return float64(x), nil
	}
	if i, ok := asInt64(v); ok {
		return float64(i), nil
	}
	return 0, f.typeError(key, v, "a number")
}

// Strings returns an array of strings. The slice is the File's own: do not modify it.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]string)
	if !ok {
		return nil, f.typeError(key, v, "array of string")
	}
	return s, nil
}

// Float32s returns an array of float32. The slice is the File's own: do not modify it.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	s, ok := v.([]float32)
	if !ok {
		return nil, f.typeError(key, v, "array of float32")
	}
	return s, nil
}

// Int32s returns an array of integers as int32. An array of int32 is returned as stored
// (the File's own slice: do not modify it); an array of any other integer type is converted,
// with an error if an element does not fit in an int32.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	if s, ok := v.([]int32); ok {
		return s, nil
	}
	var out []int32
	conv := func(i int, x int64, ok bool) error {
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return fmt.Errorf("gguf %s: metadata key %q: element %d does not fit in an int32", f.Name, key, i)
		}
		out[i] = int32(x)
		return nil
	}
	switch s := v.(type) {
	case []uint8:
		out = make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
	case []int8:
		out = make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
	case []uint16:
		out = make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
	case []int16:
		out = make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
	case []uint32:
		out = make([]int32, len(s))
		for i, x := range s {
			if err := conv(i, int64(x), true); err != nil {
				return nil, err
			}
		}
	case []int64:
		out = make([]int32, len(s))
		for i, x := range s {
			if err := conv(i, x, true); err != nil {
				return nil, err
			}
		}
	case []uint64:
		out = make([]int32, len(s))
		for i, x := range s {
			if err := conv(i, int64(x), x <= math.MaxInt64); err != nil {
				return nil, err
			}
		}
	default:
		return nil, f.typeError(key, v, "array of integers")
	}
	return out, nil
}
