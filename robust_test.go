package decilm

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/decilm/decilm/chat"
	"github.com/decilm/decilm/defaultmodel"
)

// TestHugePromptRefusedBeforeTokenizing: a prompt far longer than the context is refused
// from its byte count, without tokenizing it (which allocated about 70 times its size).
func TestHugePromptRefusedBeforeTokenizing(t *testing.T) {
	m, err := Load(context.Background(), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	prompt := strings.Repeat("Once upon a time ", 4<<20/17) // 4 MiB
	m.maxPromptBytes()                                      // the one-time scan of the vocabulary
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Generate", func() error {
			_, err := m.Generate(context.Background(), prompt, GenerateOptions{MaxTokens: 1})
			return err
		}},
		{"Chat", func() error {
			_, err := m.Chat(context.Background(), []chat.Message{{Role: "user", Content: prompt}}, GenerateOptions{MaxTokens: 1})
			return err
		}},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		err := tc.call()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrContextLength) || !strings.Contains(err.Error(), "bytes") {
			t.Fatalf("%s: err = %v, want ErrContextLength naming the byte count", tc.name, err)
		}
		t.Logf("%s: %d bytes allocated for a %d-byte prompt: %v", tc.name, after.TotalAlloc-before.TotalAlloc, len(prompt), err)
		// Chat renders the template once (a copy of the prompt); nothing is tokenized.
		if d := after.TotalAlloc - before.TotalAlloc; d > 3*uint64(len(prompt)) {
			t.Errorf("%s allocated %d bytes for a %d-byte prompt", tc.name, d, len(prompt))
		}
	}
	// A prompt that fits still runs.
	if _, err := m.Generate(context.Background(), "Once upon a time", GenerateOptions{MaxTokens: 2}); err != nil {
		t.Fatal(err)
	}
}

// TestTruncatedLlama2CVocab: a tok512.bin cut at a token boundary used to load as a
// 7-token vocabulary when given with --tokenizer (or found as tokenizer.bin in a folder);
// the model's vocab size is the count, so it is an error naming the file.
func TestTruncatedLlama2CVocab(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"config.json", "model.safetensors", "tokenizer.bin"} {
		b, err := fs.ReadFile(defaultmodel.FS, defaultmodel.Dir+"/"+n)
		if err != nil {
			t.Fatal(err)
		}
		if n == "tokenizer.bin" {
			off := 4 // max_token_length, then per token a score, a length and the bytes
			for i := 0; i < 7; i++ {
				off += 8 + int(binary.LittleEndian.Uint32(b[off+4:]))
			}
			b = b[:off]
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok := filepath.Join(dir, "tokenizer.bin")
	for _, o := range []Options{{}, {Tokenizer: tok}} {
		m, err := Load(context.Background(), dir, o)
		if err == nil {
			m.Close()
			t.Fatalf("Options%+v: a 7-token vocabulary for a 512-token model was accepted", o)
		}
		if !strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "7 of the model's 512 tokens") {
			t.Fatalf("Options%+v: error %q should name %s and the counts", o, err, tok)
		}
	}
}
