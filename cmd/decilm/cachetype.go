package main

import (
	"flag"

	"github.com/decilm/decilm/model"
)

// cacheTypeFlag is --cache-type, shared by run, chat and serve.
type cacheTypeFlag struct{ s *string }

func addCacheTypeFlag(fs *flag.FlagSet) cacheTypeFlag {
	return cacheTypeFlag{fs.String("cache-type", "f16", "how the KV cache stores keys and values: f16 (half of f32's memory; greedy outputs equal f32's on the reference fixtures), q8_0 (ggml's 8-bit blocks, about a quarter; needs a head dimension that is a multiple of 32) or f32")}
}

// get reads the flag; with a loaded model's configuration it also checks that the model
// can be cached in that type.
func (f cacheTypeFlag) get(cfg *model.Config) (model.CacheType, error) {
	t, err := model.ParseCacheType(*f.s)
	if err != nil {
		return 0, usageError("--cache-type: %v", err)
	}
	if cfg != nil {
		if err := t.Check(cfg); err != nil {
			return 0, usageError("--cache-type: %v", err)
		}
	}
	return t, nil
}
