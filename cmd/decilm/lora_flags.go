package main

import (
	"flag"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/server"
)

// loraFlags is the repeatable --lora PATH[:SCALE] of run, chat, eval, perplexity and serve
// (serve also takes NAME=PATH[:SCALE], an adapter requests pick by model name).
type loraFlags struct {
	specs stringList
	named bool
}

const loraUsage = "LoRA adapter applied at run time: a PEFT folder (adapter_config.json + adapter_model.safetensors) or a llama.cpp GGUF adapter, with an optional :SCALE (default 1); repeatable"

func addLoRAFlags(fs *flag.FlagSet) *loraFlags {
	lf := &loraFlags{}
	fs.Var(&lf.specs, "lora", loraUsage)
	return lf
}

func addServeLoRAFlags(fs *flag.FlagSet) *serveLoRAFlags {
	lf := &serveLoRAFlags{loraFlags: loraFlags{named: true}}
	fs.Var(&lf.specs, "lora", loraUsage+"; NAME=PATH[:SCALE] serves it as model NAME (requests pick it by their model field), PATH alone applies it to the base model")
	lf.max = fs.Int("max-loras", 8, "most LoRA adapters served by name at once")
	lf.runtime = fs.Bool("lora-runtime-updates", false, "allow POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's; they load any path the server can read)")
	return lf
}

// serveLoRAFlags are serve's adapter flags.
type serveLoRAFlags struct {
	loraFlags
	max     *int
	runtime *bool
}

// split returns the adapters applied to the model itself and the named ones, checking the
// values' syntax.
func (lf *loraFlags) split() (own, named [][2]string, err error) {
	for _, v := range lf.specs {
		name, spec := "", v
		if i := strings.IndexByte(v, '='); i > 0 && lf.named {
			name, spec = v[:i], v[i+1:]
		}
		if _, _, err := lora.ParseSpec(spec); err != nil {
			return nil, nil, usageError("--lora %s: %v", v, err)
		}
		if name == "" {
			own = append(own, [2]string{"", spec})
		} else {
			named = append(named, [2]string{name, spec})
		}
	}
	return own, named, nil
}

// check validates the flags before anything is loaded.
func (lf *loraFlags) check() error {
	_, _, err := lf.split()
	return err
}

// apply loads the adapters without a name and sets them (combined) on the model.
func (lf *loraFlags) apply(m *decilm.Model) error {
	own, _, err := lf.split()
	if err != nil || len(own) == 0 {
		return err
	}
	var as []*model.Adapter
	var names []string
	for _, o := range own {
		path, scale, _ := lora.ParseSpec(o[1])
		a, err := lora.Load(path, m.Net.Config, scale)
		if err != nil {
			return fmt.Errorf("--lora %s: %w", o[1], err)
		}
		as = append(as, a)
		names = append(names, filepath.Base(path))
	}
	a, err := model.CombineAdapters(strings.Join(names, "+"), as...)
	if err != nil {
		return err
	}
	return m.Net.SetAdapter(a)
}

// serve applies the unnamed adapters to the model and loads the named ones into srv.
func (lf *serveLoRAFlags) serve(m *decilm.Model, eng *engine.Engine, srv *server.Server) error {
	if *lf.max < 1 {
		return usageError("--max-loras must be at least 1, have %d", *lf.max)
	}
	srv.ConfigureLoRA(server.LoRAOptions{Max: *lf.max, Runtime: *lf.runtime})
	_, named, err := lf.split()
	if err != nil {
		return err
	}
	for _, n := range named {
		if err := srv.LoadLoRA(eng, n[0], n[1]); err != nil {
			return fmt.Errorf("--lora %s=%s: %w", n[0], n[1], err)
		}
	}
	return nil
}

// info describes each --lora adapter (format, updates, ranks, scales, targets, parameters)
// after checking that it fits the model (`decilm info --lora`).
func (lf *loraFlags) info(e *env, cfg *model.Config) error {
	for _, spec := range lf.specs {
		path, scale, _ := lora.ParseSpec(spec)
		f, err := lora.Open(path)
		if err != nil {
			return fmt.Errorf("--lora %s: %w", spec, err)
		}
		_, err = f.Build(cfg, filepath.Base(path), scale)
		ranks, scales, kinds := map[int]int{}, map[string]int{}, map[string]bool{}
		var kindOrder []string
		params := 0
		for _, p := range f.Pairs {
			ranks[p.Rank]++
			scales[fmt.Sprintf("%.4g", p.Scale*scale)]++
			params += p.A.Elements() + p.B.Elements()
			k := p.Module[strings.LastIndexByte(strings.TrimSuffix(p.Module, ".weight"), '.')+1:]
			if !kinds[k] {
				kinds[k] = true
				kindOrder = append(kindOrder, k)
			}
		}
		f.Close()
		fmt.Fprintf(e.stdout, "lora adapter:        %s (%s, %d updates, %s parameters)\n", path, f.Format, len(f.Pairs), human(float64(params)))
		fmt.Fprintf(e.stdout, "  rank / scale:      %s / %s\n", countList(ranks), countList(scales))
		fmt.Fprintf(e.stdout, "  targets:           %s\n", strings.Join(kindOrder, ", "))
		if err != nil {
			fmt.Fprintf(e.stdout, "  fits the model:    no: %v\n", err)
			return fmt.Errorf("--lora %s: %w", spec, err)
		}
		fmt.Fprintf(e.stdout, "  fits the model:    yes\n")
	}
	return nil
}

// countList writes a value count as "4 (×27), 2 (×1)", most frequent first.
func countList[K comparable](m map[K]int) string {
	type kv struct {
		k K
		n int
	}
	var l []kv
	for k, n := range m {
		l = append(l, kv{k, n})
	}
	sort.Slice(l, func(i, j int) bool {
		if l[i].n != l[j].n {
			return l[i].n > l[j].n
		}
		return fmt.Sprint(l[i].k) < fmt.Sprint(l[j].k)
	})
	var parts []string
	for _, x := range l {
		parts = append(parts, fmt.Sprintf("%v (×%d)", x.k, x.n))
	}
	return strings.Join(parts, ", ")
}
