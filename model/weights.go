package model

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/decilm/decilm/tensor"
)

// This file is the one table of weight names: each weight of a layer, with its Hugging
// Face and GGUF names, the Layer field that holds it, the block kinds that have it and its
// shape. model.New, the GGUF reader, quantize's writer and convert all read it.

// layerWeight is one weight of a decoder block.
type layerWeight struct {
	hf, gguf string // names after "model.layers.N." and "blk.N."
	// mat is the Layer field of a matrix, which is projection proj; vec that of a norm.
	mat  func(*Layer) **tensor.Tensor
	proj Proj
	vec  func(*Layer) *[]float32
	// shape is the weight's shape in a layer of block b, or nil when b has no such weight.
	shape func(c *Config, b Block) []int
	// ropeHeads is the number of heads whose rows RoPE rotates (queries and keys), whose
	// order differs between Hugging Face (halves) and GGUF (adjacent pairs) files; else 0.
	ropeHeads func(c *Config, b Block) int
}

func ifAttn(k AttnKind, f func(c *Config, b Block) []int) func(c *Config, b Block) []int {
	return func(c *Config, b Block) []int {
		if b.Attn != k {
			return nil
		}
		return f(c, b)
	}
}

func ifFFN(k FFNKind, f func(c *Config, b Block) []int) func(c *Config, b Block) []int {
	return func(c *Config, b Block) []int {
		if b.FFN != k {
			return nil
		}
		return f(c, b)
	}
}

func hidden(c *Config, _ Block) []int    { return []int{c.Hidden} }
func square(c *Config, _ Block) []int    { return []int{c.Hidden, c.Hidden} }
func qShape(c *Config, _ Block) []int    { return []int{c.Heads * c.HeadDim, c.Hidden} }
func kvShape(c *Config, b Block) []int   { return []int{b.KVHeads * c.HeadDim, c.Hidden} }
func oShape(c *Config, _ Block) []int    { return []int{c.Hidden, c.Heads * c.HeadDim} }
func upShape(c *Config, b Block) []int   { return []int{b.FFNWidth, c.Hidden} }
func downShape(c *Config, b Block) []int { return []int{c.Hidden, b.FFNWidth} }
func hasAttn(c *Config, b Block) []int   { return ifNot(b.Attn == AttnNone, hidden(c, b)) }
func hasFFN(c *Config, b Block) []int    { return ifNot(b.FFN == FFNNone, hidden(c, b)) }
func qHeads(c *Config, _ Block) int      { return c.Heads }
func kHeads(_ *Config, b Block) int      { return b.KVHeads }
func ifNot(skip bool, shape []int) []int {
	if skip {
		return nil
	}
	return shape
}

// layerWeights lists a block's weights in file order (the order of Hugging Face and GGUF
// files alike).
var layerWeights = []layerWeight{
	{hf: "input_layernorm.weight", gguf: "attn_norm.weight", vec: func(l *Layer) *[]float32 { return &l.AttnNorm }, shape: hasAttn},
	{hf: "self_attn.q_proj.weight", gguf: "attn_q.weight", proj: ProjQ, mat: func(l *Layer) **tensor.Tensor { return &l.Q }, shape: ifAttn(AttnGrouped, qShape), ropeHeads: qHeads},
	{hf: "self_attn.k_proj.weight", gguf: "attn_k.weight", proj: ProjK, mat: func(l *Layer) **tensor.Tensor { return &l.K }, shape: ifAttn(AttnGrouped, kvShape), ropeHeads: kHeads},
	{hf: "self_attn.v_proj.weight", gguf: "attn_v.weight", proj: ProjV, mat: func(l *Layer) **tensor.Tensor { return &l.V }, shape: ifAttn(AttnGrouped, kvShape)},
	{hf: "self_attn.o_proj.weight", gguf: "attn_output.weight", proj: ProjO, mat: func(l *Layer) **tensor.Tensor { return &l.O }, shape: ifAttn(AttnGrouped, oShape)},
	// llama.cpp stores Nemotron's linear attention as attn_output (head_count_kv 0).
	{hf: "self_attn.linear_attn.weight", gguf: "attn_output.weight", proj: ProjAttnLinear, mat: func(l *Layer) **tensor.Tensor { return &l.AttnLinear }, shape: ifAttn(AttnLinear, square)},
	{hf: "post_attention_layernorm.weight", gguf: "ffn_norm.weight", vec: func(l *Layer) *[]float32 { return &l.MLPNorm }, shape: hasFFN},
	{hf: "mlp.gate_proj.weight", gguf: "ffn_gate.weight", proj: ProjGate, mat: func(l *Layer) **tensor.Tensor { return &l.Gate }, shape: ifFFN(FFNGated, upShape)},
	{hf: "mlp.up_proj.weight", gguf: "ffn_up.weight", proj: ProjUp, mat: func(l *Layer) **tensor.Tensor { return &l.Up }, shape: ifFFN(FFNGated, upShape)},
	{hf: "mlp.down_proj.weight", gguf: "ffn_down.weight", proj: ProjDown, mat: func(l *Layer) **tensor.Tensor { return &l.Down }, shape: ifFFN(FFNGated, downShape)},
	// llama.cpp has no linear FFN; decilm's name for it follows its naming.
	{hf: "mlp.linear_mlp.weight", gguf: GGUFLinearFFN, proj: ProjFFNLinear, mat: func(l *Layer) **tensor.Tensor { return &l.FFNLinear }, shape: ifFFN(FFNLinear, square)},
}

// projWeights indexes layerWeights' matrices by their projection.
var projWeights = func() (pw [NumProj]*layerWeight) {
	for i := range layerWeights {
		if w := &layerWeights[i]; w.mat != nil {
			pw[w.proj] = w
		}
	}
	return pw
}()

// Projs lists the projections of a decoder block in file order (the order of
// layerWeights): q_proj k_proj v_proj o_proj linear_attn gate_proj up_proj down_proj
// linear_mlp.
func Projs() []Proj {
	var ps []Proj
	for _, w := range layerWeights {
		if w.mat != nil {
			ps = append(ps, w.proj)
		}
	}
	return ps
}

// Module is PEFT's (and Hugging Face's) module name of projection p: "q_proj", "o_proj",
// "linear_attn", "down_proj", "linear_mlp", ...
func (p Proj) Module() string {
	_, m := p.names()
	return m
}

// Parent is the submodule of a decoder block that holds projection p: "self_attn" or
// "mlp".
func (p Proj) Parent() string {
	parent, _ := p.names()
	return parent
}

// names splits p's Hugging Face weight name "self_attn.q_proj.weight" into its parent
// and module names.
func (p Proj) names() (parent, module string) {
	if p >= NumProj {
		return "", ""
	}
	parent, rest, _ := strings.Cut(projWeights[p].hf, ".")
	return parent, strings.TrimSuffix(rest, ".weight")
}

// String is p's module name.
func (p Proj) String() string {
	if p >= NumProj {
		return fmt.Sprintf("Proj(%d)", uint8(p))
	}
	return p.Module()
}

// Weight returns the matrix of projection p in layer ly: nil when its block has none.
func (p Proj) Weight(ly *Layer) *tensor.Tensor {
	if p >= NumProj {
		return nil
	}
	return *projWeights[p].mat(ly)
}

// ProjByModule returns the projection whose PEFT module name is name ("q_proj"), or
// false when no projection has that name.
func ProjByModule(name string) (Proj, bool) {
	for _, p := range Projs() {
		if p.Module() == name {
			return p, true
		}
	}
	return 0, false
}

// ProjModules lists the PEFT module names of the projections, in the order of Projs.
func ProjModules() []string {
	var s []string
	for _, p := range Projs() {
		s = append(s, p.Module())
	}
	return s
}

// GGUFLinearFFN is the GGUF name (after "blk.N.") of a Nemotron-NAS linear FFN's matrix,
// which llama.cpp does not define; a layer with feed_forward_length 0 and this tensor has a
// linear FFN, one with neither skips its FFN.
const GGUFLinearFFN = "ffn_linear.weight"

// The model's other weights: name in Hugging Face files, name in GGUF files.
const (
	hfEmbed, ggufEmbed   = "model.embed_tokens.weight", "token_embd.weight"
	hfNorm, ggufNorm     = "model.norm.weight", "output_norm.weight"
	hfOutput, ggufOutput = "lm_head.weight", "output.weight"
)

// GGUFRopeFreqs is the GGUF tensor of llama3 rope scaling: one divisor per rotary
// frequency.
const GGUFRopeFreqs = "rope_freqs.weight"

func hfLayer(l int, name string) string   { return "model.layers." + strconv.Itoa(l) + "." + name }
func ggufLayer(l int, name string) string { return "blk." + strconv.Itoa(l) + "." + name }

// Weight is one named weight of a loaded model, as a file stores it: a matrix (Tensor) or
// a norm vector (Vector).
type Weight struct {
	HF, GGUF string // its names in Hugging Face and GGUF files
	Tensor   *tensor.Tensor
	Vector   []float32
	// RopeHeads is the number of heads of the rows RoPE rotates (queries and keys: their
	// row order differs between Hugging Face and GGUF files); 0 for the other weights.
	RopeHeads int
}

// Weights lists the model's weights in file order: the embedding, each layer's weights,
// the final norm and the output projection (absent when tied to the embedding).
func (m *Model) Weights() []Weight {
	c := m.Config
	ws := []Weight{{HF: hfEmbed, GGUF: ggufEmbed, Tensor: m.Embed}}
	for l := range m.Layers {
		ly := &m.Layers[l]
		for _, w := range layerWeights {
			if w.shape(c, ly.Block) == nil {
				continue
			}
			x := Weight{HF: hfLayer(l, w.hf), GGUF: ggufLayer(l, w.gguf)}
			if w.mat != nil {
				x.Tensor = *w.mat(ly)
			} else {
				x.Vector = *w.vec(ly)
			}
			if w.ropeHeads != nil {
				x.RopeHeads = w.ropeHeads(c, ly.Block)
			}
			ws = append(ws, x)
		}
	}
	ws = append(ws, Weight{HF: hfNorm, GGUF: ggufNorm, Vector: m.Norm})
	if m.LMHead != m.Embed {
		ws = append(ws, Weight{HF: hfOutput, GGUF: ggufOutput, Tensor: m.LMHead})
	}
	return ws
}

// matrices lists the model's weight matrices (the embedding first).
func (m *Model) matrices() []*tensor.Tensor {
	var out []*tensor.Tensor
	for _, w := range m.Weights() {
		if w.Tensor != nil {
			out = append(out, w.Tensor)
		}
	}
	return out
}

// ggufNames renames a GGUF file's tensors (token_embd.weight, blk.N.attn_q.weight, ...) to
// the Hugging Face names New looks up, layer by layer as cfg's blocks say (linear
// attention is attn_output, as grouped attention's output projection is). Tensors it does
// not know keep their names, for New to report.
func ggufNames(cfg *Config, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	rename := map[string]string{ggufEmbed: hfEmbed, ggufNorm: hfNorm, ggufOutput: hfOutput}
	for l, b := range cfg.Blocks {
		for _, w := range layerWeights {
			if w.shape(cfg, b) != nil {
				rename[ggufLayer(l, w.gguf)] = hfLayer(l, w.hf)
			}
		}
	}
	out := make(map[string]*tensor.Tensor, len(in))
	for name, t := range in {
		if name == GGUFRopeFreqs {
			continue // read into the config's rope scaling
		}
		if hf, ok := rename[name]; ok {
			out[hf] = t
			continue
		}
		out[name] = t
	}
	return out
}

// describeLayer names layer l's kinds for error messages.
func describeLayer(c *Config, l int) string {
	b := c.Blocks[l]
	var parts []string
	switch b.Attn {
	case AttnGrouped:
		parts = append(parts, fmt.Sprintf("%d KV heads", b.KVHeads))
	default:
		parts = append(parts, b.Attn.String()+" attention")
	}
	varies := false
	for _, o := range c.Blocks {
		varies = varies || o.FFN != FFNGated || o.FFNWidth != b.FFNWidth
	}
	if varies {
		if b.FFN == FFNGated {
			parts = append(parts, fmt.Sprintf("FFN width %d", b.FFNWidth))
		} else {
			parts = append(parts, b.FFN.String()+" FFN")
		}
	}
	return fmt.Sprintf("layer %d (%s)", l, strings.Join(parts, ", "))
}

// WeightShape is the name and shape of one weight a configuration implies.
type WeightShape struct {
	HF, GGUF string
	Shape    []int // [rows, cols] for a matrix, [n] for a norm vector
}

// WeightShapes lists the weights c implies, in the order of Model.Weights.
func (c *Config) WeightShapes() []WeightShape {
	ws := []WeightShape{{hfEmbed, ggufEmbed, []int{c.Vocab, c.Hidden}}}
	for l, b := range c.Blocks {
		for _, w := range layerWeights {
			if s := w.shape(c, b); s != nil {
				ws = append(ws, WeightShape{hfLayer(l, w.hf), ggufLayer(l, w.gguf), s})
			}
		}
	}
	ws = append(ws, WeightShape{hfNorm, ggufNorm, []int{c.Hidden}})
	if !c.TieEmbeddings {
		ws = append(ws, WeightShape{hfOutput, ggufOutput, []int{c.Vocab, c.Hidden}})
	}
	return ws
}
