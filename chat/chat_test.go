package chat

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// builtinFor maps a template file in testdata to the built-in that must
// render the same strings.
var builtinFor = map[string]string{
	"llama-2-chat.jinja":       Llama2,
	"decilm-7b-instruct.jinja": DeciLM7BInstruct,
}

// TestAgainstJinja2 compares FromJinja and the built-ins with
// testdata/expected.json, the strings Python's jinja2 renders in
// transformers' apply_chat_template environment (see testdata/reference.py).
func TestAgainstJinja2(t *testing.T) {
	var cases []struct {
		Template string    `json:"template"`
		Case     string    `json:"case"`
		Messages []Message `json:"messages"`
		Gen      bool      `json:"add_generation_prompt"`
		Want     *string   `json:"want"`
		Error    string    `json:"error"`
	}
	if err := json.Unmarshal([]byte(readTestdata(t, "expected.json")), &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Fatalf("expected.json has only %d cases", len(cases))
	}
	for _, c := range cases {
		j, err := FromJinja(readTestdata(t, c.Template), Llama2Tokens)
		if err != nil {
			t.Fatalf("%s: %v", c.Template, err)
		}
		b, err := Lookup(builtinFor[c.Template])
		if err != nil {
			t.Fatal(err)
		}
		for _, tmpl := range []Template{j, b} {
			if tmpl == j && c.Want == nil && strings.Contains(c.Error, "no element 0") {
				// Known library difference (see FromJinja): messages[0] of an
				// empty list is undefined, not an error, in ardanlabs/jinja.
				continue
			}
			got, err := tmpl.Render(c.Messages, c.Gen)
			name := c.Template + "/" + c.Case + "/" + tmpl.Name()
			switch {
			case c.Want == nil && err == nil:
				t.Errorf("%s (gen=%v): rendered %q, want error %q", name, c.Gen, got, c.Error)
			case c.Want != nil && err != nil:
				t.Errorf("%s (gen=%v): %v", name, c.Gen, err)
			case c.Want != nil && got != *c.Want:
				t.Errorf("%s (gen=%v):\n got %q\nwant %q", name, c.Gen, got, *c.Want)
			case c.Want == nil && strings.Contains(c.Error, "alternate") && !strings.Contains(err.Error(), "Conversation roles must alternate"):
				t.Errorf("%s (gen=%v): error %v, want the template's message %q", name, c.Gen, err, c.Error)
			}
		}
	}
}

// Expected strings written by reading the templates (and, for "tgi", the
// string transformers' apply_chat_template returns for
// meta-llama/Llama-2-13b-chat-hf, quoted in text-generation-inference's
// router/src/infer/chat_template.rs tests).
func TestBuiltins(t *testing.T) {
	sys := Message{Role: RoleSystem, Content: "You are a helpful assistant."}
	u1 := Message{Role: RoleUser, Content: "What is the capital of France?"}
	a1 := Message{Role: RoleAssistant, Content: "  Paris.  "}
	u2 := Message{Role: RoleUser, Content: "And of Italy?"}
	tests := []struct {
		name     string
		template string
		msgs     []Message
		gen      bool
		want     string
		wantErr  string
	}{
		{"tgi reference", Llama2, []Message{
			{Role: RoleSystem, Content: "You are a helpful assistant"}, {Role: RoleUser, Content: "Hello"}, {Role: RoleAssistant, Content: "Hi there"},
			{Role: RoleUser, Content: "Who are you"}, {Role: RoleAssistant, Content: "   I am an assistant   "}, {Role: RoleUser, Content: "Another question"}}, true,
			"<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST] I am an assistant </s><s>[INST] Another question [/INST]", ""},
		{"llama-2 system+user", Llama2, []Message{sys, u1}, true,
			"<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nWhat is the capital of France? [/INST]", ""},
		{"llama-2 user only", Llama2, []Message{u1}, false,
			"<s>[INST] What is the capital of France? [/INST]", ""},
		{"llama-2 multi-turn", Llama2, []Message{sys, u1, a1, u2}, false,
			"<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nWhat is the capital of France? [/INST] Paris. </s><s>[INST] And of Italy? [/INST]", ""},
		{"llama-2 python whitespace", Llama2, []Message{{Role: RoleUser, Content: "\x1c\u3000hi\u00a0\x1f"}}, false,
			"<s>[INST] hi [/INST]", ""},
		{"llama-2 not alternating", Llama2, []Message{u1, u2}, true, "", "Conversation roles must alternate"},
		{"llama-2 empty", Llama2, nil, true, "", "no messages"},
		{"decilm-7b system+user", DeciLM7BInstruct, []Message{sys, u1}, true,
			"### System:\nYou are a helpful assistant.\n### User:\nWhat is the capital of France?\n### Assistant:\n", ""},
		{"decilm-7b no generation prompt", DeciLM7BInstruct, []Message{sys, u1}, false,
			"### System:\nYou are a helpful assistant.\n### User:\nWhat is the capital of France?\n", ""},
		{"decilm-7b multi-turn", DeciLM7BInstruct, []Message{u1, a1, u2}, true,
			"### User:\nWhat is the capital of France?\n### Assistant:\n  Paris.  \n### User:\nAnd of Italy?\n### Assistant:\n", ""},
		{"decilm-7b empty", DeciLM7BInstruct, nil, true, "", ""},
		{"decilm-6b demo prompt", DeciLM6BInstruct, []Message{u1}, true,
			"Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n\nWhat is the capital of France?\n\n### Response:\n", ""},
		{"decilm-6b system replaces preamble", DeciLM6BInstruct, []Message{sys, u1}, true,
			"You are a helpful assistant.\n\n### Instruction:\n\nWhat is the capital of France?\n\n### Response:\n", ""},
		{"decilm-6b empty system drops preamble", DeciLM6BInstruct, []Message{{Role: RoleSystem, Content: ""}, u1}, true,
			"### Instruction:\n\nWhat is the capital of France?\n\n### Response:\n", ""},
		{"decilm-6b multi-turn", DeciLM6BInstruct, []Message{u1, a1, u2}, true,
			"Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n" +
				"### Instruction:\n\nWhat is the capital of France?\n\n### Response:\n  Paris.  \n\n" +
				"### Instruction:\n\nAnd of Italy?\n\n### Response:\n", ""},
		{"decilm-6b no generation prompt", DeciLM6BInstruct, []Message{u1}, false,
			"Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n\nWhat is the capital of France?\n\n", ""},
		{"decilm-6b late system", DeciLM6BInstruct, []Message{u1, sys}, true, "", "system message must come first"},
		{"plain one", Plain, []Message{u1}, true, "What is the capital of France?", ""},
		{"plain many", Plain, []Message{sys, u1}, false, "You are a helpful assistant.\nWhat is the capital of France?", ""},
		{"plain none", Plain, nil, true, "", ""},
		{"bad role", Plain, []Message{{Role: "tool", Content: "x"}}, true, "", `message 0 has role "tool"`},
		{"bad role 7b", DeciLM7BInstruct, []Message{u1, {Role: "", Content: "x"}}, true, "", `message 1 has role ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Lookup(tt.template)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(tt.msgs, tt.gen)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render: %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Render:\n got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	if got := strings.Join(Names(), ","); got != "decilm-6b-instruct,decilm-7b-instruct,llama-2,plain" {
		t.Fatalf("Names() = %s", got)
	}
	for in, want := range map[string]string{
		"llama-2": Llama2, "Llama2": Llama2, " llama-2-chat ": Llama2, "DeciLM-7B-instruct": DeciLM7BInstruct,
		"decilm-6b": DeciLM6BInstruct, "plain": Plain, "raw": Plain,
	} {
		tmpl, err := Lookup(in)
		if err != nil || tmpl.Name() != want {
			t.Errorf("Lookup(%q) = %v, %v; want %s", in, tmpl, err, want)
		}
	}
	if _, err := Lookup("chatml"); err == nil || !strings.Contains(err.Error(), "llama-2") {
		t.Fatalf("Lookup(chatml) error = %v, want one listing the built-ins", err)
	}
}

func TestFromJinja(t *testing.T) {
	tests := []struct {
		name, source string
		msgs         []Message
		gen          bool
		want         string
		wantErr      string
	}{
		{"special tokens", "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
			[]Message{{Role: RoleUser, Content: "a"}, {Role: RoleAssistant, Content: "b"}}, false, "<s>a</s>b</s>", ""},
		{"generation prompt", "{% if add_generation_prompt %}GO{% endif %}", nil, true, "GO", ""},
		{"lstrip and trim blocks", "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}",
			[]Message{{Role: RoleUser, Content: "x"}, {Role: RoleUser, Content: "y"}}, false, "[x]\n[y]\n", ""},
		{"explicit trim", "A  {%- if true -%}  B  {%- endif %}", nil, false, "AB", ""},
		{"loop variables", "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %},{% endfor %}",
			[]Message{{Role: RoleUser, Content: "a"}, {Role: RoleUser, Content: "b"}}, false, "01F,12L,", ""},
		{"strip and trim", "{{ messages[0].content.strip() }}|{{ messages[0].content | trim }}|{{ messages[1:] | length }}",
			[]Message{{Role: RoleUser, Content: "  x  "}, {Role: RoleUser, Content: "y"}}, false, "x|x|1", ""},
		{"raise_exception", "{{ raise_exception('Only user roles are supported!') }}", nil, false, "", "Only user roles are supported!"},
		{"syntax error", "{% if %}", nil, false, "", "chat: jinja"},
		{"unclosed tag", "{{ messages", nil, false, "", "unclosed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := FromJinja(tt.source, Llama2Tokens)
			var got string
			if err == nil {
				got, err = tmpl.Render(tt.msgs, tt.gen)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// tokenizerConfig builds a tokenizer_config.json around a chat_template value.
func tokenizerConfig(t testing.TB, chatTemplate any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"add_bos_token": true,
		"bos_token":     map[string]any{"__type": "AddedToken", "content": "<s>", "lstrip": false},
		"eos_token":     "</s>",
		"chat_template": chatTemplate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFromTokenizerConfig(t *testing.T) {
	llama := readTestdata(t, "llama-2-chat.jinja")
	msgs := []Message{{Role: RoleUser, Content: "hi"}, {Role: RoleAssistant, Content: "yo"}}
	const want = "<s>[INST] hi [/INST] yo </s>"
	tests := []struct {
		name    string
		data    []byte
		ok      bool
		wantErr string
	}{
		{"string", tokenizerConfig(t, llama), true, ""},
		{"list with default", tokenizerConfig(t, []map[string]string{{"name": "tool_use", "template": "T"}, {"name": "default", "template": llama}}), true, ""},
		{"list without default", tokenizerConfig(t, []map[string]string{{"name": "rag", "template": "x"}}), false, `no template named "default" among ["rag"]`},
		{"absent", []byte(`{"bos_token": "<s>"}`), false, ""},
		{"null", []byte(`{"chat_template": null}`), false, ""},
		{"empty template", tokenizerConfig(t, " "), false, "chat_template is empty"},
		{"number", []byte(`{"chat_template": 3}`), false, "want a string or a list"},
		{"bad list", []byte(`{"chat_template": [1]}`), false, "want a string or a list"},
		{"not JSON", []byte(`{"chat_template": `), false, "tokenizer_config.json"},
		{"bad bos", []byte(`{"bos_token": 1, "chat_template": "x"}`), false, "bos_token"},
		{"bos without content", []byte(`{"bos_token": {"lstrip": true}, "chat_template": "x"}`), false, "bos_token: object has no \"content\""},
		{"bad jinja", tokenizerConfig(t, "{% for %}"), false, "tokenizer_config.json chat_template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, ok, err := FromTokenizerConfig(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || ok != tt.ok {
				t.Fatalf("ok = %v, err = %v; want ok = %v", ok, err, tt.ok)
			}
			if !ok {
				return
			}
			if got, err := tmpl.Render(msgs, true); err != nil || got != want {
				t.Fatalf("Render = %q, %v; want %q", got, err, want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	cfg7b := tokenizerConfig(t, readTestdata(t, "decilm-7b-instruct.jinja"))
	noTemplate := []byte(`{"add_bos_token": true, "bos_token": "<s>"}`)
	msgs := []Message{{Role: RoleUser, Content: "hi"}}
	tests := []struct {
		name    string
		tmpl    string
		cfg     []byte
		hints   []string
		want    string // rendered with the generation prompt
		wantErr string
	}{
		{"explicit name wins", "llama-2", cfg7b, []string{"DeciLM-6b-instruct"}, "<s>[INST] hi [/INST]", ""},
		{"unknown name", "alpaca", cfg7b, nil, "", `unknown template "alpaca"`},
		{"checkpoint template", "", cfg7b, []string{"Llama-2-7b-chat-hf"}, "### User:\nhi\n### Assistant:\n", ""},
		{"auto is automatic", "auto", cfg7b, nil, "### User:\nhi\n### Assistant:\n", ""},
		{"DeciLM-6b-instruct has none: guessed", "", noTemplate, []string{"/models/Deci/DeciLM-6b-instruct"},
			DeciLM6BPreamble + "\n\n### Instruction:\n\nhi\n\n### Response:\n", ""},
		{"llama-2 chat guessed", "", nil, []string{"DeciLMForCausalLM", "llama_2_7b_chat.gguf"}, "<s>[INST] hi [/INST]", ""},
		{"base model is plain", "", noTemplate, []string{"Deci/DeciLM-6b"}, "hi", ""},
		{"no hints is plain", "", nil, nil, "hi", ""},
		{"bad config", "", []byte("{"), nil, "", "tokenizer_config.json"},
		{"bad config ignored with a name", "plain", []byte("{"), nil, "hi", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Select(tt.tmpl, tt.cfg, tt.hints...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, err := tmpl.Render(msgs, true); err != nil || got != tt.want {
				t.Fatalf("%s rendered %q, %v; want %q", tmpl.Name(), got, err, tt.want)
			}
		})
	}
}

func TestGuess(t *testing.T) {
	for in, want := range map[string]string{
		"Deci/DeciLM-6b-instruct":       DeciLM6BInstruct,
		"decilm_6b_instruct":            DeciLM6BInstruct,
		"DeciLM 7B Instruct":            DeciLM7BInstruct,
		"Deci/DeciLM-7B-instruct-GGUF":  DeciLM7BInstruct,
		"meta-llama/Llama-2-7b-chat-hf": Llama2,
		"llama2-13b-chat.Q4_0.gguf":     Llama2,
		"meta-llama/Llama-2-7b-hf":      Plain,
		"Deci/DeciLM-7B":                Plain,
		"":                              Plain,
	} {
		if got := Guess(in); got != want {
			t.Errorf("Guess(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzBuiltinsMatchJinja renders arbitrary conversations with the real
// Llama-2 and DeciLM-7B templates and with the built-ins: they must agree.
func FuzzBuiltinsMatchJinja(f *testing.F) {
	f.Add("You are nice.", "Hi!", "  Hello.  ", "Bye\n", uint8(0b1111), true)
	f.Add("", " x ", "", "\t", uint8(0b0110), false)
	f.Add("{{ '<s>' }}", "[INST]", "{% if %}", "é\u00a0", uint8(0b1010), true)
	llama, err := FromJinja(readTestdata(f, "llama-2-chat.jinja"), Llama2Tokens)
	if err != nil {
		f.Fatal(err)
	}
	deci, err := FromJinja(readTestdata(f, "decilm-7b-instruct.jinja"), Llama2Tokens)
	if err != nil {
		f.Fatal(err)
	}
	pairs := []struct{ j, b Template }{{llama, builtins[Llama2]}, {deci, builtins[DeciLM7BInstruct]}}
	f.Fuzz(func(t *testing.T, sys, u1, a1, u2 string, mask uint8, gen bool) {
		// Go's TrimSpace (used by the Jinja library's strip) differs from
		// Python's on U+001C..U+001F; the built-in follows Python.
		if strings.ContainsAny(sys+u1+a1+u2, "\x1c\x1d\x1e\x1f") {
			return
		}
		var msgs []Message
		for i, m := range []Message{{Role: RoleSystem, Content: sys}, {Role: RoleUser, Content: u1}, {Role: RoleAssistant, Content: a1}, {Role: RoleUser, Content: u2}} {
			if mask&(1<<i) != 0 {
				msgs = append(msgs, m)
			}
		}
		if len(msgs) == 0 {
			return // Python's jinja2 fails on messages[0]; the library does not (see FromJinja)
		}
		for _, p := range pairs {
			want, werr := p.j.Render(msgs, gen)
			got, gerr := p.b.Render(msgs, gen)
			if (werr != nil) != (gerr != nil) || got != want {
				t.Fatalf("%s: messages %q gen=%v:\njinja    %q, %v\nbuilt-in %q, %v", p.b.Name(), msgs, gen, want, werr, got, gerr)
			}
		}
	})
}

// FuzzFromTokenizerConfig feeds arbitrary bytes: no panics, and a template
// that loads must render or fail cleanly.
func FuzzFromTokenizerConfig(f *testing.F) {
	f.Add(tokenizerConfig(f, readTestdata(f, "llama-2-chat.jinja")))
	f.Add(tokenizerConfig(f, readTestdata(f, "decilm-7b-instruct.jinja")))
	f.Add(tokenizerConfig(f, []map[string]string{{"name": "default", "template": "{{ messages[0]['content'][1:3] }}"}}))
	f.Add([]byte(`{"chat_template": "{% for m in messages %}{{ m.role | upper }}{% endfor %}", "eos_token": {"content": "</s>"}}`))
	f.Add([]byte(`{"chat_template": null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tmpl, ok, err := FromTokenizerConfig(data)
		if err != nil || !ok {
			return
		}
		tmpl.Render([]Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "u"}, {Role: RoleAssistant, Content: "a"}}, true)
	})
}

// FuzzFromJinja compiles and renders arbitrary template sources: errors are
// fine, panics and hangs are not (the library's panics are turned into
// errors by FromJinja and Render).
func FuzzFromJinja(f *testing.F) {
	f.Add(readTestdata(f, "llama-2-chat.jinja"))
	f.Add(readTestdata(f, "decilm-7b-instruct.jinja"))
	f.Add("{% for m in messages %}{{ m['content'][::-1] | upper }}{% if loop.last %}{{ raise_exception('x') }}{% endif %}{% endfor %}")
	f.Add("{%- set ns = namespace(n=0) -%}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}")
	f.Fuzz(func(t *testing.T, source string) {
		tmpl, err := FromJinja(source, Llama2Tokens)
		if err != nil {
			return
		}
		tmpl.Render([]Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "u"}}, true)
	})
}

func TestReadSpecialTokens(t *testing.T) {
	tests := []struct {
		name, data string
		want       SpecialTokens
		wantErr    string
	}{
		{"strings", `{"bos_token": "<s>", "eos_token": "</s>"}`, Llama2Tokens, ""},
		{"AddedToken objects", `{"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": {"content": "</s>", "lstrip": false}}`, Llama2Tokens, ""},
		{"null and absent", `{"bos_token": null}`, SpecialTokens{}, ""},
		{"number", `{"eos_token": 2}`, SpecialTokens{}, "eos_token"},
		{"not JSON", `[`, SpecialTokens{}, "tokenizer_config.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSpecialTokens([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadSpecialTokens = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// Templates are safe for concurrent use (run with -race).
func TestConcurrentRender(t *testing.T) {
	j, ok, err := FromTokenizerConfig(tokenizerConfig(t, readTestdata(t, "llama-2-chat.jinja")))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	b, _ := Lookup(Llama2)
	msgs := []Message{{Role: RoleSystem, Content: "s"}, {Role: RoleUser, Content: "u"}, {Role: RoleAssistant, Content: "a"}, {Role: RoleUser, Content: "v"}}
	want, err := b.Render(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	for range 8 {
		go func() {
			got := ""
			for range 50 {
				g, err := j.Render(msgs, true)
				if err != nil || g != want {
					got = g + "|" + fmt.Sprint(err)
				}
			}
			done <- got
		}()
	}
	for range 8 {
		if bad := <-done; bad != "" {
			t.Fatalf("concurrent Render gave %q, want %q", bad, want)
		}
	}
}

// A tokenizer_config.json without chat_template (as tiny-decilm's and Mistral-7B's in the
// shared fixtures, whose check is TestSelectFixtureConfigs under the oracle tag): Select
// falls through to the hints.
func TestSelectConfigWithoutTemplate(t *testing.T) {
	data := []byte(`{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>",
		"unk_token": "<unk>", "pad_token": null, "legacy": true, "model_max_length": 2048,
		"tokenizer_class": "LlamaTokenizer",
		"added_tokens_decoder": {"1": {"content": "<s>", "special": true}, "2": {"content": "</s>", "special": true}}}`)
	if _, ok, err := FromTokenizerConfig(data); ok || err != nil {
		t.Fatalf("FromTokenizerConfig ok = %v, err = %v; want no template", ok, err)
	}
	for hint, want := range map[string]string{"tiny-decilm": Plain, "DeciLM-7B-instruct": DeciLM7BInstruct} {
		tmpl, err := Select("", data, hint)
		if err != nil || tmpl.Name() != want {
			t.Fatalf("Select with hint %q = %v, %v; want %s", hint, tmpl, err, want)
		}
	}
}
