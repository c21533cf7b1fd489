//go:build oracle

package sample

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

func TestEOSTokenIDsRealConfigs(t *testing.T) {
	models := filepath.Join(filepath.Dir(testutil.Fixtures(t)), "models")
	for _, path := range []string{
		filepath.Join(models, "DeciLM-6b-instruct", "config.json"),
		filepath.Join(models, "DeciLM-7B-instruct", "config.json"),
		testutil.Fixture(t, "tiny-decilm", "config.json"),
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := EOSTokenIDs(data, nil)
		if err != nil || !slices.Equal(ids, []int{2}) { // "eos_token_id": 2 in each file
			t.Errorf("%s: EOSTokenIDs = %v, %v; want [2]", path, ids, err)
		}
	}
}
