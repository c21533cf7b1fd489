//go:build oracle

package server

import (
	"context"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil"
)

// TestServeSpecFixtures: the server's greedy answers to 16 concurrent requests, twice,
// are the same with prompt lookup and with a Q4_0 copy of the model as without, on
// stories260K.bin, tiny-decilm and tiny-nemotron.
func TestServeSpecFixtures(t *testing.T) {
	for _, f := range []struct {
		path       string
		lookupHits bool // the greedy output repeats the prompt
	}{
		{testutil.Fixture(t, "stories260K", "stories260K.bin"), true},
		{testutil.Fixture(t, "tiny-decilm"), true},
		{testutil.Fixture(t, "tiny-nemotron"), false},
	} {
		path := f.path
		t.Run(path, func(t *testing.T) {
			ctx := context.Background()
			m, err := decilm.Load(ctx, path, decilm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			q4, err := decilm.LoadDraft(ctx, m, "self:q4_0", decilm.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q4.Close() })
			testServeSpec(t, m, f.lookupHits, map[string]*decilm.Draft{
				"ngram":     {NGram: true},
				"self:q4_0": {Model: q4, Max: 4},
			})
		})
	}
}
