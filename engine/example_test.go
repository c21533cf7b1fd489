package engine_test

import (
	"context"
	"fmt"
	"log"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/engine"
)

// Example runs two requests at once on the embedded stories260K model and prints the
// greedy one's text as it streams.
func Example() {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	e, err := engine.New(m, engine.Options{Parallel: 4})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()

	greedy, err := e.Submit(ctx, engine.Request{Prompt: m.Encode("Once upon a time", nil), MaxTokens: 30})
	if err != nil {
		log.Fatal(err)
	}
	other, err := e.Submit(ctx, engine.Request{Prompt: m.Encode("Tom and Lily", nil), MaxTokens: 30})
	if err != nil {
		log.Fatal(err)
	}
	for ev := range greedy {
		fmt.Print(ev.Text)
		if ev.Done {
			fmt.Printf("\n[%s after %d tokens]\n", ev.FinishReason, ev.CompletionTokens)
		}
	}
	for range other {
	}
	// Output:
	// , there was a little girl named Lily. She loved to play outside in the park. One day,
	// [length after 30 tokens]
}
