package quantize_test

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/quantize"
	"github.com/decilm/decilm/synth"
	"github.com/decilm/decilm/tensor"
)

// mixModels are the shapes the per-tensor type rules are checked on: a 17-layer DeciLM with
// varying KV heads (grouping 4 in layer 0), a Nemotron-NAS model with skipped and linear
// attention (grouping 2 in layer 0), the same with its embedding tied to the output, and the
// tiny preset, whose rows of 128 and 344 values are not whole k-quant blocks; all with a
// vocabulary of 512.
var mixModels = []struct {
	name   string
	preset synth.Preset
}{
	{"deci17", synth.Preset{Name: "deci17", Hidden: 256, Intermediate: 768, Layers: 17, Heads: 8,
		KVHeads: []int{2, 2, 1, 2, 4, 2, 2, 1, 2, 2, 2, 8, 2, 2, 2, 1, 2},
		Vocab:   512, MaxPositions: 256, NormEps: 1e-5, RopeScalingJSON: "null"}},
	{"nas10", synth.Preset{Name: "nas10", Hidden: 256, Heads: 8, Layers: 10,
		Blocks: mustBlocks("g4/1.5 -/1.5 g2/3 L/1.5 g8/1.5 -/3 g4/1.5 g4/1.5 g1/1.5 g4/3"),
		Vocab:  512, MaxPositions: 256, NormEps: 1e-5, RopeScalingJSON: "null"}},
	{"tied9", synth.Preset{Name: "tied9", Hidden: 256, Intermediate: 512, Layers: 9, Heads: 4,
		KVHeads: []int{4, 2, 2, 1, 2, 2, 4, 2, 2}, Tied: true,
		Vocab: 32000, MaxPositions: 256, NormEps: 1e-5, RopeScalingJSON: "null"}},
	{"tiny", tinyMix()},
}

// tinyMix is the tiny preset with a vocabulary of 512 (the rules do not depend on it).
func tinyMix() synth.Preset {
	p := synth.Presets["tiny"]
	p.Name, p.Vocab = "tiny512", 512
	return p
}

func mustBlocks(s string) []synth.Block {
	b, err := synth.ParseBlocks(s)
	if err != nil {
		panic(err)
	}
	return b
}

// mixCase is one file type, with or without an importance matrix.
type mixCase struct {
	ftype   string
	imatrix bool
}

func (c mixCase) key() string {
	if c.imatrix {
		return c.ftype + "+imatrix"
	}
	return c.ftype
}

// needsImatrix are the file types llama-quantize refuses without an importance matrix.
// (iq2_m and iq3_xxs: llama-quantize stops at their IQ2_S matrices.)
var needsImatrix = map[string]bool{"q2_k_s": true, "iq2_xxs": true, "iq2_xs": true, "iq2_s": true, "iq2_m": true, "iq3_xxs": true, "iq1_s": true, "iq1_m": true}

// mixCases are every file type without an importance matrix (but those that need one), and
// with one those whose rules or quantizers use it.
func mixCases() []mixCase {
	var cs []mixCase
	for _, n := range quantize.FileTypeNames() {
		if !needsImatrix[n] {
			cs = append(cs, mixCase{n, false})
		}
	}
	for _, n := range []string{"q4_0", "q5_0", "q2_k", "q2_k_s", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k", "iq4_nl", "iq4_xs", "iq1_s", "iq1_m", "iq2_xxs", "iq2_xs", "iq2_s", "iq2_m", "iq3_xxs", "iq3_xs", "iq3_s", "iq3_m"} {
		cs = append(cs, mixCase{n, true})
	}
	return cs
}

// mixImatrix is a made-up importance matrix for m's block matrices: positive, varying by
// column, with a few large columns as real activations have.
func mixImatrix(m *model.Model) *quantize.Imatrix {
	im := &quantize.Imatrix{Entries: map[string]*quantize.ImatrixEntry{}, Chunks: 1, ChunkSize: 16, Datasets: []string{"made-up"}}
	for wi, w := range m.Weights() {
		if w.Tensor == nil || !strings.HasPrefix(w.GGUF, "blk.") {
			continue
		}
		e := &quantize.ImatrixEntry{Sum2: make([]float64, w.Tensor.Cols()), Count: 16, Calls: 1}
		for j := range e.Sum2 {
			v := 0.5 + math.Abs(math.Sin(float64(j*7+wi)))
			if (j+wi)%37 == 0 {
				v *= 40
			}
			e.Sum2[j] = 16 * v
		}
		im.Entries[w.GGUF] = e
	}
	return im
}

// loadMixModel writes a mix model with a stand-in vocabulary and loads it.
func loadMixModel(t *testing.T, p synth.Preset) *model.Model {
	t.Helper()
	dir := t.TempDir()
	if err := p.Write(dir, 7, "", nil); err != nil {
		t.Fatal(err)
	}
	testmodel.Tokenizer(t, dir, p.Vocab)
	m, err := model.Load(dir, model.Options{NoPack: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestMixMatchesReference checks the type of every matrix of every mix model in every file
// type against the types llama-quantize chose for the same shapes (testdata/llamacpp_mix.txt,
// written by TestMixMatchesLlamaQuantize).
func TestMixMatchesReference(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "llamacpp_mix.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		want[k] = strings.TrimSpace(v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mm := range mixModels {
		m := loadMixModel(t, mm.preset)
		imp := mixImatrix(m).Importance()
		for _, c := range mixCases() {
			k := mm.name + " " + c.key()
			w, ok := want[k]
			if !ok {
				t.Errorf("%s: no reference", k)
				continue
			}
			o := quantize.Options{FileType: c.ftype}
			if c.imatrix {
				o.Importance = imp
			}
			types, err := quantize.TensorTypes(m, o)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			ft, _ := quantize.ParseFileType(c.ftype)
			got := map[string]tensor.DType{}
			for name, d := range types {
				if d != ft.Base {
					got[name] = d
				}
			}
			if w == "refused" { // llama.cpp stops at rows that are not whole blocks; decilm uses F16
				for name, d := range types {
					if d != ft.Base && d != tensor.F16 && !(name == "output.weight" && d == tensor.Q8_0) {
						t.Errorf("%s: %s is %s, want %s or f16 (q8_0 for the output)", k, name, d, ft.Base)
					}
				}
				n++
				continue
			}
			wantTypes := map[string]string{}
			for _, f := range strings.Fields(w) {
				name, d, _ := strings.Cut(f, "=")
				wantTypes[name] = d
			}
			for name, d := range types {
				wd, ok := wantTypes[name]
				if !ok {
					wd = ft.Base.String()
				}
				if d.String() != wd {
					t.Errorf("%s: %s is %s, llama-quantize %s", k, name, d, wd)
				}
			}
			for name := range wantTypes {
				if _, ok := types[name]; !ok {
					t.Errorf("%s: llama-quantize has %s, decilm does not", k, name)
				}
			}
			n++
		}
	}
	t.Logf("%d models × file types checked", n)
}

func TestParseFileType(t *testing.T) {
	for _, c := range []struct {
		in, want string
		id       uint32
	}{{"Q4_K_M", "q4_k_m", 15}, {"q4_k", "q4_k_m", 15}, {"IQ4_XS", "iq4_xs", 30}, {"q8_0", "q8_0", 7}, {"q3_k", "q3_k_m", 12}, {"q2_k_s", "q2_k_s", 21}} {
		f, err := quantize.ParseFileType(c.in)
		if err != nil || f.Name != c.want || f.ID != c.id {
			t.Errorf("ParseFileType(%q) = %+v, %v; want %s (%d)", c.in, f, err, c.want, c.id)
		}
	}
	if _, err := quantize.ParseFileType("q3_k_xl"); err == nil || !strings.Contains(err.Error(), "q4_k_m") {
		t.Errorf("q3_k_xl: error %v, want the list of types", err)
	}
}

// TestLowBitNeedsImatrix checks that the file types llama-quantize refuses without an
// importance matrix are refused too, with an error naming the --imatrix flag, and that a
// matrix the importance matrix lacks is an error when its type needs one.
func TestLowBitNeedsImatrix(t *testing.T) {
	m := loadMixModel(t, mixModels[0].preset)
	for ft := range needsImatrix {
		_, err := quantize.TensorTypes(m, quantize.Options{FileType: ft})
		if err == nil || !strings.Contains(err.Error(), "--imatrix") || !strings.Contains(err.Error(), ft) {
			t.Errorf("%s without an importance matrix: error %v, want one naming --imatrix", ft, err)
		}
	}
	imp := mixImatrix(m).Importance()
	if _, err := quantize.TensorTypes(m, quantize.Options{FileType: "iq2_xs", Importance: imp}); err != nil {
		t.Fatalf("iq2_xs with an importance matrix: %v", err)
	}
	delete(imp, "blk.3.ffn_up.weight")
	_, err := quantize.TensorTypes(m, quantize.Options{FileType: "iq2_xs", Importance: imp})
	if err == nil || !strings.Contains(err.Error(), "blk.3.ffn_up.weight") {
		t.Errorf("iq2_xs with blk.3.ffn_up.weight missing from the importance matrix: error %v", err)
	}
}
