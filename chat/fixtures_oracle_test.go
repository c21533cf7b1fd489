//go:build oracle

package chat

import (
	"os"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// The shared fixtures' tokenizer_config.json files (tiny-decilm's and
// Mistral-7B's) have no chat_template: Select must fall through to hints.
func TestSelectFixtureConfigs(t *testing.T) {
	for _, dir := range []string{"tiny-decilm", "mistral-tokenizer"} {
		data, err := os.ReadFile(testutil.Fixture(t, dir, "tokenizer_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, err := FromTokenizerConfig(data); ok || err != nil {
			t.Fatalf("%s: FromTokenizerConfig ok = %v, err = %v; want no template", dir, ok, err)
		}
		for hint, want := range map[string]string{dir: Plain, "DeciLM-7B-instruct": DeciLM7BInstruct} {
			tmpl, err := Select("", data, hint)
			if err != nil || tmpl.Name() != want {
				t.Fatalf("%s: Select with hint %q = %v, %v; want %s", dir, hint, tmpl, err, want)
			}
		}
	}
}
