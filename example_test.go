package decilm_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/decilm/decilm"
	"github.com/decilm/decilm/sample"
)

// Greedy generation with the embedded stories260K model (no download), streamed.
func ExampleModel_Generate() {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{}) // "" = the embedded model
	if err != nil {
		panic(err)
	}
	defer m.Close()
	var sb strings.Builder
	res, err := m.Generate(ctx, "Once upon a time", decilm.GenerateOptions{
		MaxTokens: 12,
		Sampling:  sample.Options{Temperature: 0}, // greedy
		OnText:    func(s string) error { sb.WriteString(s); return nil },
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(sb.String())
	fmt.Println(len(res.Tokens), res.FinishReason)
	// Output:
	// , there was a little girl named Lily. She
	// 12 length
}

// Sampling with top-p and a seed is reproducible: the same seed gives the same text.
func ExampleModel_Generate_sampling() {
	ctx := context.Background()
	m, err := decilm.Load(ctx, "", decilm.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	opts := decilm.GenerateOptions{MaxTokens: 30, Sampling: sample.Options{Temperature: 1, TopP: 0.95, Seed: 7}}
	a, _ := m.Generate(ctx, "Once upon a time", opts)
	b, _ := m.Generate(ctx, "Once upon a time", opts)
	fmt.Println(a.Text == b.Text)
	// Output: true
}
