package main

import (
	"context"
	"flag"

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
		threads:   fs.Int("threads", 0, "worker threads (default: the CPUs this process may use)"),
		tokenizer: fs.String("tokenizer", "", "tokenizer file or directory (default: the one beside the model)"),
	}
	fs.StringVar(mf.path, "model", "", "same as -m")
	return mf
}

func (mf *modelFlags) name() string {
	if *mf.path == "" {
		return "stories260K (embedded)"
	}
	return *mf.path
}

// resolve turns -m into a local path ("" for the embedded model).
func (mf *modelFlags) resolve(ctx context.Context, e *env) (string, error) {
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
