package main

import (
	"context"
	"flag"
	"runtime"

	"github.com/decilm/decilm"

	"github.com/decilm/decilm/model"
)

// modelFlags are the flags every command that loads a model shares.
type modelFlags struct {
	path      *string
	pull      *bool
	threads   *int
	tokenizer *string
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	mf := &modelFlags{
		path:      fs.String("m", "", "model: a checkpoint directory or file, or a Hugging Face repo id (default: the embedded stories260K)"),
		pull:      fs.Bool("pull", false, "download the model from the Hugging Face Hub when -m names a repo that is not cached"),
		threads:   fs.Int("threads", 0, "worker threads, at most 4 × the CPUs (default: the CPUs this process may use)"),
		tokenizer: fs.String("tokenizer", "", "tokenizer file or directory (default: the one beside the model)"),
	}
	fs.StringVar(mf.path, "model", "", "same as -m")
	fs.IntVar(mf.threads, "t", 0, "same as --threads")
	return mf
}

// check validates the flags before anything is loaded or printed.
func (mf *modelFlags) check() error {
	if n, most := *mf.threads, 4*runtime.NumCPU(); n < 0 || n > most {
		return usageError("--threads must be between 1 and %d (4 × the %d CPUs), or 0 for the CPUs this process may use; have %d", most, runtime.NumCPU(), n)
	}
	if *mf.tokenizer != "" && *mf.path == "" {
		return usageError("--tokenizer needs -m: the embedded model keeps its own vocabulary")
	}
	return nil
}

func (mf *modelFlags) name() string {
	if *mf.path == "" {
		return "stories260K (embedded)"
	}
	return *mf.path
}

// resolve turns -m into a local path ("" for the embedded model).
func (mf *modelFlags) resolve(ctx context.Context, e *env) (string, error) {
	if err := mf.check(); err != nil {
		return "", err
	}
	if *mf.path == "" {
		return "", nil
	}
	return resolveModelRef(ctx, e, *mf.path, *mf.pull)
}

// options are the root package's load options the flags ask for.
func (mf *modelFlags) options(template string) decilm.Options {
	return decilm.Options{Threads: *mf.threads, Template: template, Tokenizer: *mf.tokenizer}
}

// load opens the transformer -m names (the embedded model when -m is absent), without its
// tokenizer, for commands that work on token ids or weights.
func (mf *modelFlags) load(ctx context.Context, e *env) (*model.Model, error) {
	path, err := mf.resolve(ctx, e)
	if err != nil {
		return nil, err
	}
	if path == "" {
		m, err := decilm.Load(ctx, "", mf.options(""))
		if err != nil {
			return nil, err
		}
		return m.Net, nil
	}
	return model.Load(path, model.Options{Threads: *mf.threads})
}
