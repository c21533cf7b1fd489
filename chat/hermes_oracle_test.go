//go:build oracle

package chat

import "testing"

// TestHermesHFJinja: the Qwen2.5 (Hermes-style) template renders the conversations of
// testdata/hermes-cases.json byte for byte as @huggingface/jinja does.
func TestHermesHFJinja(t *testing.T) {
	checkHermes(t, runHFJinja(t, testdataPath(t, "qwen2.5-instruct.jinja"), testdataPath(t, "hermes-cases.json")), "@huggingface/jinja")
}
