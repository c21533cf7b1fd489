package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/decilm/decilm/hub"
)

func init() {
	register(&command{
		name:    "pull",
		summary: "download a model or dataset from the Hugging Face Hub into its shared cache",
		run:     runPull,
	})
}

// multiFlag is a flag that may be given several times, collecting each value.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

// Set appends one value.
func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

func runPull(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "pull", "REPO [--revision R] [--include GLOB]... [--exclude GLOB]... [flags]\n\n"+
		"REPO is owner/name (or hf://owner/name, or owner/name@revision). The files go to the\n"+
		"Hugging Face cache shared with huggingface_hub; the snapshot folder is printed at the end.\n"+
		"Environment: HF_HUB_CACHE, HF_HOME, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE.")
	revision := fs.String("revision", "", "branch, tag or commit to download (default main)")
	var include, exclude multiFlag
	fs.Var(&include, "include", "download only files matching `GLOB`; repeatable ('*' also matches '/', a trailing '/' means a folder).\n"+
		"Without it a model with safetensors weights skips its .bin/.pt/.h5/... copies")
	fs.Var(&exclude, "exclude", "skip files matching `GLOB`; repeatable")
	dataset := fs.Bool("dataset", false, "REPO is a dataset repository")
	cacheDir := fs.String("cache-dir", "", "hub cache `folder` (default $HF_HUB_CACHE, or $HF_HOME/hub, or ~/.cache/huggingface/hub)")
	concurrency := fs.Int("concurrency", 8, "how many files to download at once")
	token := fs.String("token", "", "access token for gated or private repositories (default $HF_TOKEN, or the token file)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError("want one repository (owner/name), got %d arguments", fs.NArg())
	}
	if *concurrency < 1 {
		return usageError("--concurrency must be at least 1, got %d", *concurrency)
	}
	repo, rev, ok := parseHubRef(fs.Arg(0))
	if !ok {
		return usageError("%q is not a hub repository id (owner/name)", fs.Arg(0))
	}
	if *revision != "" {
		if rev != "" && rev != *revision {
			return usageError("revision %q in %q conflicts with --revision %q", rev, fs.Arg(0), *revision)
		}
		rev = *revision
	}
	c := hub.NewClient()
	if *cacheDir != "" {
		c.Cache = *cacheDir
	}
	if *token != "" {
		c.Token = *token
	}
	c.Concurrency = *concurrency
	c.Progress = e.stderr
	opts := hub.Options{Revision: rev, Include: include, Exclude: exclude}
	if *dataset {
		opts.RepoType = hub.RepoDataset
	}
	dir, err := c.Download(ctx, repo, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, dir)
	return nil
}

// parseHubRef splits a hub model reference, "owner/name", "owner/name@revision" or
// "hf://owner/name[@revision]" (where a single "name" is also accepted), into the repository
// id and revision ("" when none is given). ok is false when ref is not of that form.
func parseHubRef(ref string) (repo, revision string, ok bool) {
	rest, explicit := strings.CutPrefix(ref, "hf://")
	if explicit {
		rest = strings.TrimPrefix(rest, "models/")
	}
	repo, revision, hasRev := strings.Cut(rest, "@")
	if hasRev && revision == "" {
		return "", "", false
	}
	if hub.ValidateRepoID(repo) != nil {
		return "", "", false
	}
	if !explicit && !strings.Contains(repo, "/") {
		return "", "", false // a bare word is more likely a missing local file
	}
	return repo, revision, true
}

// resolveModelRef turns the value of a -m/--model flag into a local path. An existing file or
// folder is returned unchanged. A hub repository id (owner/name, owner/name@revision or
// hf://owner/name) resolves to its snapshot folder in the Hugging Face cache; when it is not
// cached it is downloaded if pull is true, and otherwise the error says how to get it.
func resolveModelRef(ctx context.Context, e *env, ref string, pull bool) (string, error) {
	if ref == "" {
		return "", usageError("no model given")
	}
	if _, err := os.Stat(ref); err == nil {
		return ref, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	repo, rev, ok := parseHubRef(ref)
	if !ok {
		return "", fmt.Errorf("model %s: no such file or directory (and not a hub repository id owner/name)", ref)
	}
	c := hub.NewClient()
	dir, cached := hub.CachedSnapshot(c.Cache, hub.RepoModel, repo, rev)
	if cached && hasWeights(dir) {
		return dir, nil
	}
	at := ""
	if rev != "" {
		at = " --revision " + rev
	}
	if !pull {
		if cached {
			return "", fmt.Errorf("model %s: the cached snapshot %s has no weight files; "+
				"run `decilm pull %s%s` or pass --pull to download them", ref, dir, repo, at)
		}
		return "", fmt.Errorf("model %s: no such file, and the hub repository %s is not in the cache %s; "+
			"run `decilm pull %s%s` or pass --pull to download it", ref, repo, c.Cache, repo, at)
	}
	if c.Offline {
		return "", fmt.Errorf("model %s is not in the cache %s and HF_HUB_OFFLINE is set: unset it to download", repo, c.Cache)
	}
	fmt.Fprintf(e.stderr, "pulling %s%s into %s\n", repo, at, c.Cache)
	c.Progress = e.stderr
	return c.Download(ctx, repo, hub.Options{Revision: rev})
}

// hasWeights reports whether a snapshot folder holds a weight file, so that a snapshot an
// earlier `decilm pull --include config.json` left is not taken for a model.
func hasWeights(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		switch filepath.Ext(e.Name()) {
		case ".safetensors", ".gguf", ".bin", ".pth", ".pt":
			return true
		}
	}
	return false
}
