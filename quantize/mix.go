package quantize

import (
	"fmt"
	"sort"
	"strings"

	"github.com/decilm/decilm/tensor"
)

// FileType is one of llama.cpp's file types (llama_ftype, general.file_type): the storage
// type of most weight matrices and, for the k-quant and i-quant files, the rules that give
// some matrices more bits (see TensorType).
type FileType struct {
	// Name is llama-quantize's name, lower case: "q4_k_m", "iq4_xs", "q8_0", ...
	Name string
	// ID is llama.cpp's llama_ftype number, stored as general.file_type.
	ID uint32
	// Base is the type of the matrices no rule changes.
	Base tensor.DType
}

// fileTypeList is every file type Write produces, in llama-quantize's order.
var fileTypeList = []FileType{
	{"f32", 0, tensor.F32}, {"f16", 1, tensor.F16}, {"bf16", 32, tensor.BF16},
	{"q8_0", 7, tensor.Q8_0}, {"q4_0", 2, tensor.Q4_0}, {"q4_1", 3, tensor.Q4_1},
	{"q5_0", 8, tensor.Q5_0}, {"q5_1", 9, tensor.Q5_1},
	{"iq2_xxs", 19, tensor.IQ2_XXS}, {"iq2_xs", 20, tensor.IQ2_XS},
	{"iq1_s", 24, tensor.IQ1_S}, {"iq1_m", 31, tensor.IQ1_M}, {"iq2_s", 28, tensor.IQ2_XS}, {"iq2_m", 29, tensor.IQ2_S}, {"iq3_xxs", 23, tensor.IQ3_XXS},
	{"iq3_xs", 22, tensor.IQ3_S}, {"iq3_s", 26, tensor.IQ3_S}, {"iq3_m", 27, tensor.IQ3_S}, {"tq1_0", 36, tensor.TQ1_0}, {"tq2_0", 37, tensor.TQ2_0},
	{"q2_k", 10, tensor.Q2_K}, {"q2_k_s", 21, tensor.Q2_K},
	{"q3_k_s", 11, tensor.Q3_K}, {"q3_k_m", 12, tensor.Q3_K}, {"q3_k_l", 13, tensor.Q3_K},
	{"q4_k_s", 14, tensor.Q4_K}, {"q4_k_m", 15, tensor.Q4_K},
	{"q5_k_s", 16, tensor.Q5_K}, {"q5_k_m", 17, tensor.Q5_K}, {"q6_k", 18, tensor.Q6_K},
	{"iq4_nl", 25, tensor.IQ4_NL}, {"iq4_xs", 30, tensor.IQ4_XS},
}

// fileTypeAliases are llama-quantize's short names.
var fileTypeAliases = map[string]string{"q3_k": "q3_k_m", "q4_k": "q4_k_m", "q5_k": "q5_k_m"}

// FileTypeNames lists the names ParseFileType accepts (aliases excluded).
func FileTypeNames() []string {
	var n []string
	for _, f := range fileTypeList {
		n = append(n, f.Name)
	}
	return n
}

// ParseFileType returns the file type named s (case-insensitive; q3_k, q4_k and q5_k stand
// for their _m variants, as in llama-quantize).
func ParseFileType(s string) (FileType, error) {
	s = strings.ToLower(s)
	if a, ok := fileTypeAliases[s]; ok {
		s = a
	}
	for _, f := range fileTypeList {
		if f.Name == s {
			return f, nil
		}
	}
	return FileType{}, fmt.Errorf("file type %q is not one of %s", s, strings.Join(FileTypeNames(), ", "))
}

// fileTypeOf is the file type of a plain storage type: the one named after it (for the
// k-quants, llama-quantize's alias: Q4_K is q4_k_m).
func fileTypeOf(d tensor.DType) (FileType, bool) {
	name := strings.ToLower(d.String())
	if a, ok := fileTypeAliases[name]; ok {
		name = a
	}
	for _, f := range fileTypeList {
		if f.Name == name {
			return f, true
		}
	}
	return FileType{}, false
}

// mixState is what llama.cpp's llama_tensor_get_type counts while it walks the tensors in
// layer order: how many attention value matrices there are and how many it has passed, how
// many down, gate and up projections it has passed.
type mixState struct {
	nLayer, nAttnV                 int
	iAttnV, iFFNDown, iGate, iUp   int
	gqa                            int // query heads per KV head of layer 0; 0 without KV heads
	hasOutput, hasImatrix, is70B   bool
	outputType, tokenEmbeddingType tensor.DType // overrides; 0xff when unset
}

const noType = tensor.DType(0xff)

// useMoreBits is llama.cpp's choice of the layers that get more bits: the first and last
// eighth, and every third layer between.
func useMoreBits(i, n int) bool { return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2 }

// tensorType returns the type of one weight matrix (llama.cpp name, cols elements a row) in
// a file of type ft, following llama.cpp's llama_tensor_get_type (src/llama-quant.cpp at
// c392e509) for the "deci" and "llama" architectures without experts:
//
//   - the output projection (or the token embedding when it is tied) gets Q6_K in every
//     quantized file but Q8_0's, and Q8_0 when its rows are not whole blocks;
//   - attn_v gets Q4_K/Q3_K in Q2_K files (by grouping ≥ 4), Q5_K in the first two layers
//     and Q4_K elsewhere in Q3_K_M, Q5_K in Q3_K_L and in IQ4_NL/IQ4_XS files with
//     grouping ≥ 4, Q6_K in the layers useMoreBits picks in Q4_K_M and Q5_K_M, Q5_K in the
//     first four of Q4_K_S; Q5_K instead of Q3_K/Q4_K in an 80-layer model;
//   - ffn_down gets Q3_K in Q2_K, Q4_K in the first eighth of Q2_K_S, Q5_K in the first
//     sixteenth and Q4_K elsewhere in Q3_K_M, Q5_K in Q3_K_L, Q6_K in the useMoreBits layers
//     of Q4_K_M and Q5_K_M, Q5_K in the first eighth of IQ4_NL/IQ4_XS without an importance
//     matrix and of Q4_K_S, Q4_1/Q5_1 in the first eighth of Q4_0/Q5_0 with one;
//   - attn_output gets Q3_K in Q2_K, Q4_K in Q3_K_M, Q5_K in Q3_K_L;
//   - in IQ1_S, IQ1_M, IQ2_XXS and IQ2_XS files the output projection gets Q5_K, the token
//     embedding Q2_K, attn_v Q4_K (grouping ≥ 4) or Q2_K and ffn_down Q2_K in the first
//     eighth of the layers (IQ3_S instead of Q2_K, and for attn_output and the embedding too,
//     in IQ2_S and IQ2_M files; IQ2_XXS for attn_output in the IQ1 files);
//   - IQ3_XXS files give the output Q5_K, the embedding and attn_output IQ3_S, attn_q and
//     attn_k IQ2_S, attn_v Q4_K (grouping ≥ 4) or IQ3_XXS (IQ3_S without an importance
//     matrix); IQ3_XS, IQ3_S and IQ3_M files give attn_v Q4_K (IQ3_M always, the others by
//     grouping ≥ 4), IQ3_XS attn_q, attn_k and the middle three quarters of ffn_gate and
//     ffn_up IQ3_XXS, IQ3_M the first eighth of ffn_down and attn_output Q4_K;
//   - in TQ1_0 and TQ2_0 files the token embedding gets Q4_K.
//
// The layer counts are llama.cpp's: attn_v is counted over the layers that have one (a
// Nemotron layer with skipped or linear attention has none), ffn_down's position over the
// down projections present, its total the number of layers. A matrix whose rows are not a
// whole number of blocks falls back as in llama.cpp (Q2_K, Q3_K, IQ4_XS, IQ2_* to IQ4_NL;
// TQ1_0, TQ2_0 to Q4_0; Q4_K to Q5_0; Q5_K to Q5_1; Q6_K to Q8_0) and then to F16 when those blocks do not fit either;
// where llama.cpp stops with "unsupported tensor size" (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// IQ4_NL) decilm also falls back to F16.
func (s *mixState) tensorType(ft FileType, pure bool, name string, cols int) tensor.DType {
	t := ft.Base
	if ft.Base.Quantized() && !pure {
		t = s.mixType(ft, name, cols)
	}
	if name == "token_embd.weight" && s.tokenEmbeddingType != noType {
		t = s.tokenEmbeddingType
	}
	if name == "output.weight" && s.outputType != noType {
		t = s.outputType
	}
	return fallback(t, cols)
}

// fallback replaces t by llama.cpp's fallback type when rows of cols values are not whole
// blocks of t, and by F16 when they are not whole blocks of that either.
func fallback(t tensor.DType, cols int) tensor.DType {
	if cols%t.BlockSize() == 0 {
		return t
	}
	switch t {
	case tensor.Q2_K, tensor.Q3_K, tensor.IQ4_XS, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S,
		tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S, tensor.IQ1_M:
		t = tensor.IQ4_NL
	case tensor.TQ1_0, tensor.TQ2_0:
		t = tensor.Q4_0
	case tensor.Q4_K:
		t = tensor.Q5_0
	case tensor.Q5_K:
		t = tensor.Q5_1
	case tensor.Q6_K:
		t = tensor.Q8_0
	default:
		t = tensor.F16
	}
	if cols%t.BlockSize() != 0 {
		t = tensor.F16
	}
	return t
}

// mixType is llama_tensor_get_type's choice before the fallback for ragged rows.
func (s *mixState) mixType(ft FileType, name string, cols int) tensor.DType {
	t := ft.Base
	f := ft.Name
	if name == "output.weight" || (!s.hasOutput && name == "token_embd.weight") {
		switch {
		case cols%t.BlockSize() != 0:
			return tensor.Q8_0
		case lowBit(f) || f == "iq3_xxs":
			return tensor.Q5_K
		case t != tensor.Q8_0:
			return tensor.Q6_K
		}
		return t
	}
	if name == "token_embd.weight" {
		switch f {
		case "iq2_xxs", "iq2_xs", "iq1_s", "iq1_m":
			return tensor.Q2_K
		case "iq2_s", "iq2_m", "iq3_xxs":
			return tensor.IQ3_S
		case "tq1_0", "tq2_0":
			return tensor.Q4_K
		}
		return t
	}
	if lowBit(f) {
		// IQ2_S and IQ2_M files use IQ3_S where the others use Q2_K.
		more := pick(f == "iq2_s" || f == "iq2_m", tensor.IQ3_S, tensor.Q2_K)
		switch {
		case strings.Contains(name, "attn_v.weight"):
			s.iAttnV++
			return pick(s.gqa >= 4, tensor.Q4_K, more)
		case strings.Contains(name, "ffn_down"):
			i := s.iFFNDown
			s.iFFNDown++
			if i < s.nLayer/8 {
				return more
			}
		case strings.Contains(name, "attn_output.weight"):
			switch f {
			case "iq1_s", "iq1_m":
				return tensor.IQ2_XXS
			case "iq2_s", "iq2_m":
				return tensor.IQ3_S
			}
		}
		return t
	}
	switch {
	case strings.Contains(name, "attn_v.weight"):
		i := s.iAttnV
		s.iAttnV++
		switch {
		case f == "q2_k":
			t = pick(s.gqa >= 4, tensor.Q4_K, tensor.Q3_K)
		case f == "q2_k_s" && s.gqa >= 4:
			t = tensor.Q4_K
		case f == "iq3_xxs":
			t = pick(s.gqa >= 4, tensor.Q4_K, pick(s.hasImatrix, tensor.IQ3_XXS, tensor.IQ3_S))
		case (f == "iq3_xs" || f == "iq3_s") && s.gqa >= 4, f == "iq3_m":
			t = tensor.Q4_K
		case f == "q3_k_m":
			t = pick(i < 2, tensor.Q5_K, tensor.Q4_K)
		case f == "q3_k_l":
			t = tensor.Q5_K
		case (f == "iq4_nl" || f == "iq4_xs") && s.gqa >= 4:
			t = tensor.Q5_K
		case (f == "q4_k_m" || f == "q5_k_m") && useMoreBits(i, s.nAttnV):
			t = tensor.Q6_K
		case f == "q4_k_s" && i < 4:
			t = tensor.Q5_K
		}
		if s.is70B && (t == tensor.Q3_K || t == tensor.Q4_K) {
			t = tensor.Q5_K
		}
	case strings.Contains(name, "attn_k.weight"), strings.Contains(name, "attn_q.weight"):
		switch f {
		case "iq3_xs":
			t = tensor.IQ3_XXS
		case "iq3_xxs":
			t = tensor.IQ2_S
		}
	case strings.Contains(name, "ffn_down"):
		i, n := s.iFFNDown, s.nLayer
		s.iFFNDown++
		switch {
		case f == "q2_k":
			t = tensor.Q3_K
		case f == "q2_k_s":
			if i < n/8 {
				t = tensor.Q4_K
			}
		case f == "iq3_xxs" && !s.hasImatrix:
			t = pick(i < n/8, tensor.Q4_K, tensor.Q3_K)
		case f == "q3_k_m":
			t = pick(i < n/16, tensor.Q5_K, tensor.Q4_K)
		case f == "iq3_m" && i < n/8:
			t = tensor.Q4_K
		case f == "q3_k_l":
			t = tensor.Q5_K
		case f == "q4_k_m":
			if useMoreBits(i, n) {
				t = tensor.Q6_K
			}
		case i < n/8 && (f == "iq4_nl" || f == "iq4_xs") && !s.hasImatrix:
			t = tensor.Q5_K
		case f == "q5_k_m" && useMoreBits(i, n):
			t = tensor.Q6_K
		case f == "q4_k_s" && i < n/8:
			t = tensor.Q5_K
		case (f == "q4_0" || f == "q5_0") && s.hasImatrix && i < n/8:
			t = pick(f == "q4_0", tensor.Q4_1, tensor.Q5_1)
		}
	case strings.Contains(name, "attn_output.weight"):
		switch f {
		case "q2_k":
			t = tensor.Q3_K
		case "iq3_xxs":
			t = tensor.IQ3_S
		case "q3_k_m", "iq3_m":
			t = tensor.Q4_K
		case "q3_k_l":
			t = tensor.Q5_K
		}
	case strings.Contains(name, "ffn_gate"), strings.Contains(name, "ffn_up"):
		i, n := s.iGate, s.nLayer
		if strings.Contains(name, "ffn_up") {
			i = s.iUp
			s.iUp++
		} else {
			s.iGate++
		}
		if f == "iq3_xs" && i >= n/8 && i < 7*n/8 {
			t = tensor.IQ3_XXS
		}
	}
	return t
}

// lowBit reports whether file type f is one of the 2-bit lattice types, which llama.cpp
// gives their own rules (and requires an importance matrix for).
func lowBit(f string) bool {
	switch f {
	case "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq1_s", "iq1_m":
		return true
	}
	return false
}

func pick(c bool, a, b tensor.DType) tensor.DType {
	if c {
		return a
	}
	return b
}

// TypeCounts summarises a file's tensors as "type: count" pairs, most frequent first (for
// reports and tests).
func TypeCounts(types map[string]tensor.DType) string {
	n := map[tensor.DType]int{}
	for _, t := range types {
		n[t]++
	}
	ts := make([]tensor.DType, 0, len(n))
	for t := range n {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		if n[ts[i]] != n[ts[j]] {
			return n[ts[i]] > n[ts[j]]
		}
		return ts[i] < ts[j]
	})
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %d", t, n[t])
	}
	return b.String()
}
