package main

import (
	"os"
	"path/filepath"

	"github.com/decilm/decilm/internal/atomicfile"
)

// modelInputs lists the files a command that loads the model at path reads, which it must
// never write over: the
// checkpoint (every file in its folder, which holds its shards, config.json and tokenizer
// files) and the tokenizer given with --tokenizer (every file in it, for a folder).
func modelInputs(path, tok string) ([]string, error) {
	var in []string
	add := func(p string) error {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		dir := p
		if !st.IsDir() {
			in = append(in, p)
			dir = filepath.Dir(p)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !e.IsDir() {
				in = append(in, filepath.Join(dir, e.Name()))
			}
		}
		return nil
	}
	for _, p := range []string{path, tok} {
		if p == "" {
			continue
		}
		if err := add(p); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// checkOutputFile refuses an output file (given with flag) that is one of the files of the
// model at path or of the tokenizer tok, before anything is loaded or written.
func checkOutputFile(flag, out, path, tok string) error {
	inputs, err := modelInputs(path, tok)
	if err != nil {
		return err
	}
	return atomicfile.CheckNotInput(flag, out, inputs...)
}
