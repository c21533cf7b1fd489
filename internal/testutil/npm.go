package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// NPMDir is the folder the npm oracles are installed in: $DECILM_HFJS, else
// <user cache dir>/decilm-hfjs, where .ci/run puts them (npm install --prefix DIR
// @huggingface/tokenizers@0.2.0 tiktoken@1.0.22 @huggingface/jinja@0.5.13 openai@7.60.0).
func NPMDir(t testing.TB) string {
	if d := os.Getenv("DECILM_HFJS"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "decilm-hfjs")
}
