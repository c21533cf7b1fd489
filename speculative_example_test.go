package decilm_test

import (
	"context"
	"fmt"

	"github.com/decilm/decilm"
)

// Speculative decoding with a Q4_0 copy of the model as the draft: greedy output is what
// plain greedy decoding gives, and the result counts the drafted and accepted tokens.
func ExampleDraft() {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	draft, err := decilm.LoadDraft(ctx, m, "self:q4_0", decilm.Options{})
	if err != nil {
		panic(err)
	}
	defer draft.Close()
	plain, err := m.Generate(ctx, "Once upon a time", decilm.GenerateOptions{MaxTokens: 40})
	if err != nil {
		panic(err)
	}
	spec, err := m.Generate(ctx, "Once upon a time", decilm.GenerateOptions{MaxTokens: 40,
		Draft: &decilm.Draft{Model: draft, NGram: true, Max: 6}})
	if err != nil {
		panic(err)
	}
	fmt.Println(spec.Text == plain.Text)
	fmt.Println(spec.Accepted > 0 && spec.Accepted <= spec.Drafted)
	// Output:
	// true
	// true
}
