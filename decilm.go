// Package decilm runs DeciLM and Llama-2 family language models on the CPU, in pure Go.
//
// Load opens a checkpoint (a Hugging Face directory with safetensors or PyTorch weights, a
// GGUF file, a llama2.c file, or the embedded stories260K model when the path is empty);
// Generate completes a prompt and Chat answers a conversation, streaming text as it is
// produced and honouring context cancellation between tokens:
//
//	m, err := decilm.Load(ctx, "path/to/DeciLM-6b-instruct")
//	...
//	res, err := m.Generate(ctx, "How do I make french toast?", decilm.GenerateOptions{
//		MaxTokens: 100,
//		Sampling:  sample.Options{Temperature: 1, TopP: 0.95, Seed: 1},
//		OnText:    func(s string) error { fmt.Print(s); return nil },
//	})
//
// The packages below this one do the work: model (the transformer and its KV cache),
// tokenizer, sample, chat (prompt templates) and checkpoint (file formats).
package decilm

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/checkpoint"
	"github.com/decilm/decilm/checkpoint/gguf"
	"github.com/decilm/decilm/defaultmodel"
	"github.com/decilm/decilm/model"
	"github.com/decilm/decilm/sample"
	"github.com/decilm/decilm/tokenizer"
)

// Model is a loaded language model with its tokenizer and chat template. Its methods may
// be called from several goroutines; they run one at a time.
type Model struct {
	// Name is the model's display name (its directory or file name).
	Name string
	// Path is where it was loaded from ("" for the embedded model).
	Path      string
	Net       *model.Model
	Tokenizer *tokenizer.Tokenizer
	// Template formats conversations for Chat.
	Template chat.Template
	// EOS lists the token ids that end generation.
	EOS []int
	// Defaults are generation settings from the checkpoint's generation_config.json.
	Defaults GenerationConfig
}

// GenerationConfig holds the settings a checkpoint's generation_config.json may give.
type GenerationConfig struct {
	Temperature *float32 `json:"temperature"`
	TopP        *float32 `json:"top_p"`
	TopK        *int     `json:"top_k"`
	MaxNewTok   *int     `json:"max_new_tokens"`
	DoSample    *bool    `json:"do_sample"`
}

// Options tune Load.
type Options struct {
	// Threads is the number of worker threads (0: every CPU the process may use).
	Threads int
	// Template names a built-in chat template that overrides the checkpoint's own
	// ("" or "auto" keeps the checkpoint's; see chat.Select).
	Template string
	// Tokenizer is a tokenizer file or directory to use instead of the one found beside
	// the checkpoint.
	Tokenizer string
	// NoPack leaves the weight matrices in the file's mapping instead of copying them
	// into the layout the kernels read fastest (model.Options.NoPack): for tools that
	// read the weights once, such as quantize.
	NoPack bool
}

// Load opens the model at path: a checkpoint directory or file (see checkpoint.Open), or
// the embedded stories260K model when path is "". The tokenizer is read from the same
// directory (or GGUF metadata); ctx is checked before the expensive steps.
func Load(ctx context.Context, path string, opts Options) (*Model, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if path == "" {
		return loadEmbedded(opts)
	}
	ck, err := checkpoint.Open(path)
	if err != nil {
		return nil, err
	}
	net, err := model.FromCheckpoint(ck, model.Options{Threads: opts.Threads, NoPack: opts.NoPack})
	if err != nil {
		ck.Close()
		return nil, err
	}
	m := &Model{Name: filepath.Base(strings.TrimRight(path, "/")), Path: path, Net: net}
	fail := func(err error) (*Model, error) {
		net.Close()
		return nil, err
	}
	switch {
	case opts.Tokenizer != "":
		m.Tokenizer, err = loadTokenizer(opts.Tokenizer, net.Config.Vocab)
	case ck.GGUF != nil:
		m.Tokenizer, err = tokenizer.FromGGUF(ck.GGUF)
	case ck.Llama2C != nil:
		m.Tokenizer, err = llama2cTokenizer(ck.Dir, net.Config.Vocab)
	default:
		m.Tokenizer, err = loadTokenizer(tokenizerPath(ck.Dir, path), net.Config.Vocab)
	}
	if err != nil {
		return fail(err) // the tokenizer's errors name it and the file
	}
	if m.Tokenizer.VocabSize() > net.Config.Vocab {
		return fail(fmt.Errorf("tokenizer has %d pieces but the model only %d embeddings", m.Tokenizer.VocabSize(), net.Config.Vocab))
	}
	tcfg, _ := os.ReadFile(filepath.Join(ck.Dir, "tokenizer_config.json"))
	if ck.GGUF != nil && tcfg == nil {
		tcfg = ggufChatConfig(ck.GGUF, m.Tokenizer)
	}
	hints := []string{path, m.Name}
	if ck.GGUF != nil {
		if n, err := ck.GGUF.String("general.name"); err == nil {
			hints = append(hints, n)
		}
	}
	if m.Template, err = selectTemplate(opts.Template, tcfg, hints...); err != nil {
		return fail(err)
	}
	m.EOS = eosIDs(net.Config, m.Tokenizer)
	if b, err := os.ReadFile(filepath.Join(ck.Dir, "generation_config.json")); err == nil && ck.GGUF == nil {
		gp := filepath.Join(ck.Dir, "generation_config.json")
		if err := json.Unmarshal(b, &m.Defaults); err != nil {
			return fail(fmt.Errorf("%s: %w", gp, err))
		}
		ids, err := sample.EOSTokenIDs(ck.Config, b)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", gp, err))
		}
		if len(ids) > 0 {
			m.EOS = addIDs(ids, m.EOS...)
		}
	}
	return m, nil
}

// llama2cTokenizer finds the vocabulary of a llama2.c checkpoint beside it: tokenizer.bin,
// or tok<vocab>.bin as llama2.c names its custom vocabularies (tok512.bin).
func llama2cTokenizer(dir string, vocab int) (*tokenizer.Tokenizer, error) {
	for _, n := range []string{"tokenizer.bin", fmt.Sprintf("tok%d.bin", vocab)} {
		p := filepath.Join(dir, n)
		if b, err := os.ReadFile(p); err == nil {
			t, err := tokenizer.LoadLlama2C(b, vocab)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("%s: no tokenizer.bin or tok%d.bin beside the llama2.c checkpoint (pass --tokenizer)", dir, vocab)
}

// loadTokenizer reads the tokenizer at path (a file or folder, see tokenizer.Load). A
// llama2.c tokenizer.bin does not store its token count: as in llama2.c, the model's vocab
// is the count, so that a file cut short at a token boundary is an error, not a smaller
// vocabulary.
func loadTokenizer(path string, vocab int) (*tokenizer.Tokenizer, error) {
	p := llama2cVocabFile(path)
	if p == "" {
		return tokenizer.Load(path)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	t, err := tokenizer.LoadLlama2C(b, vocab)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return t, nil
}

// llama2cVocabFile returns the llama2.c tokenizer.bin that tokenizer.Load reads at path, or
// "" when it reads another kind.
func llama2cVocabFile(path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return ""
	}
	if st.IsDir() {
		for _, n := range []string{"tokenizer.model", "tokenizer.json"} {
			if _, err := os.Stat(filepath.Join(path, n)); err == nil {
				return ""
			}
		}
		path = filepath.Join(path, "tokenizer.bin")
	}
	if strings.ToLower(filepath.Ext(path)) != ".bin" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var magic [4]byte
	if n, _ := f.Read(magic[:]); n == 4 && string(magic[:]) == "GGUF" {
		return ""
	}
	return path
}

// selectTemplate picks the chat template: name may also be the path of a Jinja file.
func selectTemplate(name string, tokenizerConfig []byte, hints ...string) (chat.Template, error) {
	if strings.HasSuffix(name, ".jinja") || strings.ContainsRune(name, os.PathSeparator) {
		src, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		special := chat.Llama2Tokens
		if tokenizerConfig != nil {
			if special, err = chat.ReadSpecialTokens(tokenizerConfig); err != nil {
				return nil, err
			}
		}
		t, err := chat.FromJinja(string(src), special)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return t, nil
	}
	return chat.Select(name, tokenizerConfig, hints...)
}

// ggufChatConfig returns a GGUF file's tokenizer.chat_template (llama.cpp's converter copies
// the checkpoint's there) as the tokenizer_config.json that holds it would, with the
// vocabulary's BOS and EOS pieces; nil when the file has none.
func ggufChatConfig(f *gguf.File, t *tokenizer.Tokenizer) []byte {
	src, err := f.String("tokenizer.chat_template")
	if err != nil || strings.TrimSpace(src) == "" {
		return nil
	}
	cfg := map[string]any{"chat_template": src}
	if b := t.BOS(); b >= 0 {
		cfg["bos_token"] = t.Piece(b)
	}
	if e := t.EOS(); e >= 0 {
		cfg["eos_token"] = t.Piece(e)
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil
	}
	return data
}

// tokenizerPath is the directory (or file) the tokenizer is read from.
func tokenizerPath(dir, path string) string {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return path
	}
	return dir
}

// eosIDs are the ids that end generation: every eos_token_id of config.json (a list for
// Llama-3), the tokenizer's EOS and its end-of-turn tokens (Llama-3's <|eot_id|>,
// <|eom_id|>, <|end_of_text|>: see tokenizer.StopIDs). Load adds generation_config.json's.
func eosIDs(c *model.Config, t *tokenizer.Tokenizer) []int {
	ids := addIDs(nil, c.EOS...)
	if e := t.EOS(); e >= 0 {
		ids = addIDs(ids, e)
	}
	return addIDs(ids, t.StopIDs()...)
}

// addIDs appends to ids those of more it does not hold yet.
func addIDs(ids []int, more ...int) []int {
	ids = slices.Clip(ids)
	for _, x := range more {
		if !slices.Contains(ids, x) {
			ids = append(ids, x)
		}
	}
	return ids
}

func loadEmbedded(opts Options) (*Model, error) {
	ck, err := checkpoint.OpenFS(defaultmodel.FS, defaultmodel.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	net, err := model.FromCheckpoint(ck, model.Options{Threads: opts.Threads, NoPack: opts.NoPack})
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	tb, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/tokenizer.bin")
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	tok, err := tokenizer.LoadLlama2C(tb, net.Config.Vocab)
	if err != nil {
		return nil, fmt.Errorf("embedded model: %w", err)
	}
	tpl, err := selectTemplate(opts.Template, nil, defaultmodel.Name)
	if err != nil {
		return nil, err
	}
	m := &Model{Name: defaultmodel.Name, Net: net, Tokenizer: tok, Template: tpl}
	m.EOS = eosIDs(net.Config, tok)
	return m, nil
}

// Close releases the model's files.
func (m *Model) Close() error { return m.Net.Close() }
