package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
	"github.com/decilm/decilm/server"
)

// Example serves the embedded model and asks it for a greedy chat completion.
func Example() {
	m, err := decilm.Load(context.Background(), "", decilm.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	srv := server.New(server.Options{APIKey: "secret"})
	e, err := engine.New(m, engine.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	srv.SetEngine(e) // /health turns ready
	ts := httptest.NewServer(srv)
	defer ts.Close()

	body := `{"model": "stories260K", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 12, "temperature": 0}`
	req, _ := http.NewRequest("POST", ts.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer secret")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Choices []struct {
			Message      struct{ Content string }
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d %q %s, %d+%d tokens\n", resp.StatusCode, out.Choices[0].Message.Content, out.Choices[0].FinishReason,
		out.Usage.PromptTokens, out.Usage.CompletionTokens)
	// Output:
	// 200 ", there was a little girl named Lily. She" length, 5+12 tokens
}
