package finetune

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/decilm/decilm/checkpoint/safetensors"
	"github.com/decilm/decilm/internal/atomicfile"
	"github.com/decilm/decilm/tensor"
)

// checkpointFormat marks a checkpoint file in its safetensors metadata.
const checkpointFormat = "decilm-finetune-checkpoint/1"

// Checkpoint is the state of a run: a safetensors file whose tensors are each parameter's
// value ("param/NAME") and AdamW moments ("adam_m/NAME", "adam_v/NAME") in float32, and
// whose metadata holds this struct as JSON under "decilm.finetune" (the settings, data
// fingerprints, step and logs). It is written atomically: a crash leaves the previous one.
type Checkpoint struct {
	Hyper     Hyper       `json:"hyper"`
	LoRA      LoRAConfig  `json:"lora"`
	BaseModel string      `json:"base_model"`
	TrainData string      `json:"train_data"` // Fingerprint of the training examples
	EvalData  string      `json:"eval_data"`
	Step      int         `json:"step"` // optimiser steps done
	AdamStep  int         `json:"adam_step"`
	Total     int         `json:"total"`
	Log       []StepEntry `json:"log"`
	Eval      []EvalEntry `json:"eval"`
	// Args are the caller's own notes (Options.Args): `decilm finetune` keeps its flags
	// here so that --resume needs no others.
	Args map[string]string `json:"args,omitempty"`

	// tensors are the file's tensors by name (set by ReadCheckpoint).
	tensors map[string]*tensor.Tensor
}

func (c *Checkpoint) save(path string, params []*Param, opt *AdamW) error {
	meta, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("finetune: checkpoint %s: %w", path, err)
	}
	var descs []*tensor.Tensor
	var data [][]float32
	for _, kind := range []string{"param/", "adam_m/", "adam_v/"} {
		for i, p := range params {
			descs = append(descs, &tensor.Tensor{Name: kind + p.Name, DType: tensor.F32, Shape: []int{p.Rows, p.Cols}})
			switch kind {
			case "param/":
				data = append(data, p.W)
			case "adam_m/":
				data = append(data, opt.M[i])
			default:
				data = append(data, opt.V[i])
			}
		}
	}
	md := map[string]string{"format": checkpointFormat, "decilm.finetune": string(meta)}
	return atomicfile.WriteFile(path, 0o644, func(w io.Writer) error {
		return safetensors.WriteStream(w, descs, md, func(i int, w io.Writer) error {
			return writeF32(w, data[i])
		})
	})
}

// writeF32 writes v as little-endian float32s.
func writeF32(w io.Writer, v []float32) error {
	buf := make([]byte, 0, 64<<10)
	for i, x := range v {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		if len(buf) == cap(buf) || i == len(v)-1 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	return nil
}

// ReadCheckpoint reads a checkpoint that Run wrote. Its tensors are copied out, so the
// file is closed on return.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return fromFile(path, f)
}

// ParseCheckpoint is ReadCheckpoint for a file's bytes; name is used in errors.
func ParseCheckpoint(name string, data []byte) (*Checkpoint, error) {
	f, err := safetensors.Parse(name, data)
	if err != nil {
		return nil, err
	}
	return fromFile(name, f)
}

func fromFile(path string, f *safetensors.File) (*Checkpoint, error) {
	if f.Metadata["format"] != checkpointFormat {
		return nil, fmt.Errorf("%s: not a fine-tuning checkpoint (metadata format %q; want %q)", path, f.Metadata["format"], checkpointFormat)
	}
	c := &Checkpoint{tensors: map[string]*tensor.Tensor{}}
	if err := json.Unmarshal([]byte(f.Metadata["decilm.finetune"]), c); err != nil {
		return nil, fmt.Errorf("%s: metadata decilm.finetune: %v", path, err)
	}
	if c.Step < 0 || c.Step > c.Total || len(c.Log) != c.Step || c.AdamStep != c.Step {
		return nil, fmt.Errorf("%s: inconsistent state: step %d of %d, %d log entries, optimiser step %d", path, c.Step, c.Total, len(c.Log), c.AdamStep)
	}
	for _, t := range f.Tensors {
		if t.DType != tensor.F32 || len(t.Shape) != 2 || len(t.Data) != 4*t.Shape[0]*t.Shape[1] {
			return nil, fmt.Errorf("%s: tensor %s is %s %v; want a float32 matrix", path, t.Name, t.DType, t.Shape)
		}
		c.tensors[t.Name] = &tensor.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: slices.Clone(t.Data)}
	}
	return c, nil
}

// restore checks that c was written by a run with the settings, adapter and data of now,
// then copies its parameters and optimiser state into params and opt.
func (c *Checkpoint) restore(now *Checkpoint, params []*Param, opt *AdamW) error {
	hv, hn := reflect.ValueOf(c.Hyper), reflect.ValueOf(now.Hyper)
	for i := range hv.NumField() {
		if hv.Field(i).Interface() != hn.Field(i).Interface() {
			name := strings.ReplaceAll(hv.Type().Field(i).Tag.Get("json"), "_", "-")
			return fmt.Errorf("finetune: resume: the checkpoint has --%s %v, this run %v", name, hv.Field(i).Interface(), hn.Field(i).Interface())
		}
	}
	if !reflect.DeepEqual(c.LoRA, now.LoRA) {
		return fmt.Errorf("finetune: resume: the checkpoint's adapter is %+v, this run's %+v", c.LoRA, now.LoRA)
	}
	if c.TrainData != now.TrainData {
		return fmt.Errorf("finetune: resume: the training data differs from the checkpoint's (other rows, order, template, tokenizer or --seq-len)")
	}
	if c.EvalData != now.EvalData {
		return fmt.Errorf("finetune: resume: the evaluation data differs from the checkpoint's")
	}
	if c.Total != now.Total {
		return fmt.Errorf("finetune: resume: the checkpoint's run has %d steps, this one %d", c.Total, now.Total)
	}
	n := 0
	for _, kind := range []string{"param/", "adam_m/", "adam_v/"} {
		for i, p := range params {
			t, ok := c.tensors[kind+p.Name]
			if !ok {
				return fmt.Errorf("finetune: resume: the checkpoint has no tensor %s", kind+p.Name)
			}
			if t.Shape[0] != p.Rows || t.Shape[1] != p.Cols {
				return fmt.Errorf("finetune: resume: tensor %s is %v in the checkpoint, [%d %d] in the model", t.Name, t.Shape, p.Rows, p.Cols)
			}
			dst := p.W
			switch kind {
			case "adam_m/":
				dst = opt.M[i]
			case "adam_v/":
				dst = opt.V[i]
			}
			for j := range dst {
				dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*j:]))
			}
			n++
		}
	}
	if n != len(c.tensors) {
		return fmt.Errorf("finetune: resume: the checkpoint has %d tensors, the model's adapter %d", len(c.tensors), n)
	}
	opt.Step = c.AdamStep
	return nil
}
