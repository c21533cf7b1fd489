package main

import (
	"context"
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
