package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/internal/testutil/testmodel"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestSoakSchemas runs 48 concurrent clients × 3 greedy chat requests against the tiny
// synth model, a third of them asking for a JSON schema (two different schemas, so that
// sequences under different grammars and under none share steps): every reply equals the
// same request's reply alone, and every schema reply that finished validates.
func TestSoakSchemas(t *testing.T) {
	m, err := decilm.Load(context.Background(), testmodel.Synth(t, "tiny", 1234), decilm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f := newFixtureOn(t, m, engine.Options{Parallel: 48, QueueSize: 256}, Options{})
	small := `{"type":"object","properties":{"ok":{"type":"boolean"},"n":{"type":"integer"},"w":{"enum":["a","bc"]}},"required":["ok","n","w"]}`
	schemas := []string{testSchema, small}
	compiled := make([]*jsonschema.Schema, len(schemas))
	for i, s := range schemas {
		compiled[i] = compileSchema(t, s)
	}
	prompts := []string{"Hello", "The quick brown fox", "Once upon a time there was", "1 2 3 4 5 6 7 8",
		"A long prompt about the weather, the sea, the mountains and the rivers of the north", "Why", "def main():", "Dear Sir,"}
	// Request k: prompt k%8; every third asks for schema (k/3)%2.
	const kinds = 24
	body := func(k int) string {
		b := fmt.Sprintf(`{"messages":[{"role":"user","content":%q}],"temperature":0,"max_tokens":48`, prompts[k%len(prompts)])
		if k%3 == 0 {
			b += fmt.Sprintf(`,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":%s}}`, schemas[(k/3)%2])
		}
		return b + "}"
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Minute}
	ask := func(k int) (text, finish string, err error) {
		resp, err := client.Post(f.ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(body(k)))
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		var out struct {
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
			Error *struct{ Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return "", "", err
		}
		if out.Error != nil || len(out.Choices) != 1 {
			return "", "", fmt.Errorf("request %d: status %d, %+v", k, resp.StatusCode, out.Error)
		}
		return out.Choices[0].Message.Content, out.Choices[0].FinishReason, nil
	}
	want := make([]string, kinds)
	valid := 0
	for k := range want {
		text, finish, err := ask(k)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = text
		if k%3 == 0 && finish == "stop" {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
			if err == nil {
				err = compiled[(k/3)%2].Validate(inst)
			}
			if err != nil {
				t.Errorf("request %d: %q fails its schema: %v", k, text, err)
			}
			valid++
		}
	}
	if valid == 0 {
		t.Error("no schema reply finished")
	}
	const clients, perClient = 48, 3
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < perClient; r++ {
				k := (c*perClient + r) % kinds
				text, _, err := ask(k)
				if err == nil && text != want[k] {
					err = fmt.Errorf("client %d request %d (kind %d): %q, alone %q", c, r, k, text, want[k])
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d requests (a third with schemas) in %s; %d schema replies alone finished and validated", clients*perClient,
		time.Since(start).Round(time.Millisecond), valid)
	if len(errs) > 0 {
		t.Errorf("%d of %d requests failed or differ from alone; first: %v", len(errs), clients*perClient, errs[:min(len(errs), 3)])
	}
}
