// Package llama2c reads checkpoints in the legacy format of Andrej Karpathy's llama2.c
// (run.c): seven little-endian int32 header fields followed by float32 tensors. It returns
// the tensors under Hugging Face Llama names, with the query and key rows permuted from
// llama2.c's adjacent-pair RoPE layout to Hugging Face's rotate-half layout, so the same
// transformer code runs every format.
package llama2c

import (
	"encoding/binary"
	"fmt"

	"github.com/decilm/decilm/internal/mmap"
	"github.com/decilm/decilm/tensor"
)

// Header is the legacy llama2.c header.
type Header struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, Vocab, SeqLen int
	// Shared reports whether the classifier reuses the token embedding (a positive vocab
	// size in the file).
	Shared bool
}

// HeadDim is Dim / Heads.
func (h Header) HeadDim() int { return h.Dim / h.Heads }

// File is a parsed llama2.c checkpoint.
type File struct {
	Header  Header
	Tensors []*tensor.Tensor
	m       *mmap.File
}

// Open memory-maps and parses the named file.
func Open(path string) (*File, error) {
	m, err := mmap.Open(path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(path, m.Data)
	if err != nil {
		m.Close()
		return nil, err
	}
	f.m = m
	return f, nil
}

// Close releases the mapping made by Open.
func (f *File) Close() error { return f.m.Close() }

const headerBytes = 7 * 4

// ParseHeader reads and checks the header at the start of data.
func ParseHeader(name string, data []byte) (Header, error) {
	if len(data) < headerBytes {
		return Header{}, fmt.Errorf("%s: %d bytes is too short for a llama2.c header", name, len(data))
	}
	var v [7]int
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(data[4*i:])))
	}
	h := Header{Dim: v[0], HiddenDim: v[1], Layers: v[2], Heads: v[3], KVHeads: v[4], Vocab: v[5], SeqLen: v[6], Shared: v[5] > 0}
	if h.Vocab < 0 {
		h.Vocab = -h.Vocab
	}
	const lim = 1 << 20
	switch {
	case h.Dim <= 0 || h.Dim > lim, h.HiddenDim <= 0 || h.HiddenDim > 4*lim, h.Layers <= 0 || h.Layers > 4096,
		h.Heads <= 0 || h.Heads > h.Dim, h.KVHeads <= 0 || h.KVHeads > h.Heads, h.Vocab <= 0 || h.Vocab > 16*lim,
		h.SeqLen <= 0 || h.SeqLen > 16*lim:
		return Header{}, fmt.Errorf("%s: implausible llama2.c header %+v", name, v)
	case h.Dim%h.Heads != 0 || h.HeadDim()%2 != 0:
		return Header{}, fmt.Errorf("%s: dim %d is not a multiple of 2*heads (%d heads)", name, h.Dim, h.Heads)
	case h.Heads%h.KVHeads != 0:
		return Header{}, fmt.Errorf("%s: %d heads is not a multiple of %d KV heads", name, h.Heads, h.KVHeads)
	}
	return h, nil
}

// FileSize is the size in bytes of a checkpoint with this header: the header, the float32
// weights, the unused RoPE tables (freq_cis) and the classifier unless it is shared.
func (h Header) FileSize() int64 {
	d, f, l, v := int64(h.Dim), int64(h.HiddenDim), int64(h.Layers), int64(h.Vocab)
	kv := int64(h.KVHeads) * int64(h.HeadDim())
	floats := v*d + l*(d+d*d+2*kv*d+d*d+d+3*f*d) + d + int64(h.SeqLen)*int64(h.HeadDim())
	if !h.Shared {
		floats += v * d
	}
	return headerBytes + 4*floats
}

// Parse reads a llama2.c checkpoint held in data. Most tensors alias data; the query and
// key projections are permuted copies.
func Parse(name string, data []byte) (*File, error) {
	h, err := ParseHeader(name, data)
	if err != nil {
		return nil, err
	}
	hd := h.HeadDim()
	kvDim := h.KVHeads * hd
	if want := h.FileSize(); want != int64(len(data)) {
		what := "truncated"
		if want < int64(len(data)) {
			what = fmt.Sprintf("%d unexpected bytes after the last tensor", int64(len(data))-want)
		}
		return nil, fmt.Errorf("%s: %s: the header (dim %d, hidden %d, %d layers, %d heads, %d KV heads, vocab %d, seq_len %d, shared classifier %v) needs %d bytes, the file has %d",
			name, what, h.Dim, h.HiddenDim, h.Layers, h.Heads, h.KVHeads, h.Vocab, h.SeqLen, h.Shared, want, len(data))
	}
	off := headerBytes
	f := &File{Header: h}
	take := func(tname string, shape ...int) ([]byte, error) {
		n := 4
		for _, s := range shape {
			n *= s
		}
		if n > len(data)-off {
			return nil, fmt.Errorf("%s: truncated: tensor %s %v needs %d bytes at offset %d, file has %d", name, tname, shape, n, off, len(data))
		}
		b := data[off : off+n : off+n]
		off += n
		return b, nil
	}
	emb, err := take("token_embedding", h.Vocab, h.Dim)
	if err != nil {
		return nil, err
	}
	add := func(n string, b []byte, shape ...int) {
		f.Tensors = append(f.Tensors, &tensor.Tensor{Name: n, DType: tensor.F32, Shape: shape, Data: b})
	}
	add("model.embed_tokens.weight", emb, h.Vocab, h.Dim)
	// Per-layer groups are stored layer-major within each kind.
	groups := []struct {
		kind  string
		hf    string
		shape []int
	}{
		{"rms_att", "input_layernorm.weight", []int{h.Dim}},
		{"wq", "self_attn.q_proj.weight", []int{h.Dim, h.Dim}},
		{"wk", "self_attn.k_proj.weight", []int{kvDim, h.Dim}},
		{"wv", "self_attn.v_proj.weight", []int{kvDim, h.Dim}},
		{"wo", "self_attn.o_proj.weight", []int{h.Dim, h.Dim}},
		{"rms_ffn", "post_attention_layernorm.weight", []int{h.Dim}},
		{"w1", "mlp.gate_proj.weight", []int{h.HiddenDim, h.Dim}},
		{"w2", "mlp.down_proj.weight", []int{h.Dim, h.HiddenDim}},
		{"w3", "mlp.up_proj.weight", []int{h.HiddenDim, h.Dim}},
	}
	for _, g := range groups {
		for l := 0; l < h.Layers; l++ {
			b, err := take(fmt.Sprintf("%s[%d]", g.kind, l), g.shape...)
			if err != nil {
				return nil, err
			}
			switch g.kind {
			case "wq":
				b = PermuteRows(b, h.Heads, hd, h.Dim*4)
			case "wk":
				b = PermuteRows(b, h.KVHeads, hd, h.Dim*4)
			}
			add(fmt.Sprintf("model.layers.%d.%s", l, g.hf), b, g.shape...)
		}
	}
	norm, err := take("rms_final", h.Dim)
	if err != nil {
		return nil, err
	}
	add("model.norm.weight", norm, h.Dim)
	if _, err := take("freq_cis", 2, h.SeqLen, hd/2); err != nil {
		return nil, err
	}
	if !h.Shared {
		cls, err := take("wcls", h.Vocab, h.Dim)
		if err != nil {
			return nil, err
		}
		add("lm_head.weight", cls, h.Vocab, h.Dim)
	}
	if off != len(data) {
		return nil, fmt.Errorf("%s: %d unexpected bytes after the last tensor", name, len(data)-off)
	}
	return f, nil
}

// PermuteRows converts the rows of a query or key projection from the adjacent-pair RoPE
// layout (within each head, rows 2i and 2i+1 form a rotation pair) to the rotate-half
// layout (rows i and i+headDim/2), returning a new slice; rowBytes is the size of one row.
// It is the permutation Hugging Face's conversion script applies to Meta's checkpoints.
func PermuteRows(b []byte, heads, headDim, rowBytes int) []byte {
	return permute(b, heads, headDim, rowBytes, false)
}

// UnpermuteRows is the inverse of PermuteRows: rotate-half rows back to adjacent pairs (the
// layout GGUF and llama2.c files use).
func UnpermuteRows(b []byte, heads, headDim, rowBytes int) []byte {
	return permute(b, heads, headDim, rowBytes, true)
}

// permute moves adjacent-pair row 2i+j of each head to rotate-half row j·headDim/2+i, or
// back when inverse is set.
func permute(b []byte, heads, headDim, rowBytes int, inverse bool) []byte {
	out := make([]byte, len(b))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		base := h * headDim
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				pair := (base + 2*i + j) * rowBytes
				rot := (base + j*half + i) * rowBytes
				src, dst := pair, rot
				if inverse {
					src, dst = rot, pair
				}
				copy(out[dst:dst+rowBytes], b[src:src+rowBytes])
			}
		}
	}
	return out
}
