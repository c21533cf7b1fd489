//go:build oracle

package train

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/tensor"
)

// oracleBatch is a fixed batch: three sequences of different lengths, the first part of
// each a prompt that does not count (as in response-only training), a few holes.
func oracleBatch(vocab int) []Example {
	rng := rand.New(rand.NewPCG(2024, 12))
	var b []Example
	for _, n := range []int{13, 6, 21} {
		e := Example{Tokens: make([]int, n), Loss: make([]bool, n-1)}
		for i := range e.Tokens {
			e.Tokens[i] = rng.IntN(vocab)
		}
		for i := range e.Loss {
			e.Loss[i] = i >= n/3 && rng.IntN(5) > 0
		}
		b = append(b, e)
	}
	return b
}

type oracleEntry struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"`
}

type oracleExample struct {
	Tokens []int  `json:"tokens"`
	Loss   []bool `json:"loss"`
}

// TestGradientsMatchPyTorch: for tiny-decilm and tiny-nemotron (BF16, and tiny-nemotron
// with every matrix quantized to Q4_0, which PyTorch gets dequantized), the loss and the
// gradient of every LoRA A and B equal PyTorch autograd's (float64) on the same batch:
// |loss − ref| / |ref| and ||g − ref|| / ||ref|| per tensor within 1e-4.
func TestGradientsMatchPyTorch(t *testing.T) {
	py := testutil.TorchPython(t)
	script, err := filepath.Abs(filepath.Join("testdata", "lora_grads.py"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		fixture string
		dt      tensor.DType // the base's matrices are converted to dt unless it is BF16
	}{
		{"tiny-decilm", tensor.BF16},
		{"tiny-nemotron", tensor.BF16},
		{"tiny-nemotron", tensor.Q4_0},
	} {
		t.Run(c.fixture+"/"+c.dt.String(), func(t *testing.T) {
			dir := testutil.Fixture(t, c.fixture)
			m, err := model.Load(dir, model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			var base []*tensor.Tensor // matrices replaced by their quantized version
			if c.dt != tensor.BF16 {
				m = quantizeModel(t, m, c.dt, &base)
			}
			targets := allTargets[:7] // the seven projections of a Llama block
			if c.fixture == "tiny-nemotron" {
				targets = allTargets
			}
			n, err := New(m, LoRAConfig{R: 4, Alpha: 8, Targets: targets}, 17)
			if err != nil {
				t.Fatal(err)
			}
			randomizeB(n, rand.New(rand.NewPCG(8, 8)), 0.05)
			batch := oracleBatch(m.Config.Vocab)
			loss, count, err := n.Step(batch, true)
			if err != nil {
				t.Fatal(err)
			}

			tmp := t.TempDir()
			var data []byte
			put := func(name string, shape []int, v []float32) oracleEntry {
				e := oracleEntry{name, shape, len(data) / 4}
				for _, x := range v {
					data = binary.LittleEndian.AppendUint32(data, math.Float32bits(x))
				}
				return e
			}
			req := map[string]any{"data": filepath.Join(tmp, "in.f32"), "out": filepath.Join(tmp, "out.f64"), "scale": n.Scale()}
			var lora, over []oracleEntry
			for _, p := range n.Params() {
				lora = append(lora, put(p.Name, []int{p.Rows, p.Cols}, p.W))
			}
			for _, w := range base {
				v := make([]float32, w.Rows()*w.Cols())
				for i := 0; i < w.Rows(); i++ {
					if err := tensor.DecodeRow(v[i*w.Cols():(i+1)*w.Cols()], w.Row(i), w.DType); err != nil {
						t.Fatal(err)
					}
				}
				over = append(over, put(w.Name, w.Shape, v))
			}
			var ex []oracleExample
			for _, e := range batch {
				ex = append(ex, oracleExample{e.Tokens, e.Loss})
			}
			req["lora"], req["base"], req["batch"] = lora, over, ex
			js, _ := json.Marshal(req)
			if err := os.WriteFile(filepath.Join(tmp, "in.f32"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(tmp, "req.json"), js, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(py, script, dir, filepath.Join(tmp, "req.json")).CombinedOutput(); err != nil {
				t.Fatalf("lora_grads.py: %v\n%s", err, out)
			}
			out, err := os.ReadFile(filepath.Join(tmp, "out.f64"))
			if err != nil {
				t.Fatal(err)
			}
			f64 := func() float64 {
				v := math.Float64frombits(binary.LittleEndian.Uint64(out))
				out = out[8:]
				return v
			}
			ref := f64()
			t.Logf("%d counted tokens: loss %.9g, PyTorch %.9g", count, loss, ref)
			if math.Abs(loss-ref) > 1e-4*math.Abs(ref) {
				t.Errorf("loss %.9g, PyTorch %.9g", loss, ref)
			}
			worst := 0.0
			for _, p := range n.Params() {
				want := make([]float64, len(p.G))
				for i := range want {
					want[i] = f64()
				}
				e := relErr(to64(p.G), want)
				worst = max(worst, e)
				if !(e <= 1e-4) {
					t.Errorf("%s: ||g − torch|| / ||torch|| = %.3g", p.Name, e)
				}
			}
			t.Logf("largest relative gradient difference: %.3g over %d tensors", worst, len(n.Params()))
		})
	}
}

// quantizeModel returns a model with m's configuration whose matrices are m's converted
// to dt (rows of a length dt cannot hold stay as they are), appending the converted ones
// to conv.
func quantizeModel(t *testing.T, m *model.Model, dt tensor.DType, conv *[]*tensor.Tensor) *model.Model {
	t.Helper()
	ts := map[string]*tensor.Tensor{}
	for _, w := range m.Weights() {
		if w.Tensor == nil {
			v := w.Vector
			data := make([]byte, 4*len(v))
			for i, x := range v {
				binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
			}
			ts[w.HF] = &tensor.Tensor{Name: w.HF, DType: tensor.F32, Shape: []int{len(v)}, Data: data}
			continue
		}
		q := w.Tensor
		if _, err := dt.RowBytes(q.Cols()); err == nil {
			q = convert(t, q, dt)
			q.Name = w.HF
			*conv = append(*conv, q)
		}
		ts[w.HF] = q
	}
	q, err := model.New(m.Config, ts, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return q
}
