package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/decilm/decilm/checkpoint/llama2c"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

func init() {
	register(&command{name: "convert", summary: "convert a checkpoint (llama2.c, GGUF, .bin, safetensors) to the Hugging Face layout", run: runConvert})
}

func runConvert(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "convert", "-m MODEL -o OUT_DIR [--dtype f32|f16|bf16] [--tokenizer PATH]")
	mf := addModelFlags(fs)
	out := fs.String("o", "", "output directory")
	dt := fs.String("dtype", "", "weight type of the output: f32, f16 or bf16 (default: as stored when possible, else f32)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tok := mf.tokenizer // copied into the output directory (a llama2.c .bin as tokenizer.bin)
	if *out == "" || *mf.path == "" {
		return usageError("-m and -o are required")
	}
	var want tensor.DType
	if *dt != "" {
		d, err := tensor.ParseDType(*dt)
		if err != nil || (d != tensor.F32 && d != tensor.F16 && d != tensor.BF16) {
			return usageError("--dtype must be f32, f16 or bf16")
		}
		want = d
	}
	m, err := mf.load(ctx, e)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := writeHF(m, *out, *dt != "", want); err != nil {
		return err
	}
	if *tok != "" {
		b, err := os.ReadFile(*tok)
		if err != nil {
			return err
		}
		name := filepath.Base(*tok)
		if ext := filepath.Ext(name); ext == ".bin" {
			name = "tokenizer.bin"
		}
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// hfTensors lists a model's weights under Hugging Face names, in the order HF writes them,
// converted to dtype want when force is set (or when the stored type cannot go into a
// safetensors file). Query and key rows of an interleaved-RoPE model are permuted to the
// rotate-half layout.
func hfTensors(m *model.Model, force bool, want tensor.DType) ([]*tensor.Tensor, error) {
	c := m.Config
	var out []*tensor.Tensor
	conv := func(name string, t *tensor.Tensor, permuteHeads int) error {
		d := t.DType
		if force || (d != tensor.F32 && d != tensor.F16 && d != tensor.BF16) {
			if force {
				d = want
			} else {
				d = tensor.F32
			}
		}
		data := t.Data
		if d != t.DType {
			rows, cols := t.Rows(), t.Cols()
			rb, _ := d.RowBytes(cols)
			data = make([]byte, rows*rb)
			row := make([]float32, cols)
			for r := 0; r < rows; r++ {
				if err := tensor.DecodeRow(row, t.Row(r), t.DType); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if err := tensor.EncodeRow(data[r*rb:(r+1)*rb], row, d); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
		}
		if permuteHeads > 0 && c.RopeInterleaved {
			rb, _ := d.RowBytes(t.Cols())
			data = llama2c.PermuteRows(data, permuteHeads, c.HeadDim, rb)
		}
		out = append(out, &tensor.Tensor{Name: name, DType: d, Shape: t.Shape, Data: data})
		return nil
	}
	vec := func(name string, v []float32) error {
		b := make([]byte, 4*len(v))
		_ = tensor.EncodeRow(b, v, tensor.F32)
		return conv(name, &tensor.Tensor{Name: name, DType: tensor.F32, Shape: []int{len(v)}, Data: b}, 0)
	}
	for _, w := range m.Weights() {
		var err error
		if w.Tensor != nil {
			err = conv(w.HF, w.Tensor, w.RopeHeads)
		} else {
			err = vec(w.HF, w.Vector)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// writeHF writes the model as config.json + model.safetensors into dir.
func writeHF(m *model.Model, dir string, force bool, want tensor.DType) error {
	ts, err := hfTensors(m, force, want)
	if err != nil {
		return err
	}
	cfg := *m.Config
	cfg.RopeInterleaved = false
	if force {
		cfg.DType = map[tensor.DType]string{tensor.F32: "float32", tensor.F16: "float16", tensor.BF16: "bfloat16"}[want]
	}
	cj, err := cfg.MarshalHF()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := safetensors.Write(w, ts, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
