package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

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

// testEncodeNearLinear is TestEncodeNearLinear for tok.
func testEncodeNearLinear(t *testing.T, tok *Tokenizer) {
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

// TestEncodeNearLinearTok512 is TestEncodeNearLinear (an oracle test, on the Llama-2
// vocabulary) on the embedded tok512 vocabulary.
func TestEncodeNearLinearTok512(t *testing.T) {
	testEncodeNearLinear(t, tok512(t))
}
