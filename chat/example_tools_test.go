package chat_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/decilm/decilm/chat"
)

// Tools and further variables reach a Jinja template through chat.Render; tojson keeps the
// tool's keys in order, as transformers' does.
func ExampleRender() {
	t, err := chat.FromJinja(`{{ date_string }}
{% for tool in tools %}{{ tool | tojson }}
{% endfor %}{% for m in messages %}{{ m.role }}: {{ m.content }}
{% endfor %}`, chat.SpecialTokens{})
	if err != nil {
		panic(err)
	}
	weather := json.RawMessage(`{"type": "function", "function": {"name": "get_weather", "parameters": {"city": "string"}}}`)
	out, err := chat.Render(t, []chat.Message{{Role: chat.RoleUser, Content: "Weather in Paris?"}}, chat.Options{
		Tools: []json.RawMessage{weather},
		Vars:  map[string]any{"date_string": "07 Dec 2026"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Print(out)
	// Output:
	// 07 Dec 2026
	// {"type": "function", "function": {"name": "get_weather", "parameters": {"city": "string"}}}
	// user: Weather in Paris?
}

// A template from a downloaded file that would loop for ever fails with an error that
// wraps chat.ErrLimit.
func ExampleErrLimit() {
	t, err := chat.FromJinja(`{% for i in range(100000000) %}{{ i }}{% endfor %}`, chat.SpecialTokens{})
	if err != nil {
		panic(err)
	}
	_, err = chat.Render(t, nil, chat.Options{})
	fmt.Println(errors.Is(err, chat.ErrLimit))
	fmt.Println(err)
	// Output:
	// true
	// chat: jinja: chat template exceeded a sandbox limit: range of 100000000 items exceeds 100000
}
