package finetune_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/finetune/finetunetest"
)

const vocab = 16

var testLoRA = finetune.LoRAConfig{R: 4, Alpha: 8, Targets: []string{"q_proj", "v_proj"}}

// corpus returns n examples drawn from a fixed bigram chain, with the loss on the second
// half of each (as a response would be).
func corpus(n int, seed uint64) []finetune.Example {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out []finetune.Example
	for range n {
		l := 4 + rng.IntN(9)
		ex := finetune.Example{Tokens: make([]int, l), Loss: make([]bool, l-1)}
		ex.Tokens[0] = rng.IntN(vocab)
		for i := 1; i < l; i++ {
			ex.Tokens[i] = (3*ex.Tokens[i-1] + 1 + rng.IntN(2)) % vocab
		}
		for i := range ex.Loss {
			ex.Loss[i] = i >= (l-1)/2
		}
		out = append(out, ex)
	}
	return out
}

func newBigram(t *testing.T) *finetunetest.Bigram {
	t.Helper()
	b, err := finetunetest.New(vocab, testLoRA, 42)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testOptions(dir string) finetune.Options {
	h := finetune.DefaultHyper()
	h.Epochs, h.Batch, h.GradAccum, h.LR, h.MinLR, h.WarmupRatio, h.Seed = 3, 2, 2, 0.05, 0.001, 0.2, 9
	return finetune.Options{Hyper: h, Dir: dir, BaseModel: "test/bigram"}
}

func paramBits(ps []*finetune.Param) [][]uint32 {
	var out [][]uint32
	for _, p := range ps {
		b := make([]uint32, len(p.W))
		for i, w := range p.W {
			b[i] = math.Float32bits(w)
		}
		out = append(out, b)
	}
	return out
}

func TestBigramGradientMatchesFiniteDifferences(t *testing.T) {
	net := newBigram(t)
	data := corpus(5, 1)
	// Move B off zero so that A's gradient is not zero too.
	for _, p := range net.Params() {
		for i := range p.W {
			p.W[i] += float32(0.1 * math.Sin(float64(i)))
		}
	}
	net.ZeroGrad()
	if _, _, err := net.Step(data, false); err != nil {
		t.Fatal(err)
	}
	for _, p := range net.Params() {
		for _, i := range []int{0, 5, len(p.W) - 1} {
			w := p.W[i]
			const h = 1e-2
			p.W[i] = w + h
			up, _, _ := net.Loss(data)
			p.W[i] = w - h
			down, _, _ := net.Loss(data)
			p.W[i] = w
			fd := (up - down) / (2 * h)
			if math.Abs(fd-float64(p.G[i])) > 1e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("%s[%d]: gradient %g, finite difference %g", p.Name, i, p.G[i], fd)
			}
		}
	}
}

func TestRunLearns(t *testing.T) {
	net := newBigram(t)
	data := corpus(40, 2)
	o := testOptions(t.TempDir())
	res, err := finetune.Run(context.Background(), net, data, corpus(8, 3), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != res.Total || res.Total != 3*10 || len(res.Log) != 30 {
		t.Fatalf("steps %d of %d, %d log entries; want 30", res.Steps, res.Total, len(res.Log))
	}
	if len(res.Eval) != 4 {
		t.Fatalf("%d evaluations, want 4 (before training and after each epoch)", len(res.Eval))
	}
	if first, last := res.Eval[0].Loss, res.Eval[3].Loss; !(last < first-0.1) {
		t.Errorf("held-out loss went from %g to %g", first, last)
	}
	for _, f := range []string{finetune.CheckpointFile, finetune.AdapterConfigFile, finetune.AdapterFile, finetune.LossCSVFile, finetune.LossPNGFile} {
		if st, err := os.Stat(filepath.Join(o.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	png, _ := os.ReadFile(filepath.Join(o.Dir, finetune.LossPNGFile))
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Errorf("loss.png does not start with the PNG signature")
	}
	// Gradient accumulation over two calls of Step is the same optimiser step as one call
	// with both batches: the loss of the first step does not depend on the split.
	o2 := testOptions(t.TempDir())
	o2.Batch, o2.GradAccum = 4, 1
	res2, err := finetune.Run(context.Background(), newBigram(t), data, nil, o2)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := res.Log[0].Loss, res2.Log[0].Loss; math.Abs(a-b) > 1e-12 {
		t.Errorf("first step loss %g with batch 2 × accumulation 2, %g with batch 4", a, b)
	}
	if a, b := res.Log[0].GradNorm, res2.Log[0].GradNorm; math.Abs(a-b) > 1e-6*a {
		t.Errorf("first step gradient norm %g with batch 2 × accumulation 2, %g with batch 4", a, b)
	}
}

// TestResumeIsExact: a run of 2N steps and a run of N steps resumed from its checkpoint for
// N more end with bit-identical parameters and the same loss log, whether the first part
// stopped at a periodic checkpoint or by an interrupt (Ctrl-C).
func TestResumeIsExact(t *testing.T) {
	data, eval := corpus(30, 4), corpus(6, 5)
	fullDir := t.TempDir()
	o := testOptions(fullDir)
	o.SaveEvery = 4
	mid := filepath.Join(t.TempDir(), "mid.safetensors")
	o.Progress = func(p finetune.Progress) {
		if p.Saved != "" && p.Step == 12 {
			b, err := os.ReadFile(p.Saved)
			if err != nil {
				t.Error(err)
			}
			os.WriteFile(mid, b, 0o644)
		}
	}
	full := newBigram(t)
	want, err := finetune.Run(context.Background(), full, data, eval, o)
	if err != nil {
		t.Fatal(err)
	}
	if want.Total != 24 {
		t.Fatalf("total %d steps, want 24", want.Total)
	}

	check := func(t *testing.T, ck *finetune.Checkpoint, dir string) {
		o := testOptions(dir)
		o.SaveEvery = 4
		o.Resume = ck
		net := newBigram(t)
		got, err := finetune.Run(context.Background(), net, data, eval, o)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Log, want.Log) {
			t.Errorf("loss log differs:\n got %v\nwant %v", got.Log, want.Log)
		}
		if !reflect.DeepEqual(got.Eval, want.Eval) {
			t.Errorf("evaluations differ:\n got %v\nwant %v", got.Eval, want.Eval)
		}
		if !reflect.DeepEqual(paramBits(net.Params()), paramBits(full.Params())) {
			t.Error("parameters differ from the uninterrupted run's")
		}
		for _, f := range []string{finetune.AdapterFile, finetune.LossCSVFile} {
			a, _ := os.ReadFile(filepath.Join(dir, f))
			b, _ := os.ReadFile(filepath.Join(fullDir, f))
			if string(a) != string(b) {
				t.Errorf("%s differs from the uninterrupted run's", f)
			}
		}
	}

	t.Run("periodic checkpoint", func(t *testing.T) {
		ck, err := finetune.ReadCheckpoint(mid)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Step != 12 {
			t.Fatalf("checkpoint at step %d, want 12", ck.Step)
		}
		check(t, ck, t.TempDir())
	})
	for _, stop := range []int{7, 8, 16} { // mid-epoch, at an epoch's end (before its evaluation), later
		t.Run("interrupt", func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := testOptions(dir)
			o.SaveEvery = 4
			o.Progress = func(p finetune.Progress) {
				if p.Step == stop && p.Eval == nil {
					cancel()
				}
			}
			res, err := finetune.Run(ctx, newBigram(t), data, eval, o)
			if !errors.Is(err, finetune.ErrInterrupted) {
				t.Fatalf("err = %v, want ErrInterrupted", err)
			}
			if res.Steps != stop || !res.Interrupted {
				t.Fatalf("stopped at step %d (interrupted %v), want %d", res.Steps, res.Interrupted, stop)
			}
			if _, err := os.Stat(filepath.Join(dir, finetune.AdapterFile)); err == nil {
				t.Error("an interrupted run wrote the adapter")
			}
			ck, err := finetune.ReadCheckpoint(filepath.Join(dir, finetune.CheckpointFile))
			if err != nil {
				t.Fatal(err)
			}
			check(t, ck, dir)
		})
	}
}

func TestResumeRefusesOtherSettings(t *testing.T) {
	data := corpus(12, 6)
	dir := t.TempDir()
	if _, err := finetune.Run(context.Background(), newBigram(t), data, nil, testOptions(dir)); err != nil {
		t.Fatal(err)
	}
	ck, err := finetune.ReadCheckpoint(filepath.Join(dir, finetune.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*finetune.Options, *[]finetune.Example)
		want   string
	}{
		{"lr", func(o *finetune.Options, _ *[]finetune.Example) { o.LR = 0.01 }, "--lr"},
		{"grad accum", func(o *finetune.Options, _ *[]finetune.Example) { o.GradAccum = 3 }, "--grad-accum"},
		{"data", func(_ *finetune.Options, d *[]finetune.Example) { *d = (*d)[1:] }, "training data differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(t.TempDir())
			o.Resume = ck
			d := data
			tc.change(&o, &d)
			_, err := finetune.Run(context.Background(), newBigram(t), d, nil, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestRunRejects(t *testing.T) {
	good := testOptions("")
	for _, tc := range []struct {
		name string
		o    func(dir string) finetune.Options
		data []finetune.Example
		want string
	}{
		{"epochs", func(d string) finetune.Options { o := good; o.Dir = d; o.Epochs = 0; return o }, corpus(3, 1), "--epochs"},
		{"lr", func(d string) finetune.Options { o := good; o.Dir = d; o.LR = math.NaN(); return o }, corpus(3, 1), "--lr"},
		{"no data", func(d string) finetune.Options { o := good; o.Dir = d; return o }, nil, "no training examples"},
		{"no dir", func(d string) finetune.Options { o := good; o.Dir = filepath.Join(d, "x"); return o }, corpus(3, 1), "not a directory"},
		{"bad token", func(d string) finetune.Options { o := good; o.Dir = d; return o }, []finetune.Example{{Tokens: []int{1, 99}, Loss: []bool{true}}}, "token 99"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := finetune.Run(context.Background(), newBigram(t), tc.data, nil, tc.o(t.TempDir()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}
