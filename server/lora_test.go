package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/decilm/decilm/lora/loratest"
)

// TestLoRAServing: two adapters served by name and the base model, requested together,
// give the greedy text each gives alone; /v1/models lists them; the runtime routes load
// and unload adapters; /metrics has vLLM's lora gauge.
func TestLoRAServing(t *testing.T) {
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1234), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := m.Net.Config
	d1 := loratest.Random(t, cfg, 1, []string{"q_proj", "v_proj", "down_proj"}, 4, 8)
	d2 := loratest.Random(t, cfg, 2, []string{"k_proj", "o_proj", "up_proj"}, 2, 4)
	f := newFixtureOn(t, m, engine.Options{Parallel: 6}, Options{ModelName: "base"})
	f.srv.ConfigureLoRA(LoRAOptions{Max: 2, Runtime: true})
	if err := f.srv.LoadLoRA(f.e, "one", d1); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.LoadLoRA(f.e, "two", d2+":0.5"); err != nil {
		t.Fatal(err)
	}

	r := get(t, f.ts.URL+"/v1/models", "")
	var list struct {
		Data []struct{ ID, Root, Parent string }
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || len(list.Data) != 3 ||
		list.Data[0].ID != "base" || list.Data[1].ID != "one" || list.Data[2].ID != "two" || list.Data[1].Parent != "base" || list.Data[1].Root != d1 {
		t.Fatalf("/v1/models: %d %s", r.status, r.body)
	}
	if r := get(t, f.ts.URL+"/v1/models/two", ""); r.status != 200 || !strings.Contains(r.body, `"parent":"base"`) {
		t.Errorf("/v1/models/two: %d %s", r.status, r.body)
	}

	complete := func(model string) (string, string) {
		r := postJSON(t, f.ts.URL+"/v1/completions", "", fmt.Sprintf(`{"model":%q,"prompt":"Once upon a time","max_tokens":12,"temperature":0,"ignore_eos":true}`, model))
		if r.status != 200 {
			t.Fatalf("%s: %d %s", model, r.status, r.body)
		}
		var c struct {
			Model   string
			Choices []struct{ Text string }
		}
		if err := json.Unmarshal([]byte(r.body), &c); err != nil {
			t.Fatal(err)
		}
		return c.Model, c.Choices[0].Text
	}
	names := []string{"base", "one", "two", ""}
	alone := map[string]string{}
	for _, n := range names {
		mn, text := complete(n)
		if want := map[bool]string{true: "base", false: n}[n == ""]; mn != want {
			t.Errorf("model %q answered as %q", n, mn)
		}
		alone[n] = text
	}
	if alone["one"] == alone["base"] || alone["two"] == alone["base"] || alone[""] != alone["base"] {
		t.Fatalf("adapters change nothing, or the empty model is not the base: %q", alone)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for rep := 0; rep < 2; rep++ {
		for _, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, text := complete(n)
				mu.Lock()
				defer mu.Unlock()
				if text != alone[n] {
					t.Errorf("model %q together: %q, alone %q", n, text, alone[n])
				}
			}()
		}
	}
	wg.Wait()

	if r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"model":"three","prompt":"x"}`); r.status != 404 || !strings.Contains(r.body, "one, two") {
		t.Errorf("unknown model: %d %s", r.status, r.body)
	}
	// Runtime updates: the limit, a duplicate, unload, load again.
	for _, tc := range []struct {
		route, body string
		status      int
		want        string
	}{
		{"load_lora_adapter", fmt.Sprintf(`{"lora_name":"three","lora_path":%q}`, d1), 400, "unload one first"},
		{"load_lora_adapter", `{"lora_name":"three"}`, 400, "must be provided"},
		{"unload_lora_adapter", `{"lora_name":"nope"}`, 404, "cannot be found"},
		{"unload_lora_adapter", `{"lora_name":"one"}`, 200, "removed"},
		{"load_lora_adapter", fmt.Sprintf(`{"lora_name":"two","lora_path":%q}`, d1), 400, "already been loaded"},
		{"load_lora_adapter", `{"lora_name":"bad","lora_path":"/nonexistent"}`, 400, "nonexistent"},
		{"load_lora_adapter", fmt.Sprintf(`{"lora_name":"three","lora_path":%q}`, d1), 200, "added"},
	} {
		if r := postJSON(t, f.ts.URL+"/v1/"+tc.route, "", tc.body); r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.route, tc.body, r.status, r.body, tc.status, tc.want)
		}
	}
	if _, text := complete("three"); text != alone["one"] {
		t.Errorf("adapter loaded at run time: %q, want %q", text, alone["one"])
	}
	if r := postJSON(t, f.ts.URL+"/v1/completions", "", `{"model":"one","prompt":"x"}`); r.status != 404 {
		t.Errorf("unloaded adapter: %d %s", r.status, r.body)
	}
	if r := get(t, f.ts.URL+"/metrics", ""); !strings.Contains(r.body, `vllm:lora_requests_info{max_lora="2",running_lora_adapters="",waiting_lora_adapters=""}`) {
		t.Errorf("metrics lack vllm:lora_requests_info:\n%s", r.body)
	}
	// Off by default.
	f.srv.ConfigureLoRA(LoRAOptions{})
	if r := postJSON(t, f.ts.URL+"/v1/unload_lora_adapter", "", `{"lora_name":"two"}`); r.status != 404 || !strings.Contains(r.body, "--lora-runtime-updates") {
		t.Errorf("runtime updates off: %d %s", r.status, r.body)
	}
}
