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
	fs := newFlags(e, "info", "[-m MODEL]")
	mf := addModelFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := mf.load(ctx, e)
	if err != nil {
		return err
	}
	defer m.Close()
	writeInfo(e, mf.name(), m.Config, m.WeightBytes(), weightTypes(m))
	return nil
}

func weightTypes(m *model.Model) string {
	count := map[string]int{}
	var order []string
	add := func(s string) {
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	add(m.Embed.DType.String())
	for _, l := range m.Layers {
		for _, t := range []*tensor.Tensor{l.Q, l.K, l.V, l.O, l.Gate, l.Up, l.Down} {
			add(t.DType.String())
		}
	}
	return strings.Join(order, ", ")
}

func writeInfo(e *env, name string, c *model.Config, weightBytes int64, types string) {
	w := e.stdout
	fmt.Fprintf(w, "model:               %s\n", name)
	fmt.Fprintf(w, "architecture:        %s\n", c.Arch)
	fmt.Fprintf(w, "parameters:          %s (%d)\n", human(float64(c.Params())), c.Params())
	fmt.Fprintf(w, "weights:             %.2f MB (%s)\n", float64(weightBytes)/1e6, types)
	fmt.Fprintf(w, "hidden / layers:     %d / %d\n", c.Hidden, c.Layers)
	fmt.Fprintf(w, "heads / head_dim:    %d / %d\n", c.Heads, c.HeadDim)
	fmt.Fprintf(w, "intermediate:        %d\n", c.Intermediate)
	fmt.Fprintf(w, "vocab:               %d\n", c.Vocab)
	total := 0
	kv := make([]string, len(c.KVHeads))
	for i, k := range c.KVHeads {
		kv[i] = fmt.Sprint(k)
		total += k
	}
	fmt.Fprintf(w, "KV heads per layer:  [%s] (%d in all)\n", strings.Join(kv, ", "), total)
	mha := 2 * c.Layers * c.Heads * c.HeadDim * 2
	fmt.Fprintf(w, "KV bytes per token:  %d at f16, %d at f32 (multi-head attention would need %d at f16: %.1fx more)\n",
		c.KVBytesPerToken(2), c.KVBytesPerToken(4), mha, float64(mha)/float64(c.KVBytesPerToken(2)))
	rs := "none"
	if c.RopeScaling.Type != "" {
		rs = fmt.Sprintf("%s x%g", c.RopeScaling.Type, c.RopeScaling.Factor)
	}
	fmt.Fprintf(w, "context:             %d positions (rope theta %g, scaling %s)\n", c.MaxPositions, c.RopeTheta, rs)
	fmt.Fprintf(w, "rms_norm_eps:        %g\n", c.NormEps)
	fmt.Fprintf(w, "tied embeddings:     %v\n", c.TieEmbeddings)
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
