package sample_test

import (
	"fmt"
	"log"

	"github.com/decilm/decilm/sample"
)

func ExampleSampler() {
	o := sample.DefaultOptions()
	o.Temperature = 0 // greedy: deterministic, no randomness used
	s, err := sample.New(o)
	if err != nil {
		log.Fatal(err)
	}
	logits := []float32{0.1, 2.5, -1, 2.5} // tie: the lower id wins
	id, err := s.Sample(logits, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id)
	// Output: 1
}

func ExampleSampler_seeded() {
	run := func() []int {
		o := sample.DefaultOptions()
		o.Seed = 42
		s, err := sample.New(o)
		if err != nil {
			log.Fatal(err)
		}
		logits := []float32{1, 2, 3, 2, 1}
		var got []int
		for range 5 {
			id, _ := s.Sample(logits, got)
			got = append(got, id)
		}
		return got
	}
	a, b := run(), run()
	fmt.Println(fmt.Sprint(a) == fmt.Sprint(b))
	// Output: true
}

func ExampleStopMatcher() {
	m := sample.NewStopMatcher("\n### User:")
	for _, chunk := range []string{"Paris is the", " capital.\n##", "# User: and"} {
		text, stop := m.Push(chunk)
		fmt.Printf("%q\n", text)
		if stop {
			break
		}
	}
	fmt.Printf("%q\n", m.Flush())
	// Output:
	// "Paris is the"
	// " capital."
	// ""
	// ""
}

func ExampleTopLogprobs() {
	for _, t := range sample.TopLogprobs([]float32{0, 1.0986123, 0}, 2) { // ln 3
		fmt.Printf("%d %.4f\n", t.Token, t.Logprob)
	}
	// Output:
	// 1 -0.5108
	// 0 -1.6094
}
