package chat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchRender renders a conversation of 2n+2 messages (with one tool when tools) through the
// template in testdata/file: the cost of the sandbox on real templates.
func benchRender(b *testing.B, file string, n int, tools bool) {
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := FromJinja(string(src), Llama2Tokens)
	if err != nil {
		b.Fatal(err)
	}
	msgs := []Message{{Role: RoleSystem, Content: "You are helpful."}}
	for i := 0; i < n; i++ {
		msgs = append(msgs, Message{Role: RoleUser, Content: fmt.Sprintf("question %d about the weather in Paris, and more words to make it longer", i)},
			Message{Role: RoleAssistant, Content: fmt.Sprintf("answer %d: it is sunny, with a few more words of text", i)})
	}
	msgs = append(msgs, Message{Role: RoleUser, Content: "last"})
	o := Options{AddGenerationPrompt: true}
	if tools {
		o.Tools = []json.RawMessage{json.RawMessage(`{"type":"function","function":{"name":"get_weather","description":"Get the weather","parameters":{"type":"object","properties":{"city":{"type":"string","description":"the city"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}`)}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Render(tmpl, msgs, o); err != nil {
			b.Fatal(err)
		}
	}
}

// Benchmarks of whole renders.
func BenchmarkRenderLlama31Tools100(b *testing.B) {
	benchRender(b, "llama-3.1-instruct.jinja", 50, true)
}
func BenchmarkRenderLlama31x2000(b *testing.B) {
	benchRender(b, "llama-3.1-instruct.jinja", 1000, false)
}
func BenchmarkRenderDeciLM7Bx2000(b *testing.B) {
	benchRender(b, "decilm-7b-instruct.jinja", 1000, false)
}
