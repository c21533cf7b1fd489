package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/lora"
	"github.com/decilm/decilm/lora/loratest"
	"github.com/decilm/decilm/model"
)

// TestRunLoRA: `run --lora PATH:SCALE` (twice) generates what the library gives with the
// same adapters set on the model, which differs from the base model's; bad values are
// errors naming the flag.
func TestRunLoRA(t *testing.T) {
	dir := testmodel.Synth(t, "tiny", 1234)
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.Net.Config
	d1 := loratest.Random(t, cfg, 1, []string{"q_proj", "down_proj"}, 4, 8)
	d2 := loratest.Random(t, cfg, 2, []string{"v_proj"}, 2, 2)
	a1, err := lora.Load(d1, cfg, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := lora.Load(d2, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	prompt := []int{1, 450, 4996}
	gen := func() string {
		res, err := m.GenerateTokens(context.Background(), prompt, decilm.GenerateOptions{MaxTokens: 8, IgnoreEOS: true})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Trim(fmt.Sprint(res.Tokens), "[]")
	}
	base := gen()
	if err := m.Net.SetAdapter(a1); err != nil {
		t.Fatal(err)
	}
	one := gen()
	a12, err := model.CombineAdapters("both", a1, a2)
	if err != nil {
		t.Fatal(err)
	}
	m.Net.SetAdapter(a12)
	both := gen()
	if one == base || both == one {
		t.Fatalf("the adapters change nothing: %s / %s / %s", base, one, both)
	}
	args := []string{"run", "-m", dir, "--tokens", "1,450,4996", "--ids", "-n", "8", "--ignore-eos", "--temp", "0"}
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{nil, base},
		{[]string{"--lora", d1 + ":0.5"}, one},
		{[]string{"--lora", d1 + ":0.5", "--lora", d2}, both},
	} {
		out, errOut, code := run(t, "", append(append([]string(nil), args...), tc.extra...)...)
		if code != 0 || strings.TrimSpace(out) != tc.want {
			t.Errorf("%v: exit %d, %q (stderr %s), want %q", tc.extra, code, out, errOut, tc.want)
		}
	}
	for _, tc := range []struct{ value, want string }{
		{"/nonexistent/adapter", "/nonexistent/adapter"},
		{d1 + ":inf", "not a finite number"},
		{dir, "adapter_config.json"},
	} {
		_, errOut, code := run(t, "", append(append([]string(nil), args...), "--lora", tc.value)...)
		if code == 0 || !strings.Contains(errOut, "--lora") || !strings.Contains(errOut, tc.want) {
			t.Errorf("--lora %s: exit %d, stderr %q, want an error with %q", tc.value, code, errOut, tc.want)
		}
	}
}

// TestInfoLoRA: `info --lora` describes an adapter and says whether it fits the model.
func TestInfoLoRA(t *testing.T) {
	dir := testmodel.Synth(t, "tiny", 1)
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ad := loratest.Random(t, m.Net.Config, 1, []string{"q_proj", "down_proj"}, 4, 8)
	m.Close()
	out, errs, code := run(t, "", "info", "-m", dir, "--lora", ad+":0.5")
	for _, want := range []string{"(peft, 8 updates", "4 (×8) / 1 (×8)", "q_proj, down_proj", "fits the model:    yes"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("info --lora: exit %d, missing %q in\n%s%s", code, want, out, errs)
		}
	}
	nem := testmodel.Synth(t, "tiny-nemotron", 1)
	out, _, code = run(t, "", "info", "-m", nem, "--lora", ad)
	if code == 0 || !strings.Contains(out, "fits the model:    no") {
		t.Errorf("info --lora on another model: exit %d\n%s", code, out)
	}
}

// TestServeLoRAFlags: `serve --lora PATH` applies an adapter to the base model and
// `--lora NAME=PATH` serves one under NAME on top of it: a request for NAME answers as a
// server whose base model has both adapters.
func TestServeLoRAFlags(t *testing.T) {
	dir := testmodel.Synth(t, "tiny", 1234)
	m, err := decilm.Load(context.Background(), dir, decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1 := loratest.Random(t, m.Net.Config, 1, []string{"q_proj", "down_proj"}, 4, 8)
	d2 := loratest.Random(t, m.Net.Config, 2, []string{"v_proj", "up_proj"}, 2, 4)
	m.Close()
	complete := func(url, model string) string {
		t.Helper()
		resp, err := serveRequest(t, "POST", url+"/v1/completions", "", fmt.Sprintf(`{"model":%q,"prompt":[1,450,4996],"max_tokens":10,"temperature":0,"ignore_eos":true}`, model))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct {
			Model   string
			Choices []struct{ Text string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 || len(c.Choices) != 1 {
			t.Fatalf("%s %q: %d %v", url, model, resp.StatusCode, err)
		}
		if model != "" && c.Model != model {
			t.Errorf("asked for %q, answered as %q", model, c.Model)
		}
		return c.Choices[0].Text
	}
	url, stop, _, _ := startServe(t, "-m", dir, "--alias", "base", "--lora", d2, "--lora", "one="+d1+":0.5")
	base, one := complete(url, "base"), complete(url, "one")
	stop()
	url, stop, _, _ = startServe(t, "-m", dir, "--lora", d2)
	if got := complete(url, ""); got != base {
		t.Errorf("base model with --lora d2: %q, the named server's base %q", got, base)
	}
	stop()
	url, stop, _, _ = startServe(t, "-m", dir, "--lora", d2, "--lora", d1+":0.5")
	if got := complete(url, ""); got != one {
		t.Errorf("both adapters on the base: %q, the named adapter %q", got, one)
	}
	stop()
	url, stop, _, _ = startServe(t, "-m", dir)
	if plain := complete(url, ""); plain == base || plain == one {
		t.Errorf("the adapters change nothing: %q", plain)
	}
	stop()
	_, errs, code := run(t, "", "serve", "--port", "0", "-m", dir, "--lora", "x="+d1+":nan")
	if code == 0 || !strings.Contains(errs, "--lora") {
		t.Errorf("bad --lora: exit %d, %s", code, errs)
	}
}
