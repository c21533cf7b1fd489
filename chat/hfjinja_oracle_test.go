//go:build oracle

package chat

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decilm/decilm/internal/testutil"
)

// runHFJinja renders the cases file with a template by @huggingface/jinja.
func runHFJinja(t *testing.T, templatePath, casesPath string) []renderResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node not found: %v", err)
	}
	dir := testutil.NPMDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@huggingface", "jinja", "package.json")); err != nil {
		t.Fatalf("@huggingface/jinja not installed in %s (npm install --prefix %s @huggingface/jinja@0.5.13, or set DECILM_HFJS): %v", dir, dir, err)
	}
	script, err := os.ReadFile(filepath.Join("testdata", "hfjinja", "render.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	scriptPath := filepath.Join(dir, "decilm-render.mjs") // beside node_modules, for the import
	if err := os.WriteFile(scriptPath, script, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.json")
	var stderr bytes.Buffer
	cmd := exec.Command(node, scriptPath, templatePath, casesPath, out)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("@huggingface/jinja: %v\n%s", err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res []renderResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func testdataPath(t *testing.T, name string) string {
	p, err := filepath.Abs(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLlama31HFJinja: the Llama-3.1 template renders every conversation of
// testdata/llama-3.1-cases.json byte for byte as @huggingface/jinja (the engine of
// transformers.js's apply_chat_template) does, errors included. The test fails, never skips,
// when node or the package is missing.
func TestLlama31HFJinja(t *testing.T) {
	want := runHFJinja(t, testdataPath(t, "llama-3.1-instruct.jinja"), testdataPath(t, "llama-3.1-cases.json"))
	// @huggingface/jinja 0.5.13 lacks the reject filter, which the builtin_tools branch
	// uses: there Python's jinja2 (the reference of TestLlama31Template) is the oracle.
	var py []renderResult
	if err := json.Unmarshal([]byte(readTestdata(t, "llama-3.1-expected.json")), &py); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if w.Output == nil && strings.Contains(w.Error, "filter: reject") && i < len(py) && py[i].Output != nil {
			t.Logf("%s: @huggingface/jinja has no reject filter (%s); compared with jinja2", w.Name, w.Error)
			want[i] = py[i]
		}
	}
	checkRenders(t, llama31Cases(t), want, "@huggingface/jinja")
}

// TestFixtureTemplateHFJinja: the chat_template of the Llama-3 fixture's
// tokenizer_config.json (Llama-3's, without tools), read by FromTokenizerConfig, renders the
// conversations without tools as @huggingface/jinja does.
func TestFixtureTemplateHFJinja(t *testing.T) {
	cfg, err := os.ReadFile(testutil.Fixture(t, "llama3-tokenizer", "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, ok, err := FromTokenizerConfig(cfg)
	if err != nil || !ok {
		t.Fatalf("FromTokenizerConfig: ok %v, %v", ok, err)
	}
	var c struct {
		ChatTemplate string `json:"chat_template"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "llama3.jinja")
	var cases []llama31Case
	for _, k := range llama31Cases(t) {
		if k.Tools == nil && k.Vars == nil {
			cases = append(cases, k)
		}
	}
	casesJSON, _ := json.Marshal(cases)
	casesPath := filepath.Join(tmp, "cases.json")
	if err := os.WriteFile(src, []byte(c.ChatTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(casesPath, casesJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	want := runHFJinja(t, src, casesPath)
	for i, k := range cases {
		got, err := Render(tmpl, k.Messages, Options{AddGenerationPrompt: k.AddGenerationPrompt})
		switch {
		case want[i].Output == nil:
			if err == nil {
				t.Errorf("%s: no error; @huggingface/jinja fails with %q", k.Name, want[i].Error)
			}
		case err != nil || got != *want[i].Output:
			t.Errorf("%s: got %q, %v\n@huggingface/jinja renders %q", k.Name, got, err, *want[i].Output)
		}
	}
	t.Logf("%d conversations agree", len(cases))
}
