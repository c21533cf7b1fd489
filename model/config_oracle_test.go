//go:build oracle

package model

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

func realConfig(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(testutil.Fixtures(t)), "models", dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealConfigs(t *testing.T) {
	c6, err := ParseConfig("6b", realConfig(t, "DeciLM-6b-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	// Figures from shared/design.md.
	if c6.Params() != 5717102592 || c6.KVBytesPerToken(2) != 25600 || c6.Arch != "deci" ||
		c6.RopeTheta != 10000 || c6.RopeScaling.Type != "dynamic" || c6.RopeScaling.Factor != 2 || c6.ContextLength() != 8192 {
		t.Errorf("DeciLM-6B config: %+v (params %d, kv bytes %d)", c6, c6.Params(), c6.KVBytesPerToken(2))
	}
	c7, err := ParseConfig("7b", realConfig(t, "DeciLM-7B-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	if c7.Params() != 7043551232 || c7.KVBytesPerToken(2) != 34304 {
		t.Errorf("DeciLM-7B: params %d, kv bytes %d", c7.Params(), c7.KVBytesPerToken(2))
	}
}

// TestDynamicNTK checks the rotary base against Hugging Face's formula for DeciLM-6B.
func TestDynamicNTK(t *testing.T) {
	c, err := ParseConfig("6b", realConfig(t, "DeciLM-6b-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	if c.RopeBase(4096) != 10000 || c.RopeBase(100) != 10000 {
		t.Fatal("within max_position_embeddings the base must be plain")
	}
	// base = 10000 * ((2*6000/4096) - 1) ^ (128/126)
	want := 10000 * math.Pow(2*6000.0/4096-1, 128.0/126)
	if got := c.RopeBase(6000); math.Abs(got-want) > 1e-9*want {
		t.Fatalf("RopeBase(6000) = %g, want %g", got, want)
	}
}
