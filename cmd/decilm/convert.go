package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/checkpoint/llama2c"
	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/defaultmodel"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
	"github.com/decilm/decilm/tokenizer"
)

func init() {
	register(&command{name: "convert", summary: "convert a checkpoint (llama2.c, GGUF, .bin, safetensors) to the Hugging Face layout", run: runConvert})
}

func runConvert(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "convert", "-m MODEL -o OUT_DIR [--dtype f32|f16|bf16] [--tokenizer PATH] [--force]\n\n"+
		"OUT_DIR receives config.json, model.safetensors and the tokenizer files (copied from beside\n"+
		"the model, or written from a GGUF or llama2.c vocabulary), so `decilm run -m OUT_DIR` works.\n"+
		"Every file is written beside its target and renamed into place when complete.")
	mf := addModelFlags(fs)
	out := fs.String("o", "", "output directory: new or empty (see --force)")
	dt := fs.String("dtype", "", "weight type of the output: f32, f16 or bf16 (default: as stored when possible, else f32)")
	force := fs.Bool("force", false, "write into an output directory that already holds files (an input is never overwritten)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usageError("-o OUT_DIR is required")
	}
	var want tensor.DType
	if *dt != "" {
		d, err := tensor.ParseDType(*dt)
		if err != nil || (d != tensor.F32 && d != tensor.F16 && d != tensor.BF16) {
			return usageError("--dtype must be f32, f16 or bf16")
		}
		want = d
	}
	if err := atomicfile.CheckOutputDir("-o", *out, *force); err != nil {
		return err
	}
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return err
	}
	inputs, err := modelInputs(path, *mf.tokenizer)
	if err != nil {
		return err
	}
	m, toks, note, err := openForHF(ctx, path, *out, mf, inputs)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := writeHF(m, *out, *dt != "", want); err != nil {
		return err
	}
	for _, tf := range toks {
		if err := atomicfile.WriteBytes(filepath.Join(*out, tf.name), tf.data, 0o644); err != nil {
			return err
		}
	}
	if note != "" {
		fmt.Fprintf(e.stderr, "convert: %s\n", note)
	}
	fmt.Fprintf(e.stdout, "wrote %s\n", *out)
	return nil
}

// openForHF loads the model at path (the embedded one when path is "") unpacked, for a
// Hugging Face folder out, and finds the tokenizer files to copy beside it (see
// convertTokenizer), after checking that none of the files it will write is one of inputs.
func openForHF(ctx context.Context, path, out string, mf *modelFlags, inputs []string) (m *model.Model, toks []outFile, note string, err error) {
	for _, name := range []string{"config.json", "model.safetensors"} {
		if err := atomicfile.CheckNotInput("-o", filepath.Join(out, name), inputs...); err != nil {
			return nil, nil, "", err
		}
	}
	var ck *checkpoint.Checkpoint
	if path == "" {
		dm, err := decilm.Load(ctx, "", decilm.Options{Threads: *mf.threads, NoPack: true})
		if err != nil {
			return nil, nil, "", err
		}
		m = dm.Net
	} else {
		if ck, err = checkpoint.Open(path); err != nil {
			return nil, nil, "", err
		}
		if m, err = model.FromCheckpoint(ck, model.Options{Threads: *mf.threads, NoPack: true}); err != nil {
			ck.Close()
			return nil, nil, "", err
		}
	}
	toks, note, err = convertTokenizer(ck, m.Config.Vocab, *mf.tokenizer)
	if err == nil {
		for _, tf := range toks {
			if err = atomicfile.CheckNotInput("-o", filepath.Join(out, tf.name), inputs...); err != nil {
				break
			}
		}
	}
	if err != nil {
		m.Close()
		return nil, nil, "", err
	}
	return m, toks, note, nil
}

// outFile is a file convert writes beside the weights.
type outFile struct {
	name string
	data []byte
}

// hfTokenizerFiles are the tokenizer files of a Hugging Face folder convert copies.
var hfTokenizerFiles = []string{"tokenizer.model", "tokenizer.json", "tokenizer_config.json",
	"special_tokens_map.json", "generation_config.json", "tokenizer.bin"}

// convertTokenizer finds the tokenizer files of the output: the --tokenizer file or folder
// when given, else those beside a Hugging Face checkpoint, a tokenizer.json written from a
// GGUF file's vocabulary, a llama2.c checkpoint's tokenizer.bin (or tok<vocab>.bin), or the
// embedded model's (ck nil). note says what is missing when nothing was found.
func convertTokenizer(ck *checkpoint.Checkpoint, vocab int, tok string) (files []outFile, note string, err error) {
	read := func(src, name string) error {
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		files = append(files, outFile{name, b})
		return nil
	}
	fromDir := func(dir string) error {
		for _, n := range hfTokenizerFiles {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				if err := read(p, n); err != nil {
					return err
				}
			}
		}
		return nil
	}
	switch {
	case tok != "":
		st, err := os.Stat(tok)
		if err != nil {
			return nil, "", fmt.Errorf("--tokenizer: %w", err)
		}
		if st.IsDir() {
			if err := fromDir(tok); err != nil {
				return nil, "", err
			}
			if len(files) == 0 {
				return nil, "", fmt.Errorf("--tokenizer %s: no tokenizer files (%s)", tok, strings.Join(hfTokenizerFiles, ", "))
			}
			return files, "", nil
		}
		name := filepath.Base(tok)
		if !slices.Contains(hfTokenizerFiles, name) {
			switch strings.ToLower(filepath.Ext(name)) {
			case ".model":
				name = "tokenizer.model"
			case ".json":
				name = "tokenizer.json"
			case ".bin":
				name = "tokenizer.bin"
			case ".gguf":
				f, err := gguf.Open(tok)
				if err != nil {
					return nil, "", fmt.Errorf("--tokenizer: %w", err)
				}
				defer f.Close()
				return ggufTokenizer(f, "--tokenizer "+tok)
			default:
				return nil, "", fmt.Errorf("--tokenizer %s: not a tokenizer.model, tokenizer.json, tokenizer.bin or GGUF file", tok)
			}
		}
		if err := read(tok, name); err != nil {
			return nil, "", fmt.Errorf("--tokenizer: %w", err)
		}
		return files, "", nil
	case ck == nil:
		b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
		if err != nil {
			return nil, "", err
		}
		return []outFile{{"tokenizer.bin", b}}, "", nil
	case ck.GGUF != nil:
		return ggufTokenizer(ck.GGUF, ck.Path)
	case ck.Llama2C != nil:
		for _, n := range []string{"tokenizer.bin", fmt.Sprintf("tok%d.bin", vocab)} {
			p := filepath.Join(ck.Dir, n)
			if _, err := os.Stat(p); err == nil {
				if err := read(p, "tokenizer.bin"); err != nil {
					return nil, "", err
				}
				return files, "", nil
			}
		}
		return nil, fmt.Sprintf("no tokenizer.bin or tok%d.bin beside %s: the output has no tokenizer (pass --tokenizer)", vocab, ck.Path), nil
	}
	if err := fromDir(ck.Dir); err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, fmt.Sprintf("no tokenizer files beside %s: the output has no tokenizer (pass --tokenizer)", ck.Path), nil
	}
	return files, "", nil
}

// ggufTokenizer writes a GGUF file's vocabulary as a tokenizer.json; a vocabulary the
// writer cannot express (byte-level BPE with merges) gives a note instead.
func ggufTokenizer(f *gguf.File, what string) ([]outFile, string, error) {
	t, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	b, err := t.MarshalHFJSON()
	if err != nil {
		return nil, fmt.Sprintf("%s: its vocabulary cannot be written as a tokenizer.json (%v): the output has no tokenizer (pass --tokenizer)", what, err), nil
	}
	return []outFile{{"tokenizer.json", b}}, "", nil
}

// hfTensor is one tensor of the output: its name, type and shape, and a function that
// produces its bytes when they are written, so that only one converted tensor is held in
// memory at a time.
type hfTensor struct {
	desc *tensor.Tensor // Data unset
	data func() ([]byte, error)
}

// hfTensors lists a model's weights under Hugging Face names, in the order HF writes them,
// converted to dtype want when force is set (or when the stored type cannot go into a
// safetensors file). Query and key rows of an interleaved-RoPE model are permuted to the
// rotate-half layout.
func hfTensors(m *model.Model, force bool, want tensor.DType) []hfTensor {
	c := m.Config
	var out []hfTensor
	conv := func(name string, t *tensor.Tensor, permuteHeads int) {
		d := t.DType
		if force || (d != tensor.F32 && d != tensor.F16 && d != tensor.BF16) {
			if force {
				d = want
			} else {
				d = tensor.F32
			}
		}
		out = append(out, hfTensor{&tensor.Tensor{Name: name, DType: d, Shape: t.Shape}, func() ([]byte, error) {
			data := t.Data
			if d != t.DType {
				rows, cols := t.Rows(), t.Cols()
				rb, _ := d.RowBytes(cols)
				data = make([]byte, rows*rb)
				row := make([]float32, cols)
				for r := 0; r < rows; r++ {
					if err := tensor.DecodeRow(row, t.Row(r), t.DType); err != nil {
						return nil, fmt.Errorf("%s: %w", name, err)
					}
					if err := tensor.EncodeRow(data[r*rb:(r+1)*rb], row, d); err != nil {
						return nil, fmt.Errorf("%s: %w", name, err)
					}
				}
			}
			if permuteHeads > 0 && c.RopeInterleaved {
				rb, _ := d.RowBytes(t.Cols())
				data = llama2c.PermuteRows(data, permuteHeads, c.HeadDim, rb)
			}
			return data, nil
		}})
	}
	vec := func(name string, v []float32) {
		b := make([]byte, 4*len(v))
		_ = tensor.EncodeRow(b, v, tensor.F32)
		conv(name, &tensor.Tensor{Name: name, DType: tensor.F32, Shape: []int{len(v)}, Data: b}, 0)
	}
	for _, w := range m.Weights() {
		if w.Tensor != nil {
			conv(w.HF, w.Tensor, w.RopeHeads)
		} else {
			vec(w.HF, w.Vector)
		}
	}
	return out
}

// writeHF writes the model as config.json + model.safetensors into dir, each through a
// temporary file, converting one tensor at a time.
func writeHF(m *model.Model, dir string, force bool, want tensor.DType) error {
	ts := hfTensors(m, force, want)
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
	if err := atomicfile.WriteBytes(filepath.Join(dir, "config.json"), cj, 0o644); err != nil {
		return err
	}
	descs := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		descs[i] = t.desc
	}
	return atomicfile.WriteFile(filepath.Join(dir, "model.safetensors"), 0o644, func(w io.Writer) error {
		return safetensors.WriteStream(w, descs, map[string]string{"format": "pt"}, func(i int, w io.Writer) error {
			b, err := ts[i].data()
			if err != nil {
				return err
			}
			_, err = w.Write(b)
			return err
		})
	})
}
