package chat_test

import (
	"fmt"
	"log"

	"github.com/decilm/decilm/chat"
)

func ExampleSelect() {
	// DeciLM-6b-instruct ships no chat_template: the directory name picks
	// the built-in instruct format.
	tokenizerConfig := []byte(`{"add_bos_token": true, "bos_token": "<s>", "eos_token": "</s>"}`)
	tmpl, err := chat.Select("", tokenizerConfig, "models/Deci/DeciLM-6b-instruct")
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render([]chat.Message{{Role: chat.RoleUser, Content: "Name a prime number."}}, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tmpl.Name())
	fmt.Printf("%q\n", prompt)
	// Output:
	// decilm-6b-instruct
	// "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n\nName a prime number.\n\n### Response:\n"
}

func ExampleFromTokenizerConfig() {
	cfg := []byte(`{
	  "bos_token": "<s>", "eos_token": "</s>",
	  "chat_template": "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '### User:\\n' + message['content'] }}\n{% elif message['role'] == 'system' %}\n{{ '### System:\\n' + message['content'] }}\n{% elif message['role'] == 'assistant' %}\n{{ '### Assistant:\\n' + message['content'] }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '### Assistant:' }}\n{% endif %}\n{% endfor %}"
	}`)
	tmpl, ok, err := chat.FromTokenizerConfig(cfg)
	if err != nil || !ok {
		log.Fatal(ok, err)
	}
	prompt, err := tmpl.Render([]chat.Message{
		{Role: chat.RoleSystem, Content: "You are terse."},
		{Role: chat.RoleUser, Content: "Hi"},
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", prompt)
	// Output:
	// "### System:\nYou are terse.\n### User:\nHi\n### Assistant:\n"
}

func ExampleLookup() {
	tmpl, err := chat.Lookup("llama-2")
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render([]chat.Message{
		{Role: chat.RoleSystem, Content: "Be brief."},
		{Role: chat.RoleUser, Content: "Hello"},
		{Role: chat.RoleAssistant, Content: "Hi."},
		{Role: chat.RoleUser, Content: "Bye"},
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", prompt)
	// Output:
	// "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi. </s><s>[INST] Bye [/INST]"
}
