package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

func init() {
	register(&command{name: "info", summary: "print a model's shape, parameters and KV-cache size", run: runInfo})
}

func runInfo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "info", "[-m MODEL] [--lora PATH[:SCALE]]")
	mf := addModelFlags(fs)
	lf := addLoRAFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := lf.check(); err != nil {
		return err
	}
	m, err := mf.load(ctx, e)
	if err != nil {
		return err
	}
	defer m.Close()
	writeInfo(e, mf.name(), m.Config, m.WeightBytes(), weightTypes(m))
	return lf.info(e, m.Config)
}

func weightTypes(m *model.Model) string {
	count := map[string]int{}
	var order []string
	for _, w := range m.Weights() {
		if w.Tensor == nil {
			continue
		}
		s := w.Tensor.DType.String()
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	return strings.Join(order, ", ")
}

// weightMemory is the size of c's weights with every matrix stored as d (norm vectors as
// f32; a matrix whose rows are not whole blocks of d as f16, as quantize writes it).
func weightMemory(c *model.Config, d tensor.DType) int64 {
	var n int64
	for _, w := range c.WeightShapes() {
		if len(w.Shape) == 1 {
			n += 4 * int64(w.Shape[0])
			continue
		}
		rb, err := d.RowBytes(w.Shape[1])
		if err != nil {
			rb, _ = tensor.F16.RowBytes(w.Shape[1])
		}
		n += int64(rb) * int64(w.Shape[0])
	}
	return n
}

func writeInfo(e *env, name string, c *model.Config, weightBytes int64, types string) {
	w := e.stdout
	fmt.Fprintf(w, "model:               %s\n", name)
	fmt.Fprintf(w, "architecture:        %s\n", c.Arch)
	fmt.Fprintf(w, "parameters:          %s (%d)\n", human(float64(c.Params())), c.Params())
	fmt.Fprintf(w, "weights:             %.2f MB (%s)\n", float64(weightBytes)/1e6, types)
	var mem []string
	for _, d := range []tensor.DType{tensor.F32, tensor.BF16, tensor.Q8_0, tensor.Q4_0} {
		mem = append(mem, fmt.Sprintf("%s %s", d, humanBytes(weightMemory(c, d))))
	}
	fmt.Fprintf(w, "weights by type:     %s (f16 as bf16; norms f32)\n", strings.Join(mem, ", "))
	fmt.Fprintf(w, "hidden / layers:     %d / %d\n", c.Hidden, c.Layers)
	fmt.Fprintf(w, "heads / head_dim:    %d / %d\n", c.Heads, c.HeadDim)
	fmt.Fprintf(w, "FFN width:           %s\n", ffnSummary(c))
	fmt.Fprintf(w, "vocab:               %d\n", c.Vocab)
	total := 0
	kv := make([]string, c.Layers)
	for i, k := range c.KVHeads() {
		kv[i] = fmt.Sprint(k)
		total += k
	}
	fmt.Fprintf(w, "KV heads per layer:  [%s] (%d in all)\n", strings.Join(kv, ", "), total)
	mha := 2 * c.Layers * c.Heads * c.HeadDim * 2
	f16 := model.KVBytesPerToken(c, model.CacheF16)
	q8 := "n/a: head dimension not a multiple of 32"
	if model.CacheQ8_0.Check(c) == nil {
		q8 = fmt.Sprint(model.KVBytesPerToken(c, model.CacheQ8_0))
	}
	fmt.Fprintf(w, "KV bytes per token:  %d at f16 (--cache-type, the default), %d at f32, %s at q8_0 (multi-head attention in every layer would need %d at f16: %.1fx more)\n",
		f16, model.KVBytesPerToken(c, model.CacheF32), q8, mha, float64(mha)/float64(max(f16, 1)))
	rs := "none"
	if c.RopeScaling.Type != "" {
		rs = fmt.Sprintf("%s x%g", c.RopeScaling.Type, c.RopeScaling.Factor)
	}
	fmt.Fprintf(w, "context:             %d positions (rope theta %g, scaling %s)\n", c.ContextLength(), c.RopeTheta, rs)
	fmt.Fprintf(w, "rms_norm_eps:        %g\n", c.NormEps)
	fmt.Fprintf(w, "tied embeddings:     %v\n", c.TieEmbeddings)
	if c.Uniform() {
		return
	}
	fmt.Fprintf(w, "layers (attention, FFN):\n")
	for l, b := range c.Blocks {
		attn := b.Attn.String()
		if b.Attn == model.AttnGrouped {
			attn = fmt.Sprintf("%d KV heads", b.KVHeads)
		}
		ffn := b.FFN.String()
		if b.FFN == model.FFNGated {
			ffn = fmt.Sprintf("gated %d", b.FFNWidth)
		}
		fmt.Fprintf(w, "  %3d  %-12s %-12s %s params\n", l, attn, ffn, human(float64(c.LayerParams(l))))
	}
}

// ffnSummary describes the FFN widths: one number when every layer has the same.
func ffnSummary(c *model.Config) string {
	lo, hi, gated := 0, 0, 0
	for _, b := range c.Blocks {
		if b.FFN != model.FFNGated {
			continue
		}
		if gated == 0 || b.FFNWidth < lo {
			lo = b.FFNWidth
		}
		hi = max(hi, b.FFNWidth)
		gated++
	}
	switch {
	case gated == c.Layers && lo == hi:
		return fmt.Sprint(lo)
	case gated == 0:
		return "no gated FFN"
	}
	return fmt.Sprintf("%d to %d (%d gated, %d linear or skipped)", lo, hi, gated, c.Layers-gated)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(n)/1e3)
}

func human(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.2fB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fK", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}
