package model

import (
	"fmt"

	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/llama2c"
)

// Load opens the checkpoint at path (see checkpoint.Open for the formats), reads its
// configuration and returns the model, whose weights stay memory-mapped until Close (the
// matrices are read from copies that New makes; see New).
func Load(path string, opts Options) (*Model, error) {
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	m, err := FromCheckpoint(ck, opts)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// FromCheckpoint builds a model from an opened checkpoint, taking over its mapped files
// (closing the model closes them).
func FromCheckpoint(ck *checkpoint.Checkpoint, opts Options) (*Model, error) {
	cfg, err := ConfigOf(ck)
	if err != nil {
		return nil, err
	}
	tensors := ck.Tensors
	if ck.Format == checkpoint.GGUF {
		tensors = ggufNames(cfg, ck.Tensors)
	}
	m, err := New(cfg, tensors, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Path, err)
	}
	m.closers = ck.Closers()
	return m, nil
}

// ConfigOf returns the configuration of an opened checkpoint: config.json for Hugging Face
// layouts, the header for llama2.c files, the metadata for GGUF files.
func ConfigOf(ck *checkpoint.Checkpoint) (*Config, error) {
	switch {
	case ck.Config != nil:
		return ParseConfig(ck.Dir+"/config.json", ck.Config)
	case ck.Llama2C != nil:
		return ConfigFromLlama2C(*ck.Llama2C), nil
	case ck.Format == checkpoint.GGUF:
		return configFromGGUF(ck)
	}
	return nil, fmt.Errorf("%s: no configuration found", ck.Path)
}

// ConfigFromLlama2C derives the configuration of a llama2.c checkpoint (whose tensors the
// llama2c reader presents in Hugging Face layout).
func ConfigFromLlama2C(h llama2c.Header) *Config {
	return &Config{
		Arch: "llama", Hidden: h.Dim, Layers: h.Layers, Heads: h.Heads,
		HeadDim: h.Dim / h.Heads, Blocks: Uniform(h.Layers, h.KVHeads, h.HiddenDim), Vocab: h.Vocab, MaxPositions: h.SeqLen,
		NormEps: 1e-5, RopeTheta: 10000, TieEmbeddings: h.Shared, BOS: 1, EOS: []int{2}, DType: "float32",
	}
}
