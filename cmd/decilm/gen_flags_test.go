package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/sample"
)

// TestGenFlagsHelp: the generation flags' defaults are the sampler's llama.cpp defaults
// and the ones README's options table states, and --template's help names every
// built-in template and the Jinja-file form the loader accepts.
func TestGenFlagsHelp(t *testing.T) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addGenFlags(fs)
	d := sample.DefaultOptions()
	for name, want := range map[string]float64{"temperature": float64(d.Temperature), "top-k": float64(d.TopK),
		"top-p": float64(d.TopP), "min-p": float64(d.MinP), "repeat-penalty": float64(d.RepeatPenalty),
		"repeat-last-n": float64(d.RepeatLastN), "frequency-penalty": 0, "presence-penalty": 0, "n": -1, "seed": -1} {
		got, err := strconv.ParseFloat(fs.Lookup(name).DefValue, 32)
		if err != nil || float32(got) != float32(want) {
			t.Errorf("--%s defaults to %s, the sampler's default is %g", name, fs.Lookup(name).DefValue, want)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var row string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `run`/`chat` sampling |") {
			row = line
		}
	}
	pairs := regexp.MustCompile(`--([a-z-]+) (-?[0-9.]+)`).FindAllStringSubmatch(row, -1)
	if len(pairs) < 7 {
		t.Fatalf("README's sampling row %q names %d flags", row, len(pairs))
	}
	for _, p := range pairs {
		f := fs.Lookup(p[1])
		if f == nil {
			t.Errorf("README names --%s, which run and chat do not have", p[1])
			continue
		}
		a, _ := strconv.ParseFloat(f.DefValue, 64)
		b, _ := strconv.ParseFloat(p[2], 64)
		if a != b {
			t.Errorf("README says --%s %s, the flag defaults to %s", p[1], p[2], f.DefValue)
		}
	}
	help := fs.Lookup("template").Usage
	for _, want := range append(chat.Names(), ".jinja", `"auto"`) {
		if !strings.Contains(help, want) {
			t.Errorf("--template's help %q does not mention %s", help, want)
		}
	}
	// Each form the help names loads.
	jinja := filepath.Join(t.TempDir(), "t.jinja")
	if err := os.WriteFile(jinja, []byte("{% for m in messages %}[{{ m.content }}]{% endfor %}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ template, want string }{{"auto", "template plain"}, {"", "template plain"}, {"llama-2", "template llama-2"}, {jinja, "template jinja"}} {
		_, errs, code := run(t, "", "run", "--template", tc.template, "-n", "0", "--verbose", "hi")
		if code != 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("--template %q: exit %d: %s", tc.template, code, errs)
		}
	}
	if _, errs, code := run(t, "", "run", "--template", "nosuch", "-n", "0", "hi"); code == 0 || !strings.Contains(errs, "nosuch") {
		t.Errorf("--template nosuch: exit %d: %s", code, errs)
	}
}
