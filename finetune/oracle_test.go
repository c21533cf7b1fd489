//go:build oracle

package finetune_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/finetune"
	"github.com/decilm/decilm/finetune/finetunetest"
	"github.com/decilm/decilm/internal/testutil"
	"github.com/decilm/decilm/tokenizer"
)

func runPython(t *testing.T, script string, in any, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testutil.TorchPython(t), "-c", script)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python output %q: %v", res, err)
	}
}

const torchAdamW = `
import json, sys, torch
d = json.load(sys.stdin)
ps = [torch.nn.Parameter(torch.tensor(w, dtype=torch.float32)) for w in d["w"]]
opt = torch.optim.AdamW(ps, lr=d["lr"][0], weight_decay=0.01, foreach=False)
out = {"w": [], "norm": []}
for s, lr in enumerate(d["lr"]):
    for p, g in zip(ps, d["g"][s]):
        p.grad = torch.tensor(g, dtype=torch.float32)
    n = torch.nn.utils.clip_grad_norm_(ps, d["max_norm"])
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    out["norm"].append(float(n))
    out["w"].append([p.detach().tolist() for p in ps])
json.dump(out, sys.stdout)
`

// TestAdamWMatchesTorch: clipping and AdamW steps, with the learning rate of the warm-up and
// cosine schedule, agree with torch.nn.utils.clip_grad_norm_ and torch.optim.AdamW.
func TestAdamWMatchesTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	params := []*finetune.Param{
		{Name: "a", Rows: 3, Cols: 7, W: make([]float32, 21), G: make([]float32, 21)},
		{Name: "b", Rows: 5, Cols: 3, W: make([]float32, 15), G: make([]float32, 15)},
	}
	var in struct {
		W       [][]float32   `json:"w"`
		G       [][][]float32 `json:"g"`
		LR      []float64     `json:"lr"`
		MaxNorm float64       `json:"max_norm"`
	}
	in.MaxNorm = 1
	for _, p := range params {
		for i := range p.W {
			p.W[i] = float32(rng.NormFloat64())
		}
		in.W = append(in.W, append([]float32(nil), p.W...))
	}
	sched := finetune.Schedule{Peak: 0.01, Min: 0.001, Warmup: 3, Total: 10}
	for s := 1; s <= 10; s++ {
		in.LR = append(in.LR, sched.LR(s))
		var gs [][]float32
		scale := math.Pow(10, float64(rng.IntN(4)-2)) // some steps clip, some do not
		for _, p := range params {
			g := make([]float32, len(p.W))
			for i := range g {
				g[i] = float32(rng.NormFloat64() * scale)
			}
			gs = append(gs, g)
		}
		in.G = append(in.G, gs)
	}
	var out struct {
		W    [][][]float64 `json:"w"`
		Norm []float64     `json:"norm"`
	}
	runPython(t, torchAdamW, in, &out)
	opt := finetune.NewAdamW(params)
	worst := 0.0
	for s := range in.LR {
		for i, p := range params {
			copy(p.G, in.G[s][i])
		}
		norm := finetune.ClipGrads(params, in.MaxNorm)
		if math.Abs(norm-out.Norm[s]) > 1e-5*out.Norm[s] {
			t.Errorf("step %d: gradient norm %g, torch %g", s+1, norm, out.Norm[s])
		}
		opt.Update(params, in.LR[s])
		for i, p := range params {
			for j, w := range p.W {
				want := out.W[s][i][j]
				d := math.Abs(float64(w)-want) / math.Max(1, math.Abs(want))
				worst = max(worst, d)
				if d > 2e-6 {
					t.Fatalf("step %d, %s[%d] = %.9g, torch %.9g", s+1, p.Name, j, w, want)
				}
			}
		}
	}
	t.Logf("largest difference from torch over 10 steps: %.3g (relative)", worst)
}

const readAdapter = `
import json, math, re, struct, sys, torch
d = json.load(sys.stdin)
raw = open(d["dir"] + "/adapter_model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8+n])
meta = hdr.pop("__metadata__", {})
body = raw[8+n:]
cfg = json.load(open(d["dir"] + "/adapter_config.json"))
need = {"peft_type": str, "task_type": str, "r": int, "lora_alpha": (int, float), "target_modules": list,
        "lora_dropout": float, "bias": str, "fan_in_fan_out": bool, "use_rslora": bool,
        "base_model_name_or_path": str, "init_lora_weights": bool, "modules_to_save": type(None),
        "layers_to_transform": type(None), "layers_pattern": type(None), "rank_pattern": dict,
        "alpha_pattern": dict, "use_dora": bool, "inference_mode": bool}
problems = [k for k, ty in need.items() if k not in cfg or not isinstance(cfg[k], ty)]
if cfg.get("peft_type") != "LORA" or cfg.get("task_type") != "CAUSAL_LM" or cfg.get("bias") != "none":
    problems.append("peft_type/task_type/bias")
scale = cfg["lora_alpha"] / (math.sqrt(cfg["r"]) if cfg["use_rslora"] else cfg["r"])
name_re = re.compile(r"^base_model\.model\.model\.layers\.\d+\.(self_attn|mlp)\.(q|k|v|o|gate|up|down)_proj\.lora_[AB]\.weight$")
tensors = {}
for name, e in hdr.items():
    if not name_re.match(name) or ".default" in name:
        problems.append("name " + name)
    if e["dtype"] != "F32":
        problems.append("dtype " + e["dtype"])
    a, b = e["data_offsets"]
    t = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).reshape(e["shape"])
    tensors[name] = t
delta = {}
for name, a in tensors.items():
    if name.endswith("lora_A.weight"):
        b = tensors[name.replace("lora_A", "lora_B")]
        if a.shape[0] != cfg["r"] or b.shape[1] != cfg["r"]:
            problems.append("rank of " + name)
        delta[name[:-len(".lora_A.weight")]] = (scale * (b.double() @ a.double())).flatten().tolist()
json.dump({"problems": problems, "meta": meta, "shapes": {k: list(v.shape) for k, v in tensors.items()},
           "values": {k: v.flatten().tolist() for k, v in tensors.items()}, "delta": delta}, sys.stdout)
`

// TestAdapterReadByPython: PyTorch reads the adapter Run wrote by parsing the safetensors
// header itself (PEFT is not installed): PEFT's names and shapes, the values bit for bit,
// adapter_config.json with every key PEFT's LoraConfig reads, and the weight update
// scale·B·A that PEFT would add.
func TestAdapterReadByPython(t *testing.T) {
	dir := t.TempDir()
	net, err := finetunetestNew(finetune.LoRAConfig{R: 4, Alpha: 16, Targets: []string{"q_proj", "down_proj"}})
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(dir)
	o.Epochs = 1
	if _, err := finetune.Run(t.Context(), net, corpus(12, 8), nil, o); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Problems []string             `json:"problems"`
		Meta     map[string]string    `json:"meta"`
		Shapes   map[string][]int     `json:"shapes"`
		Values   map[string][]float64 `json:"values"`
		Delta    map[string][]float64 `json:"delta"`
	}
	runPython(t, readAdapter, map[string]string{"dir": dir}, &out)
	if len(out.Problems) > 0 {
		t.Errorf("python found: %v", out.Problems)
	}
	if out.Meta["format"] != "pt" {
		t.Errorf("metadata %v", out.Meta)
	}
	ps := net.Params()
	if len(out.Shapes) != len(ps) {
		t.Fatalf("python read %d tensors, the net has %d", len(out.Shapes), len(ps))
	}
	for k := 0; k < len(ps); k += 2 {
		a, b := ps[k], ps[k+1]
		for _, p := range []*finetune.Param{a, b} {
			if s := out.Shapes[p.Name]; len(s) != 2 || s[0] != p.Rows || s[1] != p.Cols {
				t.Errorf("%s: python shape %v, want [%d %d]", p.Name, s, p.Rows, p.Cols)
			}
			for j, w := range p.W {
				if out.Values[p.Name][j] != float64(w) {
					t.Fatalf("%s[%d]: python %g, want %g", p.Name, j, out.Values[p.Name][j], w)
				}
			}
		}
		delta := out.Delta[strings.TrimSuffix(a.Name, ".lora_A.weight")]
		for o := range b.Rows {
			for i := range a.Cols {
				s := 0.0
				for j := range a.Rows {
					s += float64(b.W[o*b.Cols+j]) * float64(a.W[j*a.Cols+i])
				}
				if d := delta[o*a.Cols+i] - net.Scale()*s; math.Abs(d) > 1e-12 {
					t.Fatalf("%s: ΔW[%d,%d] python %g, want %g", a.Name, o, i, delta[o*a.Cols+i], net.Scale()*s)
				}
			}
		}
	}
}

// TestFixtureData reads the shared fine-tuning data with the Llama-2 tokenizer and
// DeciLM-7B-instruct's template: every row becomes an example, and the tokens the loss
// counts decode to the row's own response (from its JSON) and the template's "\n", then EOS.
func TestFixtureData(t *testing.T) {
	tok, err := tokenizer.Load(testutil.Fixture(t, "llama2-tokenizer", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := chat.Lookup(chat.DeciLM7BInstruct)
	path := testutil.Fixture(t, "finetune", "orca_dpo_pairs_validation.jsonl")
	exs, st, err := finetune.ReadDataFile(path, tok, finetune.DataOptions{Format: "orca", Template: tm, SeqLen: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("orca: %+v", st)
	if _, st512, err := finetune.ReadDataFile(path, tok, finetune.DataOptions{Format: "orca", Template: tm, SeqLen: 512}); err != nil || st512.Kept+st512.TooLong != st.Rows {
		t.Errorf("--seq-len 512: %+v, %v", st512, err)
	} else {
		t.Logf("orca at --seq-len 512: %d kept, %d left out", st512.Kept, st512.TooLong)
	}
	raw, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if st.Rows != len(lines) || st.Kept+st.TooLong != st.Rows {
		t.Fatalf("stats %+v for %d lines", st, len(lines))
	}
	mismatch := 0
	k := 0
	for _, line := range lines {
		var r struct {
			Pref []chat.Message `json:"preferred_output"`
		}
		json.Unmarshal([]byte(line), &r)
		if _, _, err := finetune.ParseRow([]byte(line), "orca"); err != nil {
			t.Fatal(err)
		}
		ex := exs[k]
		k++
		if ex.Tokens[0] != tok.BOS() || ex.Tokens[1] == tok.BOS() {
			t.Fatalf("row %d does not start with exactly one BOS: %v", k, ex.Tokens[:2])
		}
		var ids []int
		for i, c := range ex.Loss {
			if c {
				ids = append(ids, ex.Tokens[i+1])
			}
		}
		if ids[len(ids)-1] != tok.EOS() {
			t.Fatalf("row %d: the counted tokens do not end with EOS", k)
		}
		got, _ := tok.Decode(ids[:len(ids)-1])
		if got != r.Pref[0].Content+"\n" {
			mismatch++
			if mismatch < 3 {
				t.Errorf("row %d: counted text %q, want %q", k, got, r.Pref[0].Content+"\n")
			}
		}
	}
	if mismatch > 0 {
		t.Errorf("%d of %d rows: the counted tokens are not the response", mismatch, len(exs))
	}
	wiki := testutil.Fixture(t, "finetune", "wikisql_train.jsonl")
	wexs, wst, err := finetune.ReadDataFile(wiki, tok, finetune.DataOptions{Format: "text", SeqLen: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wikisql: %+v", wst)
	if wst.Rows != 1000 || len(wexs) != wst.Kept || wst.LossTokens != wst.Tokens-wst.Kept {
		t.Errorf("wikisql: stats %+v", wst)
	}
}

func finetunetestNew(cfg finetune.LoRAConfig) (*finetunetest.Bigram, error) {
	return finetunetest.New(vocab, cfg, 11)
}

// TestFixtureDataLlama3: the same rows with Llama-3.1's own Jinja chat template and its
// byte-level BPE vocabulary: each response is learnt as its stripped text and <|eot_id|>
// (the template's end of turn, so no EOS is added), and no boundary is tokenized across.
func TestFixtureDataLlama3(t *testing.T) {
	tok, err := tokenizer.Load(testutil.Fixture(t, "llama3-tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "chat", "testdata", "llama-3.1-instruct.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := chat.FromJinja(string(src), chat.SpecialTokens{BOS: "<|begin_of_text|>", EOS: "<|eot_id|>"})
	if err != nil {
		t.Fatal(err)
	}
	eot, ok := tok.PieceID("<|eot_id|>")
	if !ok {
		t.Fatal("no <|eot_id|> in the vocabulary")
	}
	path := testutil.Fixture(t, "finetune", "orca_dpo_pairs_validation.jsonl")
	exs, st, err := finetune.ReadDataFile(path, tok, finetune.DataOptions{Format: "orca", Template: tm, SeqLen: 8192})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("orca with Llama-3.1: %+v", st)
	if st.Kept != st.Rows || st.Reboundaried != 0 {
		t.Fatalf("stats %+v", st)
	}
	raw, _ := os.ReadFile(path)
	for k, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		var r struct {
			Pref []chat.Message `json:"preferred_output"`
		}
		json.Unmarshal([]byte(line), &r)
		ex := exs[k]
		if ex.Tokens[0] != tok.BOS() || ex.Tokens[1] == tok.BOS() {
			t.Fatalf("row %d does not start with exactly one BOS: %v", k+1, ex.Tokens[:2])
		}
		var ids []int
		for i, c := range ex.Loss {
			if c {
				ids = append(ids, ex.Tokens[i+1])
			}
		}
		if ids[len(ids)-1] != eot || ex.Tokens[len(ex.Tokens)-1] != eot {
			t.Fatalf("row %d: the counted tokens do not end the text with <|eot_id|>", k+1)
		}
		got, _ := tok.Decode(ids[:len(ids)-1])
		if want := strings.TrimSpace(r.Pref[0].Content); got != want {
			t.Fatalf("row %d: counted text %q, want %q", k+1, got, want)
		}
	}
}
