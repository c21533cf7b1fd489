//go:build oracle

package tokenizer

import (
	"testing"
	"time"
)

// BenchmarkEncodeTinyStories encodes the whole TinyStories validation text as one string,
// single goroutine. The word cache is cleared each time, so every iteration does the work a
// first call does.
func BenchmarkEncodeTinyStories(b *testing.B) {
	tok := llama(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	c0 := cpuTime()
	for b.Loop() {
		tok.resetCache()
		tok.Encode(text, EncodeOptions{AddBOS: true})
	}
	reportCPU(b, c0, len(text))
}

// reportCPU adds the throughput per second of process CPU time (all threads, GC included),
// which a loaded machine distorts less than the wall clock.
func reportCPU(b *testing.B, c0 time.Duration, n int) {
	if d := cpuTime() - c0; d > 0 {
		b.ReportMetric(float64(n)*float64(b.N)/1e6/d.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkEncodeTinyStoriesWarm is the same with the word cache kept between iterations.
func BenchmarkEncodeTinyStoriesWarm(b *testing.B) {
	tok := llama(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	b.SetBytes(int64(len(text)))
	c0 := cpuTime()
	for b.Loop() {
		tok.Encode(text, EncodeOptions{AddBOS: true})
	}
	reportCPU(b, c0, len(text))
}

func BenchmarkDecodeTinyStories(b *testing.B) {
	tok := llama(b)
	text := string(readFile(b, "corpus", "tinystories_val.txt"))
	ids := tok.Encode(text, EncodeOptions{})
	b.SetBytes(int64(len(text)))
	c0 := cpuTime()
	for b.Loop() {
		if _, err := tok.Decode(ids); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, c0, len(text))
}

// TestEncodeNearLinear: 1 MB inputs that defeat word splitting (no spaces, one long run of
// one character) encode with work linear in their length: the merge agenda (a heap, so
// O(log n) each) handles at most a few entries per byte, and 4 times the input takes at most
// about 4 times the entries. A wall-clock bound catches anything else that blows up.
func TestEncodeNearLinear(t *testing.T) {
	testEncodeNearLinear(t, llama(t))
}
