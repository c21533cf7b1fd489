package tokenizer

import (
	"math/rand/v2"
	"strings"
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

// hardInputs are 1 MB inputs that defeat word splitting and caching.
func hardInputs(n int) map[string]string {
	r := rand.New(rand.NewPCG(1, 2))
	letters := make([]byte, n)
	for i := range letters {
		letters[i] = "abcdefghijklmnopqrstuvwxyz"[r.IntN(26)]
	}
	cjk := make([]rune, n/3)
	for i := range cjk {
		cjk[i] = rune(0x4e00 + r.IntN(0x5000))
	}
	return map[string]string{
		"one letter":  strings.Repeat("a", n),
		"spaces":      strings.Repeat(" ", n),
		"no spaces":   string(letters),
		"cjk":         string(cjk),
		"emoji bytes": strings.Repeat("🦙", n/4),
		"words":       strings.Repeat("the quick brown fox ", n/20),
	}
}

// TestEncodeNearLinear: 1 MB inputs that defeat word splitting (no spaces, one long run of
// one character) encode with work linear in their length: the merge agenda (a heap, so
// O(log n) each) handles at most a few entries per byte, and 4 times the input takes at most
// about 4 times the entries. A wall-clock bound catches anything else that blows up.
func TestEncodeNearLinear(t *testing.T) {
	tok := llama(t)
	small, large := hardInputs(1<<18), hardInputs(1<<20)
	work := func(s string) (int, time.Duration) {
		tok.resetCache()
		start := time.Now()
		norm := tok.normalize(s, true)
		sc := new(bpeScratch)
		tok.bpe(sc, norm) // the whole input as one word, as SentencePiece does
		return sc.pops, time.Since(start)
	}
	for name := range large {
		ws, _ := work(small[name])
		wl, dl := work(large[name])
		t.Logf("%-12s agenda pops: 256 KiB %d, 1 MiB %d (%.2f per byte), %v", name, ws, wl, float64(wl)/float64(len(large[name])), dl)
		if float64(wl) > 4.2*float64(ws)+100 {
			t.Errorf("%s: 4x the input took %.2fx the work", name, float64(wl)/float64(ws))
		}
		if wl > 4*len(large[name]) {
			t.Errorf("%s: %d agenda entries for %d bytes", name, wl, len(large[name]))
		}
		if dl > 20*time.Second {
			t.Errorf("%s: 1 MiB took %v", name, dl)
		}
	}
	// And through the public API, with a generous bound.
	start := time.Now()
	tok.Encode(large["no spaces"], EncodeOptions{})
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Encode of 1 MiB without spaces took %v", d)
	}
}
