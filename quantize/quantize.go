// Package quantize writes a loaded model as a GGUF version 3 file in the layout llama.cpp
// loads: architecture "deci" (per-layer key/value head counts as an INT32 array; for
// Nemotron-NAS models also per-layer head counts, 0 where attention is skipped, and FFN
// widths, 0 where the FFN is skipped or linear, as llama.cpp's converter writes them) or
// "llama"; the SentencePiece vocabulary with its scores and token types, or a Llama-3
// byte-level BPE vocabulary as llama.cpp's converter writes it, and the chat template; tensors under llama.cpp's names (model's weight
// table) with the query and key rows in its adjacent-pair RoPE layout, llama3 RoPE scaling
// as a rope_freqs tensor; and the weights in one of llama-quantize's file types: F32, F16,
// BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, the k-quant mixes (Q2_K, Q2_K_S, Q3_K_S/M/L,
// Q4_K_S/M, Q5_K_S/M, Q6_K), IQ4_NL and IQ4_XS.
//
// llama.cpp (c392e509) runs grouped, linear and skipped attention but needs a gated FFN in
// every layer: a file of a model with a skipped or linear FFN (stored as
// blk.N.ffn_linear.weight, a name of decilm's) loads in decilm only.
//
// The type of each tensor follows llama-quantize's rules (TensorTypes; mix.go has them): norm vectors stay
// F32; the output projection gets Q6_K; some attention value and down projections get more
// bits by layer; rows that are not whole blocks fall back per tensor. Quantization itself is
// tensor.EncodeRowWeighted, which follows ggml's quantizers (with an importance matrix when
// Options.Importance has one), so a tensor written here has the bytes llama-quantize would
// write for the same float32 input and importances (tested on committed references and, with
// llama.cpp at hand, on whole files).
//
// Importance matrices: ReadImatrix reads llama.cpp's GGUF imatrix files and its legacy .dat
// files, WriteImatrix writes the GGUF form, and Collector gathers one from a model's
// activations.
//
// Write streams: it encodes one tensor at a time, so memory stays at one tensor's encoded
// bytes beyond the (usually memory-mapped) source model.
package quantize

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"

	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/llama2c"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

// Options choose what Write produces.
type Options struct {
	// FileType is llama-quantize's name of the file type ("q4_k_m", "q5_k_s", "iq4_xs",
	// "q8_0", ...: FileTypeNames), which sets the type of every matrix (TensorTypes). When
	// empty, Type names it.
	FileType string
	// Type is the storage type of the weight matrices when FileType is empty: F32, F16,
	// BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL or IQ4_XS,
	// meaning the file type of that name (Q3_K, Q4_K, Q5_K: their _m file types).
	Type tensor.DType
	// OutputType and TokenEmbeddingType, when not "", override the type of the output
	// projection and of the token embedding ("q8_0", "f16", ...), as llama-quantize's
	// --output-tensor-type and --token-embedding-type do.
	OutputType, TokenEmbeddingType string
	// Pure stores every matrix as the file type's base type (llama-quantize --pure), but
	// for rows that are not whole blocks.
	Pure bool
	// Importance holds an importance matrix: for each tensor (llama.cpp name) one
	// non-negative weight a column, the mean squared activation that meets it
	// (ReadImatrix). Quantizers then minimise the error those weights give. A tensor
	// without an entry is quantized without one.
	Importance map[string][]float32
	// Arch is general.architecture: "deci" (the default) or "llama", which needs every layer
	// to have the same number of key/value heads.
	Arch string
	// Name is general.name (default "decilm").
	Name string
	// ChatTemplate, when not empty, is stored as tokenizer.chat_template (the Jinja
	// source, as llama.cpp's converter copies it from tokenizer_config.json).
	ChatTemplate string
	// Progress, when set, is called after each tensor with the bytes of tensor data written
	// so far and in all.
	Progress func(done, total int64)
}

// fileType resolves o's file type.
func (o Options) fileType() (FileType, error) {
	if o.FileType != "" {
		return ParseFileType(o.FileType)
	}
	ft, ok := fileTypeOf(o.Type)
	if !ok {
		return FileType{}, fmt.Errorf("type %s is not one of %s", o.Type, strings.Join(FileTypeNames(), ", "))
	}
	return ft, nil
}

// overrideType parses an --output-tensor-type style override ("" is none).
func overrideType(what, s string) (tensor.DType, error) {
	if s == "" {
		return noType, nil
	}
	d, err := tensor.ParseDType(s)
	if err != nil || !tensor.Encodable(d) || d == tensor.I32 {
		return 0, fmt.Errorf("%s type %q is not a type decilm writes", what, s)
	}
	return d, nil
}

// entry is one tensor of the output: its llama.cpp name, type, shape and where its values
// come from (a weight tensor, or a float32 vector), and how many heads its rows form when
// they must go from rotate-half to adjacent-pair order (0: leave the rows as they are).
type entry struct {
	name  string
	dtype tensor.DType
	shape []int
	src   *tensor.Tensor
	vec   []float32
	heads int
	size  int64
	imp   []float32 // the importance of each column, or nil
}

// plan lists the output tensors in file order, each with its type (mixState.tensorType).
func plan(m *model.Model, o Options) ([]*entry, error) {
	ft, err := o.fileType()
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	st := &mixState{hasImatrix: len(o.Importance) > 0}
	if st.outputType, err = overrideType("output", o.OutputType); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if st.tokenEmbeddingType, err = overrideType("token embedding", o.TokenEmbeddingType); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	c := m.Config
	if c == nil || m.Embed == nil || len(m.Layers) != c.Layers || len(m.Norm) != c.Hidden || len(c.Blocks) != c.Layers {
		return nil, errors.New("quantize: the model is incomplete (no config, embedding, norm or layers)")
	}
	st.nLayer = c.Layers
	if kv := c.Blocks[0].KVHeads; kv > 0 && c.Blocks[0].Attn == model.AttnGrouped {
		st.gqa = c.Heads / kv
	}
	// llama.cpp's model type 70B: 80 layers (deci), and grouped attention (llama).
	st.is70B = c.Layers == 80 && (o.Arch != "llama" || c.Blocks[0].KVHeads != c.Heads)
	ws := m.Weights()
	for _, w := range ws {
		if strings.Contains(w.GGUF, "attn_v.weight") && w.Tensor != nil {
			st.nAttnV++
		}
	}
	tied := m.LMHead == nil || m.LMHead == m.Embed
	st.hasOutput = !tied
	if (ft.Name == "q2_k_s" || tensor.NeedsImportance(ft.Base)) && !st.hasImatrix {
		return nil, fmt.Errorf("quantize: file type %s needs an importance matrix (--imatrix; llama.cpp refuses it without one too)", ft.Name)
	}
	var es []*entry
	mat := func(name string, t *tensor.Tensor, heads int) error {
		if t == nil || len(t.Shape) != 2 {
			return fmt.Errorf("quantize: tensor %s is missing or not a matrix", name)
		}
		d := st.tensorType(ft, o.Pure, name, t.Cols())
		if heads > 0 && c.RopeInterleaved {
			heads = 0 // already in llama.cpp's layout
		}
		if heads > 0 && heads*c.HeadDim != t.Shape[0] {
			return fmt.Errorf("quantize: tensor %s has %d rows, want %d heads × %d", name, t.Shape[0], heads, c.HeadDim)
		}
		rb, err := d.RowBytes(t.Cols())
		if err != nil {
			return fmt.Errorf("quantize: tensor %s: %w", name, err)
		}
		e := &entry{name: name, dtype: d, shape: t.Shape, src: t, heads: heads, size: int64(rb) * int64(t.Rows())}
		if imp, ok := o.Importance[name]; ok && d.Quantized() {
			if len(imp) != t.Cols() {
				if name != "token_embd.weight" { // llama.cpp ignores a mismatch only there
					return fmt.Errorf("quantize: the importance matrix has %d values for %s, which has %d columns", len(imp), name, t.Cols())
				}
			} else {
				e.imp = imp
			}
		}
		if e.imp == nil && tensor.NeedsImportance(d) { // as llama.cpp, which stops there too
			if !st.hasImatrix {
				return fmt.Errorf("quantize: file type %s needs an importance matrix (--imatrix): %s is %s, which llama.cpp writes only with one", ft.Name, name, d)
			}
			return fmt.Errorf("quantize: the importance matrix (--imatrix) has no entry for %s, which type %s needs", name, d)
		}
		es = append(es, e)
		return nil
	}
	vec := func(name string, v []float32) {
		es = append(es, &entry{name: name, dtype: tensor.F32, shape: []int{len(v)}, vec: v, size: 4 * int64(len(v))})
	}
	if len(ws) < 2 || ws[0].Tensor != m.Embed {
		return nil, errors.New("quantize: the model lists no embedding")
	}
	// llama.cpp's order: embedding, final norm, output, [rope_freqs], then the blocks. Its
	// quantizer visits the embedding and output before the blocks as well.
	last := ws[len(ws)-1]
	output := last
	if !tied {
		if last.Tensor != m.LMHead {
			return nil, errors.New("quantize: the model lists no output projection")
		}
		ws = ws[:len(ws)-1]
		last = ws[len(ws)-1]
	}
	if last.Vector == nil || len(last.Vector) != c.Hidden {
		return nil, errors.New("quantize: the model lists no final norm")
	}
	if err := mat(ws[0].GGUF, m.Embed, 0); err != nil {
		return nil, err
	}
	vec(last.GGUF, last.Vector)
	if !tied {
		if err := mat(output.GGUF, m.LMHead, 0); err != nil {
			return nil, err
		}
	}
	if f := c.RopeScaling.Factors; f != nil {
		v := make([]float32, len(f))
		for i, x := range f {
			v[i] = float32(x)
		}
		vec(model.GGUFRopeFreqs, v)
	}
	for _, w := range ws[1 : len(ws)-1] {
		if w.Tensor == nil {
			vec(w.GGUF, w.Vector)
			continue
		}
		if err := mat(w.GGUF, w.Tensor, w.RopeHeads); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// TensorTypes returns the type Write gives each matrix of m under o (by llama.cpp name).
func TensorTypes(m *model.Model, o Options) (map[string]tensor.DType, error) {
	es, err := plan(m, o)
	if err != nil {
		return nil, err
	}
	types := map[string]tensor.DType{}
	for _, e := range es {
		if e.src != nil {
			types[e.name] = e.dtype
		}
	}
	return types, nil
}

// Metadata returns the GGUF metadata Write stores for m and tok: general.*, the
// hyper-parameters under the architecture's prefix as llama.cpp's loader reads them, and
// tokenizer.ggml.*.
//
// Dynamic NTK RoPE scaling (DeciLM-6B's rope_scaling), which llama.cpp cannot express, is
// stored under decilm.rope.scaling.type and decilm.rope.scaling.factor so that llama.cpp
// ignores it; linear scaling uses the architecture's own rope.scaling keys.
func Metadata(m *model.Model, tok *tokenizer.Tokenizer, o Options) ([]gguf.KV, error) {
	c := m.Config
	if c == nil {
		return nil, errors.New("quantize: the model has no config")
	}
	if tok == nil {
		return nil, errors.New("quantize: a tokenizer is required (llama.cpp reads the vocabulary from the file)")
	}
	ft, err := o.fileType()
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	arch := o.Arch
	if arch == "" {
		arch = "deci"
	}
	if arch != "deci" && arch != "llama" {
		return nil, fmt.Errorf("quantize: architecture %q is not deci or llama", arch)
	}
	if len(c.Blocks) != c.Layers {
		return nil, fmt.Errorf("quantize: config describes %d blocks for %d layers", len(c.Blocks), c.Layers)
	}
	uniform := c.Uniform() && c.Blocks[0].Attn == model.AttnGrouped && c.Blocks[0].FFN == model.FFNGated
	if arch == "llama" && !uniform {
		return nil, fmt.Errorf("quantize: architecture llama needs the same KV heads (grouped attention) and FFN in every layer, have KV heads %v (use deci)", c.KVHeads())
	}
	// llama.cpp's deci arrays: head_count 0 for a skipped attention, head_count_kv 0 for a
	// linear one, feed_forward_length 0 for a skipped (or linear) FFN.
	heads, kvHeads, ffn := make([]int32, c.Layers), make([]int32, c.Layers), make([]int32, c.Layers)
	sameHeads, sameFFN := true, true
	for l, b := range c.Blocks {
		if b.Attn != model.AttnNone {
			heads[l] = int32(c.Heads)
		}
		kvHeads[l] = int32(b.KVHeads)
		ffn[l] = int32(b.FFNWidth)
		sameHeads = sameHeads && heads[l] == heads[0]
		sameFFN = sameFFN && ffn[l] == ffn[0]
	}
	name := o.Name
	if name == "" {
		name = "decilm"
	}
	u32 := func(v int) uint32 { return uint32(v) }
	kv := []gguf.KV{
		{Key: "general.architecture", Value: arch},
		{Key: "general.name", Value: name},
		{Key: "general.file_type", Value: ft.ID},
	}
	if ft.Base.Quantized() {
		kv = append(kv, gguf.KV{Key: "general.quantization_version", Value: uint32(2)})
	}
	a := arch + "."
	kv = append(kv,
		gguf.KV{Key: a + "vocab_size", Value: u32(c.Vocab)},
		gguf.KV{Key: a + "context_length", Value: u32(c.MaxPositions)},
		gguf.KV{Key: a + "embedding_length", Value: u32(c.Hidden)},
		gguf.KV{Key: a + "block_count", Value: u32(c.Layers)},
	)
	if sameFFN {
		kv = append(kv, gguf.KV{Key: a + "feed_forward_length", Value: uint32(ffn[0])})
	} else {
		kv = append(kv, gguf.KV{Key: a + "feed_forward_length", Value: ffn})
	}
	if sameHeads {
		kv = append(kv, gguf.KV{Key: a + "attention.head_count", Value: uint32(heads[0])})
	} else {
		kv = append(kv, gguf.KV{Key: a + "attention.head_count", Value: heads})
	}
	if arch == "deci" {
		kv = append(kv, gguf.KV{Key: a + "attention.head_count_kv", Value: kvHeads})
	} else {
		kv = append(kv, gguf.KV{Key: a + "attention.head_count_kv", Value: uint32(kvHeads[0])})
	}
	kv = append(kv,
		gguf.KV{Key: a + "rope.dimension_count", Value: u32(c.HeadDim)},
		gguf.KV{Key: a + "rope.freq_base", Value: float32(c.RopeTheta)},
		gguf.KV{Key: a + "attention.layer_norm_rms_epsilon", Value: float32(c.NormEps)},
	)
	switch rs := c.RopeScaling; rs.Type {
	case "":
	case "llama3":
		// llama.cpp reads the rope_freqs tensor; decilm.rope.scaling.* keeps the parameters
		// so that the config can be written back as a config.json.
		kv = append(kv, gguf.KV{Key: "decilm.rope.scaling.type", Value: "llama3"},
			gguf.KV{Key: "decilm.rope.scaling.factor", Value: float32(rs.Factor)})
		if rs.OriginalMaxPositions > 0 {
			kv = append(kv, gguf.KV{Key: "decilm.rope.scaling.low_freq_factor", Value: float32(rs.LowFreqFactor)},
				gguf.KV{Key: "decilm.rope.scaling.high_freq_factor", Value: float32(rs.HighFreqFactor)},
				gguf.KV{Key: "decilm.rope.scaling.original_context_length", Value: uint32(rs.OriginalMaxPositions)})
		}
	case "linear":
		kv = append(kv, gguf.KV{Key: a + "rope.scaling.type", Value: "linear"},
			gguf.KV{Key: a + "rope.scaling.factor", Value: float32(c.RopeScaling.Factor)})
	default:
		kv = append(kv, gguf.KV{Key: "decilm.rope.scaling.type", Value: c.RopeScaling.Type},
			gguf.KV{Key: "decilm.rope.scaling.factor", Value: float32(c.RopeScaling.Factor)})
	}
	tkv, err := tokenizerKV(c, tok)
	if err != nil {
		return nil, err
	}
	kv = append(kv, tkv...)
	if o.ChatTemplate != "" {
		kv = append(kv, gguf.KV{Key: "tokenizer.chat_template", Value: o.ChatTemplate})
	}
	return kv, nil
}

// tokenizerKV is the tokenizer.ggml.* metadata of tok's vocabulary: SentencePiece's pieces
// and scores (model "llama"), or a byte-level BPE vocabulary as llama.cpp's converter writes
// Llama-3's (gpt2VocabKV).
func tokenizerKV(c *model.Config, tok *tokenizer.Tokenizer) ([]gguf.KV, error) {
	if tok.ByteLevel() {
		return gpt2VocabKV(c, tok)
	}
	pieces, scores, types := tok.Pieces()
	if len(pieces) != c.Vocab {
		return nil, fmt.Errorf("quantize: the tokenizer has %d pieces but the model's vocabulary is %d", len(pieces), c.Vocab)
	}
	var kv []gguf.KV
	u32 := func(v int) uint32 { return uint32(v) }
	kv = append(kv,
		gguf.KV{Key: "tokenizer.ggml.model", Value: "llama"},
		gguf.KV{Key: "tokenizer.ggml.tokens", Value: pieces},
		gguf.KV{Key: "tokenizer.ggml.scores", Value: scores},
		gguf.KV{Key: "tokenizer.ggml.token_type", Value: types},
	)
	for _, id := range []struct {
		key string
		v   int
	}{{"bos", tok.BOS()}, {"eos", tok.EOS()}, {"unknown", tok.UNK()}, {"padding", tok.PAD()}} {
		if id.v >= 0 && id.v < len(pieces) {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml." + id.key + "_token_id", Value: u32(id.v)})
		}
	}
	kv = append(kv,
		gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: tok.AddBOS()},
		gguf.KV{Key: "tokenizer.ggml.add_eos_token", Value: tok.AddEOS()},
	)
	return kv, nil
}

// gpt2VocabKV is the tokenizer.ggml.* metadata of a byte-level BPE vocabulary (Llama-3): model
// "gpt2", pre "llama-bpe", the tokens and their types, padded to the model's vocabulary with
// "[PAD<id>]" tokens of type unused as llama.cpp's converter pads, the merges in rank order,
// the BOS and EOS ids and whether BOS is added.
func gpt2VocabKV(c *model.Config, tok *tokenizer.Tokenizer) ([]gguf.KV, error) {
	pieces, _, types := tok.Pieces()
	if len(pieces) > c.Vocab {
		return nil, fmt.Errorf("quantize: the tokenizer has %d pieces but the model's vocabulary is %d", len(pieces), c.Vocab)
	}
	for id := len(pieces); id < c.Vocab; id++ {
		pieces = append(pieces, fmt.Sprintf("[PAD%d]", id))
		types = append(types, int32(tokenizer.Unused))
	}
	kv := []gguf.KV{
		{Key: "tokenizer.ggml.model", Value: "gpt2"},
		{Key: "tokenizer.ggml.pre", Value: "llama-bpe"},
		{Key: "tokenizer.ggml.tokens", Value: pieces},
		{Key: "tokenizer.ggml.token_type", Value: types},
		{Key: "tokenizer.ggml.merges", Value: tok.Merges()},
	}
	for _, id := range []struct {
		key string
		v   int
	}{{"bos", tok.BOS()}, {"eos", tok.EOS()}} {
		if id.v >= 0 && id.v < c.Vocab {
			kv = append(kv, gguf.KV{Key: "tokenizer.ggml." + id.key + "_token_id", Value: uint32(id.v)})
		}
	}
	return append(kv, gguf.KV{Key: "tokenizer.ggml.add_bos_token", Value: tok.AddBOS()}), nil
}

// Write writes m, with tok's vocabulary, as a GGUF v3 file to w (see the package comment for
// the layout and the type of each tensor).
func Write(w io.Writer, m *model.Model, tok *tokenizer.Tokenizer, o Options) error {
	kv, err := Metadata(m, tok, o)
	if err != nil {
		return err
	}
	es, err := plan(m, o)
	if err != nil {
		return err
	}
	var total, done int64
	ts := make([]*tensor.Tensor, len(es))
	for i, e := range es {
		total += e.size
		ts[i] = &tensor.Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
	}
	return gguf.WriteStream(w, kv, ts, func(i int, w io.Writer) error {
		data, err := encode(es[i])
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		done += es[i].size
		if o.Progress != nil {
			o.Progress(done, total)
		}
		return nil
	})
}

// WriteFile writes the GGUF file to path through a temporary file in the same directory,
// renamed into place only when complete.
func WriteFile(path string, m *model.Model, tok *tokenizer.Tokenizer, o Options) error {
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error { return Write(w, m, tok, o) })
}

// encode returns the bytes of one output tensor.
func encode(e *entry) ([]byte, error) {
	if e.vec != nil {
		out := make([]byte, e.size)
		if err := tensor.EncodeRow(out, e.vec, tensor.F32); err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", e.name, err)
		}
		return out, nil
	}
	t := e.src
	var out []byte
	if t.DType == e.dtype {
		out = t.Data // stored as wanted: no requantization
	} else {
		var err error
		if out, err = convert(t, e.dtype, e.imp); err != nil {
			return nil, fmt.Errorf("quantize: %s: %w", e.name, err)
		}
	}
	if e.heads > 0 {
		rows := t.Rows()
		out = llama2c.UnpermuteRows(out, e.heads, rows/e.heads, int(e.size)/rows)
	}
	return out, nil
}

// convert re-encodes every row of t as type d with column importances imp (nil: none), on
// all CPUs.
func convert(t *tensor.Tensor, d tensor.DType, imp []float32) ([]byte, error) {
	rows, cols := t.Rows(), t.Cols()
	rb, err := d.RowBytes(cols)
	if err != nil {
		return nil, err
	}
	out := make([]byte, rows*rb)
	workers := min(runtime.GOMAXPROCS(0), max(1, rows/64))
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		wg.Add(1)
		go func(w, lo, hi int) {
			defer wg.Done()
			row := make([]float32, cols)
			for r := lo; r < hi; r++ {
				if err := tensor.DecodeRow(row, t.Row(r), t.DType); err != nil {
					errs[w] = fmt.Errorf("row %d: %w", r, err)
					return
				}
				if err := tensor.EncodeRowWeighted(out[r*rb:(r+1)*rb], row, d, imp); err != nil {
					errs[w] = fmt.Errorf("row %d: %w", r, err)
					return
				}
			}
		}(w, lo, hi)
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
