package main

import (
	"flag"
	"fmt"
	"path/filepath"
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
