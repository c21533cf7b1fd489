// Package defaultmodel embeds the model decilm runs when no -m is given: stories260K, a
// 260K-parameter Llama trained on TinyStories by Andrej Karpathy (MIT licence, see
// stories260K/LICENSE), converted from llama2.c's stories260K.bin and tok512.bin to the
// Hugging Face layout with "decilm convert". It makes every command work offline on a
// fresh machine.
package defaultmodel

import "embed"

// FS holds the directory "stories260K" with config.json, model.safetensors (float32) and
// tokenizer.bin (the llama2.c 512-piece vocabulary).
//
//go:embed stories260K
var FS embed.FS

// Dir is the directory within FS that holds the model.
const Dir = "stories260K"

// Name is the model's display name.
const Name = "stories260K"
